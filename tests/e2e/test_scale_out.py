"""Four local hosts over one storage account, as a Function App scaled out to four
instances: the queued work of one large sync spreads over them, and Graph's per-mailbox
limit of 4 concurrent requests holds across all of them (slots shared through Table
Storage, `CALBRIDGE_SHARED_PACING`): the emulator, enforcing that limit, sees no more,
answers no 429, and the room ends with every booking once."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path

from calbridge.host.azurite import Azurite
from examples.booking_system import BookingSystemServer
from tests.fixtures.booking import BookingApi
from tests.fixtures.graph import GraphClient
from tests.fixtures.host import Api, HostProcess, host_env
from tests.fixtures.two_bridges import DAY, RESOURCE, ROOM, outlook_events, outlook_settings

HOSTS = 4
BOOKINGS = 600  # twelve queued messages of 50


def test_four_hosts_share_one_mailboxs_limit_and_converge(
        azurite: Azurite, e2e_booking_system: BookingSystemServer, graph: GraphClient,
        bookings: BookingApi, tmp_path: Path) -> None:
    e2e_booking_system.reset()
    env = host_env(azurite, e2e_booking_system, CALBRIDGE_BRIDGES="booking_system,outlook",
                   CALBRIDGE_TABLE_PREFIX="x" + uuid.uuid4().hex[:10],
                   CALBRIDGE_SHARED_PACING="true", CALBRIDGE_INLINE_OPERATIONS="1",
                   **outlook_settings(graph.emulator))
    hosts = [HostProcess(dict(env), tmp_path / f"host-{n}.log") for n in range(HOSTS)]
    try:
        for host in hosts:
            host.start()
        api = Api(hosts[0].url)
        created = api("POST", "/mappings/resources", json={
            "booking_system_resource_id": RESOURCE, "calendar_system": "outlook",
            "calendar_resource_id": ROOM})
        assert created.status_code == 201, created.text
        for n in range(BOOKINGS):
            start = DAY + timedelta(minutes=45 * n)
            bookings.create(resource_id=RESOURCE, title=f"Slot {n}",
                            start_time=start.isoformat(),
                            end_time=(start + timedelta(minutes=30)).isoformat())
        graph.admin("POST", "/throttle", json={"enabled": True, "concurrency": 4})
        # Slow writes, so the hosts' work overlaps.
        graph.admin("POST", "/faults", json={"match": {"method": "POST"}, "latency_ms": 200})
        answer = api("POST", "/bridges/sync/booking_system/outlook")
        assert answer.status_code == 200, answer.text
        assert answer.json()["results"]["queued"] > 0
        deadline = time.monotonic() + 240
        while in_room(graph) < BOOKINGS and time.monotonic() < deadline:
            time.sleep(1)  # counted by the emulator: a read here would count against the limit
        time.sleep(3)  # a duplicate written late would show by now
        peak = graph.admin("GET", "/throttle").json()["peak_concurrency"]
        statuses = graph.admin("GET", "/requests").json()["by_status"]
    finally:
        graph.admin("DELETE", "/faults")
        graph.admin("POST", "/throttle", json={"enabled": False})
        for host in hosts:
            host.stop()
    events = outlook_events(graph)
    subjects = Counter(event["subject"] for event in events)
    assert len(events) == BOOKINGS and max(subjects.values()) == 1
    assert "429" not in statuses
    assert 1 <= max(peak.values()) <= 4
    # The work really was shared: more than one host applied queued sync work.
    ran = "executed queue function process_sync_work"
    working = [host for host in hosts if ran in host.log_path.read_text()]
    assert len(working) > 1


def in_room(graph: GraphClient) -> int:
    """Events in the room, as the emulator's state counts them."""
    mailboxes = graph.admin("GET", "/state").json()["mailboxes"]
    return next(box["events"] for box in mailboxes if box["userPrincipalName"] == ROOM)
