"""The host killed in the middle of a large first sync (no clean shutdown, as a Functions
worker that runs out of memory or is recycled): a new host finishes the work, with every
booking in Outlook once and nothing written twice."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import requests

from calbridge.host.azurite import Azurite
from examples.booking_system import BookingSystemServer
from tests.fixtures.booking import BookingApi
from tests.fixtures.graph import GraphClient
from tests.fixtures.two_bridges import DAY, RESOURCE, outlook_events, start_bridge

BOOKINGS = 240


def test_a_host_killed_mid_sync_leaves_no_duplicate_and_loses_nothing(
        azurite: Azurite, e2e_booking_system: BookingSystemServer, graph: GraphClient,
        bookings: BookingApi, tmp_path: Path) -> None:
    host, api = start_bridge(azurite, e2e_booking_system, graph, tmp_path)
    try:
        for n in range(BOOKINGS):
            start = DAY + timedelta(hours=2 * n)
            bookings.create(resource_id=RESOURCE, title=f"Lesson {n} <b>&</b> ø",
                            description="<p>Bring <i>shoes</i></p>",
                            start_time=start.isoformat(),
                            end_time=(start + timedelta(hours=1)).isoformat())
        # Each Graph write takes a while, so the kill lands between two of them.
        graph.admin("POST", "/faults", json={"match": {"method": "POST"}, "latency_ms": 250})
        running = threading.Thread(target=lambda: _sync_ignoring_the_crash(api.base_url),
                                   daemon=True)
        running.start()
        deadline = time.monotonic() + 60
        while len(outlook_events(graph)) < BOOKINGS // 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert host.child is not None and host.child.process is not None
        host.child.process.kill()  # SIGKILL: no clean-up of any kind
        host.child.process.wait(10)
        running.join(30)
        written = len(outlook_events(graph))
        assert 0 < written < BOOKINGS, "the kill should land in the middle of the run"
        graph.admin("DELETE", "/faults")

        host.start()  # the same settings and storage, a new process
        answer = api("POST", "/bridges/sync/booking_system/outlook", timeout=240)
        assert answer.status_code == 200, answer.text
        # What the request does not do itself it queues; the queue trigger finishes it.
        deadline = time.monotonic() + 120
        while len(events := outlook_events(graph)) < BOOKINGS and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(2)  # anything written twice would show by now
        events = outlook_events(graph)
        subjects = Counter(event["subject"] for event in events)
        assert len(events) == BOOKINGS
        assert set(subjects) == {f"Lesson {n} <b>&</b> ø" for n in range(BOOKINGS)}
        assert max(subjects.values()) == 1
        # And the next runs have nothing to do in either direction.
        again = api("POST", "/bridges/sync/booking_system/outlook").json()["results"]
        back = api("POST", "/bridges/sync/outlook/booking_system").json()["results"]
        assert (again["processed"], back["processed"]) == (0, 0)
        assert len(bookings.list_all(resource_id=RESOURCE)) == BOOKINGS
    finally:
        graph.admin("DELETE", "/faults")
        host.stop()


def _sync_ignoring_the_crash(base_url: str) -> None:
    from tests.fixtures.host import FUNCTION_KEY
    try:
        requests.post(f"{base_url}/bridges/sync/booking_system/outlook",
                      headers={"x-functions-key": FUNCTION_KEY}, timeout=120)
    except requests.RequestException:
        pass  # the host died under it, as intended
