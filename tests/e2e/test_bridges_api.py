"""Both real bridges behind the local host: the Graph emulator's rooms and the example
booking system's resources, with health and latency, as `make serve` wires them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from calbridge.host.azurite import Azurite
from emulators.graph import GraphEmulator
from examples.booking_system import BookingSystemServer
from tests.fixtures.host import Api, HostProcess, host_env
from tests.fixtures.two_bridges import outlook_settings


@pytest.fixture(scope="module")
def client(azurite: Azurite, e2e_booking_system: BookingSystemServer,
           graph_emulator: GraphEmulator, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[Api]:
    folder: Path = tmp_path_factory.mktemp("bridges-host")
    env = host_env(azurite, e2e_booking_system, CALBRIDGE_BRIDGES="booking_system,outlook",
                   CALBRIDGE_TABLE_PREFIX="b" + uuid.uuid4().hex[:10],
                   **outlook_settings(graph_emulator))
    host = HostProcess(env, folder / "host.log").start()
    yield Api(host.url)
    host.stop()


def test_lists_both_bridges_with_capabilities(client: Api) -> None:
    bridges = {b["name"]: b for b in client("GET", "/bridges").json()["bridges"]}
    assert set(bridges) == {"booking_system", "outlook"}
    assert bridges["outlook"]["type"] == "outlook"
    assert bridges["outlook"]["capabilities"]["delta"] is True
    assert bridges["outlook"]["capabilities"]["push"] is True


def test_outlook_calendars_are_the_emulator_rooms(client: Api, graph_emulator: GraphEmulator
                                                  ) -> None:
    answer = client("GET", "/bridges/outlook/calendars")
    assert answer.status_code == 200, answer.text
    rooms = answer.json()["calendars"]
    assert rooms and all(room["kind"] == "room" for room in rooms)
    assert "room-a@rooms.example.org" in {room["id"] for room in rooms}


def test_health_reports_both_with_latency(client: Api) -> None:
    report = client("GET", "/bridges/health").json()
    for name in ("booking_system", "outlook"):
        bridge = report["bridges"][name]
        assert bridge["status"] == "healthy", bridge
        assert bridge["latency_ms"] >= 0 and bridge["calendars_available"] >= 1
    assert report["status"] == "healthy"


def test_a_room_can_be_mapped(client: Api) -> None:
    created = client("POST", "/mappings/resources", json={
        "booking_system_resource_id": "room_101", "calendar_system": "outlook",
        "calendar_resource_id": "room-a@rooms.example.org",
        "calendar_resource_name": "Conference Room A", "active": True})
    assert created.status_code == 201, created.text


def test_outlook_refusing_credentials_shows_in_health(azurite: Azurite,
                                                      e2e_booking_system: BookingSystemServer,
                                                      graph_emulator: GraphEmulator,
                                                      tmp_path: Path) -> None:
    settings = {**outlook_settings(graph_emulator), "OUTLOOK_CLIENT_SECRET": "wrong-secret"}
    env = host_env(azurite, e2e_booking_system, CALBRIDGE_BRIDGES="booking_system,outlook",
                   **settings)
    host = HostProcess(env, tmp_path / "host.log").start()
    try:
        api = Api(host.url)
        report = api("GET", "/bridges/health").json()
        assert report["bridges"]["outlook"]["status"] == "unhealthy"
        assert report["bridges"]["booking_system"]["status"] == "healthy"
        assert report["status"] == "degraded"
        assert "wrong-secret" not in (tmp_path / "host.log").read_text()
        calendars = api("GET", "/bridges/outlook/calendars")
        assert calendars.status_code == 502
        assert calendars.json()["error"]["code"] == "upstream_auth_failed"
        assert "wrong-secret" not in calendars.text
    finally:
        host.stop()
