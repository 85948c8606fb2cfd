"""State written by calbridge before mappings had two equal ends (tests/fixtures/legacy)
keeps working: tables left in place are upgraded when the app starts, and a backup of
them restores into this version; either way nothing is synced twice, lost, or forgotten
(the held deletion and the open conflict are still there)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from azure.data.tables import TableServiceClient

from calbridge.cli import backup_file
from calbridge.host.azurite import Azurite
from calbridge.store import TABLES
from emulators.graph import GraphEmulator
from examples.booking_system import BookingSystemServer
from tests.fixtures.booking import BookingApi
from tests.fixtures.host import E2E_BOOKING_KEY, ROOT, Api, HostProcess, host_env
from tests.fixtures.two_bridges import outlook_settings

LEGACY = Path(__file__).resolve().parents[1] / "fixtures" / "legacy"
ROOM_A = "room-a@rooms.example.org"
# The clientState the legacy subscription was opened with, stored plain before schema 3.
LEGACY_CLIENT_STATE = "dIjdL6XPcQuzRa6EjyMh4n7bQQW_gD51Jz2ZRryz2tQ"


@dataclass
class Upgraded:
    api: Api
    bookings: BookingApi
    env: dict[str, str]


def _write_tables_as_they_were(env: dict[str, str]) -> None:
    """Every row of the backup straight into the tables, as the old version left them."""
    service = TableServiceClient.from_connection_string(env["AzureWebJobsStorage"])
    lines = (LEGACY / "backup.jsonl").read_bytes().splitlines()
    header = backup_file.read_header(lines[0], TABLES)
    assert header["schema"] == 1
    for table, entity in backup_file.read_entities(lines[1:], header["tables"]):
        client = service.create_table_if_not_exists(env["CALBRIDGE_TABLE_PREFIX"] + table)
        client.upsert_entity(entity)


@pytest.fixture(params=["tables left in place", "backup restored"])
def upgraded(request: pytest.FixtureRequest, azurite: Azurite,
             tmp_path: Path) -> Iterator[Upgraded]:
    shutil.copy(LEGACY / "booking.db", tmp_path / "booking.db")
    shutil.copy(LEGACY / "graph-events.json", tmp_path / "graph-events.json")
    booking = BookingSystemServer(port=0, db_path=str(tmp_path / "booking.db"),
                                  api_key=E2E_BOOKING_KEY)
    booking.start()
    graph = GraphEmulator(port=0, cert_dir=tmp_path / "certs",
                          state_file=tmp_path / "graph-events.json")
    graph.start()
    env = host_env(azurite, booking, CALBRIDGE_BRIDGES="booking_system,outlook",
                   CALBRIDGE_TABLE_PREFIX="u" + uuid.uuid4().hex[:10],
                   # The fixture's events lie in March 2027, whenever this runs.
                   CALBRIDGE_SYNC_PAST_DAYS="3650", CALBRIDGE_SYNC_FUTURE_DAYS="3650",
                   **outlook_settings(graph))
    if request.param == "tables left in place":
        _write_tables_as_they_were(env)
    else:
        restored = subprocess.run(
            [sys.executable, "-m", "calbridge.cli", "restore", str(LEGACY / "backup.jsonl")],
            env=env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
        assert restored.returncode == 0, restored.stderr
        assert "upgraded the restored tables from schema 1 to 3" in restored.stderr
    host = HostProcess(env, tmp_path / "host.log").start()
    try:
        yield Upgraded(Api(host.url), BookingApi(booking.base_url, E2E_BOOKING_KEY), env)
    finally:
        host.stop()
        graph.stop()
        booking.stop()


def results(api: Api, method: str, path: str, **kwargs: object) -> dict:
    answer = api(method, path, **kwargs)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_state_from_before_two_equal_ends_keeps_working(upgraded: Upgraded) -> None:
    api = upgraded.api
    mappings = {m["booking_system_resource_id"]: m
                for m in results(api, "GET", "/mappings/resources")["mappings"]}
    assert set(mappings) == {"room_101", "room_102", "gym_1"}
    room = mappings["room_101"]
    assert (room["a"]["bridge"], room["a"]["calendar_id"]) == ("booking_system", "room_101")
    assert (room["b"]["bridge"], room["b"]["calendar_id"], room["b"]["name"]) == (
        "outlook", ROOM_A, "Conference Room A")
    assert mappings["gym_1"]["direction"] == "a_to_b"
    assert mappings["gym_1"]["sync_direction"] == "to_calendar"
    assert mappings["room_102"]["conflict_policy"] == "manual"
    found = results(api, "GET", "/mappings/resources/by-resource/room-b@rooms.example.org")
    assert [m["id"] for m in found["mappings"]] == [mappings["room_102"]["id"]]

    # What was waiting for an operator still waits.
    [conflict] = results(api, "GET", "/bridge/conflicts")["conflicts"]
    assert conflict["versions"]["a"]["title"] == "Choir (booking)"
    assert conflict["versions"]["b"]["title"] == "Choir (Outlook)"
    [hold] = results(api, "GET", "/bridge/holds")["holds"]
    assert (len(hold["link_ids"]), hold["source"]) == (10, "b")

    # Every link is found from both ends: nothing is copied again, nothing deleted.
    bookings_before = len(upgraded.bookings.list_all())
    for source, target in (("booking_system", "outlook"), ("outlook", "booking_system")):
        ran = results(api, "POST", f"/bridges/sync/{source}/{target}")["results"]
        assert (ran["created"], ran["deleted"], ran["errors"]) == (0, 0, 0), (
            ran["failed_mappings"])
    assert len(upgraded.bookings.list_all()) == bookings_before
    assert results(api, "GET", "/sync/stats")["statistics"]["summary"]["synced"] == 15

    # And the held deletion can still be confirmed: ten bookings are cancelled.
    confirmed = results(api, "POST", f"/bridge/holds/{hold['id']}/confirm")["results"]
    assert confirmed["deleted"] == 10

    # The subscription's clientState is now kept only as a keyed hash, and Graph's
    # notifications, which carry the old value, still verify.
    service = TableServiceClient.from_connection_string(upgraded.env["AzureWebJobsStorage"])
    [row] = service.get_table_client(
        upgraded.env["CALBRIDGE_TABLE_PREFIX"] + "BridgeSubscriptions").list_entities()
    assert LEGACY_CLIENT_STATE not in json.dumps(dict(row), default=str)
    notice = {"subscriptionId": row["id"], "clientState": LEGACY_CLIENT_STATE,
              "changeType": "updated", "resource": f"Users/{ROOM_A}/Events/AAMk-upgraded",
              "resourceData": {"id": "AAMk-upgraded"}}
    answer = api("POST", "/bridges/webhook/outlook", json={"value": [notice]})
    assert answer.status_code == 202 and answer.json()["accepted"] == 1, answer.text
    forged = api("POST", "/bridges/webhook/outlook", json={"value": [
        {**notice, "clientState": row["client_state_hash"]}]})
    assert forged.json()["accepted"] == 0
