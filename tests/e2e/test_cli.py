"""The `calbridge` console script against a running local host and Azurite: status,
mappings, errors as exit codes, and backup → wipe → restore giving back every entity
of every table with its types."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from azure.data.tables import EdmType, EntityProperty, TableServiceClient

from calbridge import push_secrets
from calbridge.config import Settings
from calbridge.host.azurite import Azurite
from calbridge.host.processes import free_port
from calbridge.store import TABLES
from calbridge.store.clients import table_service
from examples.booking_system import BookingSystemServer
from tests.fixtures.booking import BookingApi
from tests.fixtures.host import E2E_BOOKING_KEY, FUNCTION_KEY, HostProcess, host_env

CALBRIDGE = Path(sys.executable).with_name("calbridge")
# A second booking system bridge stands in for a calendar system: mappings need one.
BRIDGES = "booking_system,rooms=booking_system"


class Cli:
    """Runs the installed `calbridge` script with one host's URL, key and storage."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env

    def __call__(self, *args: str, input: bytes | None = None,
                 **env: str) -> subprocess.CompletedProcess[str]:
        completed = subprocess.run([str(CALBRIDGE), *args], env={**self.env, **env},
                                   input=input.decode() if input is not None else None,
                                   capture_output=True, text=True, timeout=60, check=False)
        return completed


@pytest.fixture(scope="module")
def prefix() -> str:
    return "cli" + uuid.uuid4().hex[:10]


# What the tests map; the stand-in calendar system's calendars are booking resources, and
# mappings are only made between calendars that exist.
CALENDARS = ("room_cli", "cal-cli", "room_1", "cal-1", "room_2", "cal-2")


@pytest.fixture(scope="module")
def host(azurite: Azurite, e2e_booking_system: BookingSystemServer, prefix: str,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostProcess]:
    bookings = BookingApi(e2e_booking_system.base_url, E2E_BOOKING_KEY)
    for calendar in CALENDARS:
        made = bookings.request("POST", "/api/resources", json={"id": calendar,
                                                                "name": calendar})
        assert made.status_code in (201, 409), made.text
    bookings.close()
    folder = tmp_path_factory.mktemp("cli-host")
    env = host_env(azurite, e2e_booking_system, CALBRIDGE_TABLE_PREFIX=prefix,
                   CALBRIDGE_BRIDGES=BRIDGES)
    process = HostProcess(env, folder / "host.log").start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def cli(host: HostProcess) -> Cli:
    env = {**host.env, "CALBRIDGE_URL": host.url, "CALBRIDGE_FUNCTION_KEY": FUNCTION_KEY}
    return Cli(env)


@pytest.fixture(scope="module")
def settings(host: HostProcess) -> Settings:
    return Settings.from_env(host.env)


@pytest.fixture(scope="module")
def tables(settings: Settings) -> TableServiceClient:
    return table_service(settings)


# ---- status and mappings ----------------------------------------------------------------

def test_the_console_script_is_installed() -> None:
    assert CALBRIDGE.exists(), "run `make setup`: it installs the project in .venv"


def test_status_shows_bridges_storage_and_links(cli: Cli) -> None:
    done = cli("status")
    assert done.returncode == 0, done.stderr
    assert "calbridge at http://127.0.0.1:" in done.stdout and ": healthy" in done.stdout
    assert "BRIDGE" in done.stdout and "booking_system" in done.stdout
    assert "STORAGE" in done.stdout and "LINK STATUS" in done.stdout
    assert FUNCTION_KEY not in done.stdout + done.stderr


def test_status_json_is_raw_for_scripts(cli: Cli) -> None:
    done = cli("status", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["health"]["bridges"]["booking_system"]["status"] == "healthy"
    assert "summary" in report["stats"]


def test_status_exits_1_when_a_bridge_is_unhealthy(azurite: Azurite,
                                                    e2e_booking_system: BookingSystemServer,
                                                    prefix: str, tmp_path: Path) -> None:
    env = host_env(azurite, e2e_booking_system, CALBRIDGE_TABLE_PREFIX=prefix,
                   BOOKING_SYSTEM_API_KEY="refused-key")
    process = HostProcess(env, tmp_path / "host.log").start()
    try:
        done = Cli({**env, "CALBRIDGE_URL": process.url})("status", "--key", FUNCTION_KEY)
    finally:
        process.stop()
    assert done.returncode == 1, done.stdout + done.stderr
    assert ": degraded" in done.stdout and "unhealthy" in done.stdout


def test_mappings_add_list_remove(cli: Cli) -> None:
    added = cli("mappings", "add", "room_cli", "rooms", "cal-cli", "--name",
                "CLI Room", "--inactive", "--direction", "to_calendar",
                "--conflict-policy", "manual")
    assert added.returncode == 0, added.stderr
    mapping_id = added.stdout.split()[2].rstrip(":")

    listed = cli("mappings", "list")
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if line.startswith(mapping_id))
    assert row.split() == [mapping_id, "booking_system:room_cli", "rooms:cal-cli", "CLI",
                           "Room", "no", "a_to_b", "manual"]
    as_json = json.loads(cli("mappings", "list", "--json").stdout)
    assert mapping_id in {m["id"] for m in as_json}

    duplicate = cli("mappings", "add", "room_cli", "rooms", "cal-cli")
    assert duplicate.returncode == 1 and "HTTP 409" in duplicate.stderr

    removed = cli("mappings", "remove", mapping_id)
    assert removed.returncode == 0, removed.stderr
    assert mapping_id not in cli("mappings", "list").stdout
    again = cli("mappings", "remove", mapping_id)
    assert again.returncode == 1 and "not found" in again.stderr


def test_a_wrong_key_exits_1_with_the_apis_message(cli: Cli) -> None:
    done = cli("mappings", "list", CALBRIDGE_FUNCTION_KEY="wrong-key")
    assert done.returncode == 1
    assert "a valid function key is required" in done.stderr and "HTTP 401" in done.stderr
    assert "wrong-key" not in done.stdout + done.stderr


def test_an_unreachable_bridge_exits_3(cli: Cli) -> None:
    done = cli("status", "--url", f"http://127.0.0.1:{free_port()}")
    assert done.returncode == 3
    assert "cannot reach calbridge" in done.stderr


def test_usage_errors_exit_2(cli: Cli) -> None:
    assert cli("mappings", "add", "only-one").returncode == 2
    assert cli("status", "--url", "ftp://example.org").returncode == 2
    assert cli("backup", "-", AzureWebJobsStorage="").returncode == 2


# ---- backup and restore ------------------------------------------------------------------

SERVICE_TIME = "2024-03-31T01:30:00.1234567Z"  # 7 digits: more than a Python datetime holds


def typed_entities() -> dict[str, list[dict[str, Any]]]:
    """Rows of every Table Storage type, beside what the API itself writes."""
    return {
        "BridgeCursors": [{
            "PartitionKey": "booking_system", "RowKey": "cal-typed", "cursor": "delta-1",
            "last_poll_at": datetime(2024, 10, 27, 0, 59, 59, 999000, tzinfo=UTC),
            "precise_at": EntityProperty(SERVICE_TIME, EdmType.DATETIME),
            "attempts": 7, "big": EntityProperty(2**40 + 3, EdmType.INT64),
            "small_int64": EntityProperty(5, EdmType.INT64), "ratio": 0.25,
            "whole_double": 2.0, "not_a_number": float("nan"), "active": False,
            "guid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
            "blob": b"\x00\x01binary\xff", "text": "ünïcode ✓ \"quoted\"\nnewline",
            "empty": "",
        }],
        "BridgeSubscriptions": [{
            "PartitionKey": "outlook", "RowKey": f"sub-{n}",
            "client_state_hash": f"hmac-sha256:{n:064x}",
            "expires_at": datetime(2030, 1, 1, tzinfo=UTC)} for n in range(130)],
    }


def snapshot(tables: TableServiceClient, settings: Settings) -> dict[str, dict]:
    """Every entity of every table, each value with its Python and Edm type."""
    found: dict[str, dict] = {}
    for base in TABLES:
        client = tables.get_table_client(settings.table_name(base))
        rows = {}
        for entity in client.list_entities():
            rows[(entity["PartitionKey"], entity["RowKey"])] = {
                name: typed(value) for name, value in entity.items()}
        found[base] = rows
    return found


def typed(value: Any) -> tuple[str, ...]:
    if isinstance(value, EntityProperty):
        return ("EntityProperty", str(EdmType(value.edm_type).value), repr(value.value))
    if isinstance(value, datetime):
        return (type(value).__name__, value.tables_service_value, value.isoformat())
    if isinstance(value, float) and math.isnan(value):
        return ("float", "nan")
    return (type(value).__name__, repr(value))


@pytest.fixture(scope="module")
def populated(cli: Cli, tables: TableServiceClient, settings: Settings) -> dict[str, dict]:
    for resource, calendar in (("room_1", "cal-1"), ("room_2", "cal-2")):
        done = cli("mappings", "add", resource, "rooms", calendar)
        assert done.returncode == 0, done.stderr
    assert cli("status").returncode == 0  # creates every table through the host
    for base, rows in typed_entities().items():
        client = tables.get_table_client(settings.table_name(base))
        for row in rows:
            client.upsert_entity(row)
    state = snapshot(tables, settings)
    assert all(base in state for base in TABLES)
    assert len(state["BridgeSubscriptions"]) == 130 and state["BridgeResourceMappings"]
    return state


def wipe(tables: TableServiceClient, settings: Settings) -> None:
    for base in TABLES:
        tables.delete_table(settings.table_name(base))


def test_backup_wipe_restore_gives_back_every_entity_and_type(
        cli: Cli, tables: TableServiceClient, settings: Settings,
        populated: dict[str, dict], tmp_path: Path) -> None:
    backup = tmp_path / "state.jsonl"
    done = cli("backup", str(backup))
    assert done.returncode == 0, done.stderr
    assert "BridgeSubscriptions: 130 entities backed up" in done.stderr
    assert backup.stat().st_mode & 0o777 == 0o600
    lines = backup.read_text().splitlines()
    header = json.loads(lines[0])
    assert header["format"] == "calbridge-backup" and header["schema"] == 3
    assert header["push_secrets"]["stored_as"] == "hmac-sha256"
    assert header["push_secrets"]["key_id"] == push_secrets.key_id(settings.push_key)
    assert header["tables"] == list(TABLES)
    assert len(lines) - 1 == sum(len(rows) for rows in populated.values())
    precise = next(json.loads(line)["entity"] for line in lines[1:]
                   if '"cal-typed"' in line)
    assert precise["precise_at"] == SERVICE_TIME
    assert precise["precise_at@odata.type"] == "Edm.DateTime"
    assert precise["big@odata.type"] == "Edm.Int64"

    wipe(tables, settings)
    assert cli("mappings", "list").returncode != 0  # the tables are really gone

    restored = cli("restore", str(backup))
    assert restored.returncode == 0, restored.stderr
    assert snapshot(tables, settings) == populated
    assert "room_1" in cli("mappings", "list").stdout

    twice = cli("restore", str(backup))
    assert twice.returncode == 0, twice.stderr
    assert snapshot(tables, settings) == populated


def test_backup_to_stdout_and_restore_from_stdin(cli: Cli, tables: TableServiceClient,
                                                 settings: Settings,
                                                 populated: dict[str, dict]) -> None:
    done = subprocess.run([str(CALBRIDGE), "backup", "-", "--quiet"], env=cli.env,
                          capture_output=True, timeout=60, check=False)
    assert done.returncode == 0 and not done.stderr, done.stderr
    wipe(tables, settings)
    restored = subprocess.run([str(CALBRIDGE), "restore", "-"], env=cli.env,
                              input=done.stdout, capture_output=True, timeout=60, check=False)
    assert restored.returncode == 0, restored.stderr
    assert snapshot(tables, settings) == populated


def test_a_restore_under_another_push_secret_key_says_so(
        cli: Cli, populated: dict[str, dict], tmp_path: Path) -> None:
    backup = tmp_path / "state.jsonl"
    assert cli("backup", str(backup)).returncode == 0
    same = cli("restore", str(backup))
    assert same.returncode == 0 and "CALBRIDGE_PUSH_SECRET_KEY" not in same.stderr
    other = cli("restore", str(backup), CALBRIDGE_PUSH_SECRET_KEY="another-key-" + "x" * 32)
    assert other.returncode == 0, other.stderr
    assert "verify under another CALBRIDGE_PUSH_SECRET_KEY" in other.stderr


def test_a_backup_from_a_newer_schema_is_refused(cli: Cli, tmp_path: Path) -> None:
    newer = tmp_path / "newer.jsonl"
    newer.write_text(json.dumps({"format": "calbridge-backup", "schema": 4,
                                 "created_at": "2031-01-01T00:00:00Z",
                                 "tables": list(TABLES)}) + "\n")
    done = cli("restore", str(newer))
    assert done.returncode == 2
    assert "schema 4, newer than this calbridge reads" in done.stderr


@pytest.mark.parametrize("content", [
    "PartitionKey,RowKey\nmapping,abc\n",
    json.dumps({"format": "something-else", "schema": 1}) + "\n",
    "",
], ids=["csv", "other-json", "empty"])
def test_a_file_that_is_not_a_backup_is_refused(cli: Cli, tmp_path: Path,
                                                content: str) -> None:
    other = tmp_path / "other.txt"
    other.write_text(content)
    done = cli("restore", str(other))
    assert done.returncode == 2
    assert "not a calbridge backup" in done.stderr


def test_a_damaged_backup_is_refused_before_anything_is_written(
        cli: Cli, tables: TableServiceClient, settings: Settings,
        populated: dict[str, dict], tmp_path: Path) -> None:
    good = tmp_path / "good.jsonl"
    assert cli("backup", str(good), "--quiet").returncode == 0
    lines = good.read_text().splitlines()
    changed = json.loads(lines[1])
    changed["entity"]["restored_from_damaged_file"] = True
    damaged = tmp_path / "damaged.jsonl"
    damaged.write_text("\n".join([lines[0], json.dumps(changed), *lines[2:], "{truncated"]))
    done = cli("restore", str(damaged))
    assert done.returncode == 2
    assert f"line {len(lines) + 1} is not JSON" in done.stderr
    assert snapshot(tables, settings) == populated
