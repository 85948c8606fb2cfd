"""`calbridge sync`, `conflicts`, `holds` and `subscriptions`: the installed console
script against a local host with both real bridges (the example booking system and the
Graph emulator) — progress and summaries, dry runs, failures as exit codes, operator
decisions, push subscriptions, and no secret in any output."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from calbridge.config import Settings
from calbridge.host.azurite import Azurite
from calbridge.host.processes import free_port
from calbridge.store.clients import table_service
from examples.booking_system import BookingSystemServer
from tests.fixtures.booking import BookingApi
from tests.fixtures.graph import GraphClient
from tests.fixtures.host import E2E_BOOKING_KEY, FUNCTION_KEY, Api, HostProcess
from tests.fixtures.two_bridges import DAY, RESOURCE, ROOM, book, outlook_events, start_bridge

CALBRIDGE = Path(sys.executable).with_name("calbridge")
ROOM_B = "room-b@rooms.example.org"
class Cli:
    """Runs the installed `calbridge` script against one host; fails a test when any
    output shows one of `secrets`."""

    def __init__(self, env: dict[str, str], secrets: list[str]) -> None:
        self.env = env
        self.secrets = secrets

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([str(CALBRIDGE), *args], env=self.env, capture_output=True,
                              text=True, timeout=60, check=False)
        for secret in self.secrets:
            assert secret not in done.stdout + done.stderr, f"calbridge {args} showed a secret"
        return done


@pytest.fixture
def bridge(request: pytest.FixtureRequest, azurite: Azurite,
           e2e_booking_system: BookingSystemServer, graph: GraphClient,
           tmp_path: Path) -> Iterator[tuple[HostProcess, Api]]:
    push = getattr(request, "param", False)  # with push: parametrize it indirectly with True
    host, api = start_bridge(azurite, e2e_booking_system, graph, tmp_path, push=push)
    yield host, api
    host.stop()


@pytest.fixture
def api(bridge: tuple[HostProcess, Api]) -> Api:
    return bridge[1]


@pytest.fixture
def cli(bridge: tuple[HostProcess, Api], graph: GraphClient) -> Cli:
    host = bridge[0]
    env = {**host.env, "CALBRIDGE_URL": host.url, "CALBRIDGE_FUNCTION_KEY": FUNCTION_KEY}
    return Cli(env, [FUNCTION_KEY, E2E_BOOKING_KEY, graph.emulator.client_secret, graph.token])


def row(output: str, first: str) -> list[str]:
    """The table row starting with `first`, split on whitespace."""
    return next(line.split() for line in output.splitlines() if line.startswith(first + " "))


# ---- sync ---------------------------------------------------------------------------------

def test_sync_shows_progress_and_a_summary(cli: Cli, bookings: BookingApi,
                                           graph: GraphClient) -> None:
    added = cli("mappings", "add", "room_102", "outlook", ROOM_B, "--name", "Room B")
    assert added.returncode == 0, added.stderr
    book(bookings, "Council meeting")
    book(bookings, "Choir practice", hours=2)
    book(bookings, "Board game night", resource="room_102")

    done = cli("sync", "booking_system", "outlook", "--progress")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr.splitlines() == [
        f"[1/2] [{'#' * 10}{'-' * 10}] room_101 … created 2",
        f"[2/2] [{'#' * 20}] room_102 … created 1"]
    assert "sync booking_system -> outlook" in done.stdout
    assert row(done.stdout, "RESOURCE") == ["RESOURCE", "CREATED", "UPDATED", "DELETED",
                                            "SKIPPED", "ERRORS", "CONFLICTS", "QUEUED", "HELD",
                                            "SUCCESS"]
    assert row(done.stdout, "room_101") == ["room_101", "2", *["0"] * 7, "100%"]
    assert row(done.stdout, "total") == ["total", "3", *["0"] * 7, "100%"]
    assert "failed operations" not in done.stdout
    assert sorted(e["subject"] for e in outlook_events(graph)) == ["Choir practice",
                                                                  "Council meeting"]
    assert [e["subject"] for e in outlook_events(graph, ROOM_B)] == ["Board game night"]

    # Not a terminal and no --progress: stderr stays quiet. Nothing is left to do.
    again = cli("sync", "booking_system", "outlook", "--json")
    assert again.returncode == 0 and again.stderr == "", again.stderr
    report = json.loads(again.stdout)
    assert [run["resource_id"] for run in report["runs"]] == ["room_101", "room_102"]
    assert report["totals"]["processed"] == 0 and report["totals"]["success_rate"] == "100%"
    back = cli("sync", "outlook", "booking_system", "--progress")
    # Runs are per source calendar: from Outlook, its rooms.
    assert back.returncode == 0 and f"{ROOM} … nothing to do" in back.stderr


def test_a_dry_run_changes_nothing(cli: Cli, bookings: BookingApi, graph: GraphClient) -> None:
    book(bookings, "Planned")
    done = cli("sync", "booking_system", "outlook", "--dry-run")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "dry run booking_system -> outlook: nothing was changed" in done.stdout
    assert row(done.stdout, "total") == ["total", "1", "0"]
    planned = row(done.stdout, "room_101")  # the first such row is the counts' one
    assert planned == ["room_101", "1", "0"]
    [operation] = [line for line in done.stdout.splitlines() if " Planned " in line]
    assert operation.split()[:4] == ["room_101", "create", "planned", "Planned"]
    assert operation.endswith("new in booking_system")
    assert outlook_events(graph) == []

    windowed = cli("sync", "booking_system", "outlook", "--resource", RESOURCE,
                   "--from", DAY.date().isoformat(),
                   "--to", (DAY + timedelta(days=1)).date().isoformat())
    assert windowed.returncode == 0, windowed.stdout + windowed.stderr
    assert row(windowed.stdout, "total")[1] == "1"
    assert [e["subject"] for e in outlook_events(graph)] == ["Planned"]


def test_sync_usage_errors_and_an_unreachable_bridge(cli: Cli) -> None:
    for args, message in [
            (("sync", "nowhere", "outlook"), "no bridge named 'nowhere'"),
            (("sync", "outlook", "outlook"), "must be different bridges"),
            (("sync", "booking_system", "outlook", "--from", "2030-01-01"),
             "--from and --to go together"),
            (("sync", "booking_system", "outlook", "--from", "2030-02-01", "--to",
              "2030-01-01"), "--to must be after --from"),
            (("sync", "booking_system", "outlook", "--from", "soon", "--to", "later"),
             "is not a date")]:
        done = cli(*args)
        assert (done.returncode, message in done.stderr) == (2, True), done.stderr
    unmapped = cli("sync", "booking_system", "outlook", "--resource", "room_999")
    assert unmapped.returncode == 1 and "no active mapping syncs room_999" in unmapped.stderr
    away = cli("sync", "booking_system", "outlook", "--url", f"http://127.0.0.1:{free_port()}")
    assert away.returncode == 3 and "cannot reach calbridge" in away.stderr


def test_a_failing_upstream_exits_1_and_shows_the_error(cli: Cli, bookings: BookingApi,
                                                        graph: GraphClient) -> None:
    book(bookings, "Unlucky")
    fault = graph.admin("POST", "/faults", {"match": {"method": "POST"}, "status": 503,
                                            "retry_after": 1, "times": 50})
    assert fault.status_code in (200, 201), fault.text
    try:
        done = cli("sync", "booking_system", "outlook", "--progress")
    finally:
        graph.admin("DELETE", "/faults")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "room_101 … errors 1" in done.stderr
    assert "calbridge sync: 1 failed" in done.stderr
    assert row(done.stdout, "total")[-1] == "0%"
    assert "failed operations:" in done.stdout
    [failure] = [line for line in done.stdout.splitlines() if " Unlucky " in line]
    assert failure.split()[:3] == ["room_101", "create", "failed"] and "503" in failure
    assert outlook_events(graph) == []


# ---- conflicts and holds -------------------------------------------------------------------

def test_conflicts_are_listed_and_resolved(cli: Cli, api: Api, bookings: BookingApi,
                                           graph: GraphClient) -> None:
    manual = api("PUT", f"/mappings/resources/{api.mapping_id}",  # type: ignore[attr-defined]
                 json={"conflict_policy": "manual"})
    assert manual.status_code == 200, manual.text
    assert cli("conflicts", "list").stdout.strip() == "no conflicts"
    booking = book(bookings, "Original")
    assert cli("sync", "booking_system", "outlook").returncode == 0
    [event] = outlook_events(graph)
    bookings.request("PUT", f"/api/events/{booking['id']}", json={"title": "Booking says"})
    graph.patch(f"/users/{ROOM}/events/{event['id']}", json={"subject": "Outlook says"})

    clash = cli("sync", "booking_system", "outlook")
    assert clash.returncode == 1 and "calbridge sync: 1 in conflict" in clash.stderr
    assert "waiting for a decision: calbridge conflicts list" in clash.stdout

    listed = cli("conflicts", "list")
    assert listed.returncode == 0, listed.stderr
    [conflict] = json.loads(cli("conflicts", "list", "--json").stdout)
    line = next(line for line in listed.stdout.splitlines() if line.startswith(conflict["id"]))
    assert f"{RESOURCE} <-> {ROOM}" in line
    time = f"{DAY:%Y-%m-%d %H:%M}-{DAY + timedelta(hours=1):%H:%M}"
    assert re.search(rf"Booking says\s+{time}\s+Outlook says\s+{time}$", line), line

    assert cli("conflicts", "resolve", conflict["id"], "--winner", "nobody").returncode == 2
    resolved = cli("conflicts", "resolve", conflict["id"], "--winner", "booking")
    assert resolved.returncode == 0, resolved.stderr
    assert "resolved, booking wins: updated 1" in resolved.stdout
    assert [e["subject"] for e in outlook_events(graph)] == ["Booking says"]
    assert cli("conflicts", "list").stdout.strip() == "no conflicts"
    again = cli("conflicts", "resolve", conflict["id"], "--winner", "booking")
    assert again.returncode == 1 and "HTTP 409" in again.stderr


def test_a_held_mass_deletion_is_listed_and_confirmed(cli: Cli, bookings: BookingApi,
                                                      graph: GraphClient) -> None:
    for n in range(12):
        book(bookings, f"Session {n}", hours=n)
    assert cli("sync", "booking_system", "outlook").returncode == 0
    for event in outlook_events(graph)[:11]:
        graph.delete(f"/users/{ROOM}/events/{event['id']}")

    held = cli("sync", "outlook", "booking_system")
    assert held.returncode == 1 and "calbridge sync: 11 held" in held.stderr
    assert row(held.stdout, "total")[8] == "11"  # HELD
    assert "11 deletions held for an operator: calbridge holds list" in held.stdout
    assert len(bookings.list_all(active="true")) == 12

    listed = cli("holds", "list")
    assert listed.returncode == 0, listed.stderr
    [hold] = json.loads(cli("holds", "list", "--json").stdout)
    assert row(listed.stdout, hold["id"])[2:6] == ["b", "11", "12", "held"]

    confirmed = cli("holds", "confirm", hold["id"])
    assert confirmed.returncode == 0, confirmed.stderr
    assert f"hold {hold['id']} confirmed: deleted 11" in confirmed.stdout
    assert len(bookings.list_all(active="true")) == 1
    assert cli("holds", "list").stdout.strip() == "no held deletions"
    assert row(cli("holds", "list", "--all").stdout, hold["id"])[5] == "confirmed"
    refused = cli("holds", "reject", hold["id"])
    assert refused.returncode == 1 and "HTTP 409" in refused.stderr
    assert "restore the missing events" in cli("holds", "reject", "--help").stdout


# ---- subscriptions -------------------------------------------------------------------------

@pytest.mark.parametrize("bridge", [True], indirect=True, ids=["push"])
def test_subscriptions_are_created_listed_and_renewed(cli: Cli,
                                                      bridge: tuple[HostProcess, Api]) -> None:
    outputs: list[str] = []

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        done = cli("subscriptions", *args)
        outputs.append(done.stdout + done.stderr)
        return done

    assert run("list").stdout.strip() == "no push subscriptions"
    created = run("create", ROOM)
    assert created.returncode == 0, created.stderr
    assert created.stdout.startswith("Webhook subscription created: ")
    subscription_id = created.stdout.split()[3]
    assert f"for outlook:{ROOM}, expires " in created.stdout
    kept = run("create", ROOM)
    assert kept.returncode == 0 and subscription_id in kept.stdout
    unmapped = run("create", "room-c@rooms.example.org")
    assert unmapped.returncode == 1 and "not in an active resource mapping" in unmapped.stderr

    listed = run("list")
    assert listed.returncode == 0, listed.stderr
    assert row(listed.stdout, "ID")[:4] == ["ID", "BRIDGE", "CALENDAR", "STATUS"]
    assert row(listed.stdout, subscription_id)[1:4] == ["outlook", ROOM, "healthy"]
    [shown] = json.loads(run("list", "--json").stdout)
    assert shown["id"] == subscription_id and "client_state" not in shown

    renewed = run("renew", subscription_id)
    assert renewed.returncode == 0, renewed.stderr
    assert f"subscription {subscription_id} renewed, expires " in renewed.stdout
    every = run("renew", "--all")
    assert every.returncode == 0 and every.stdout.count(" renewed, expires ") == 1
    assert run("renew").returncode == 2
    assert run("renew", subscription_id, "--all").returncode == 2
    assert run("renew", "no-such-subscription").returncode == 1

    settings = Settings.from_env(bridge[0].env)
    stored = table_service(settings).get_table_client(
        settings.table_name("BridgeSubscriptions")).list_entities()
    client_states = [entity["client_state_hash"] for entity in stored]
    assert client_states and all(state for state in client_states)
    for output in outputs:
        assert not any(state in output for state in client_states)
