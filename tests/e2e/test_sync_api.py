"""The guide's workflows over HTTP against the local host, the Graph emulator and the
example booking system: initial sync, edits both ways, cancel, re-enable, deletions,
conflicts, mass-deletion holds, retries and clean-up."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from calbridge.host.azurite import Azurite
from examples.booking_system import BookingSystemServer
from tests.fixtures.booking import BookingApi
from tests.fixtures.graph import GraphClient
from tests.fixtures.host import Api
from tests.fixtures.two_bridges import (
    DAY,
    RESOURCE,
    ROOM,
    book,
    outlook_events,
    stamp,
    start_bridge,
)


@pytest.fixture
def bridge(mapped_host: Api) -> Api:
    return mapped_host


def sync(bridge: Api, source: str, target: str, **body: Any) -> dict[str, Any]:
    answer = bridge("POST", f"/bridges/sync/{source}/{target}", json=body or None)
    assert answer.status_code == 200, answer.text
    assert answer.json()["success"] is True
    return answer.json()["results"]


def test_initial_sync_edit_back_and_no_echo(bridge: Api, bookings: BookingApi,
                                            graph: GraphClient) -> None:
    first = book(bookings, "Council meeting")
    book(bookings, "Choir practice", hours=2)
    results = sync(bridge, "booking_system", "outlook")
    assert (results["created"], results["errors"], results["success_rate"]) == (2, 0, "100%")
    assert {op["operation"] for op in results["operations"]} == {"create"}
    events = {e["subject"]: e for e in outlook_events(graph)}
    assert set(events) == {"Council meeting", "Choir practice"}
    assert events["Council meeting"]["start"]["dateTime"].startswith(stamp(0)[:16])

    # Nothing changed: both directions are quiet (the copies come back as echoes).
    assert sync(bridge, "booking_system", "outlook")["processed"] == 0
    assert sync(bridge, "outlook", "booking_system")["processed"] == 0

    # An edit in Outlook flows back to the booking.
    edited = graph.patch(f"/users/{ROOM}/events/{events['Council meeting']['id']}",
                         json={"subject": "Council meeting (moved to 10)"})
    assert edited.status_code == 200, edited.text
    back = sync(bridge, "outlook", "booking_system")
    assert (back["updated"], back["created"]) == (1, 0)
    stored = bookings.request("GET", f"/api/events/{first['id']}").json()
    assert stored["title"] == "Council meeting (moved to 10)"
    assert sync(bridge, "booking_system", "outlook")["processed"] == 0
    assert len(outlook_events(graph)) == 2 and len(bookings.list_all(active="true")) == 2

    stats = bridge("GET", "/bridge/stats").json()["statistics"]
    assert stats["summary"]["synced"] == 2
    completed = bridge("GET", "/bridge/completed", params={"limit": 2}).json()
    assert completed["count"] == 2 and completed["next_page_token"]


def test_cancel_and_reenable(bridge: Api, bookings: BookingApi, graph: GraphClient) -> None:
    booking = book(bookings, "Yoga")
    sync(bridge, "booking_system", "outlook")
    [first] = outlook_events(graph)
    assert bookings.request("DELETE", f"/api/events/{booking['id']}").status_code == 200
    results = sync(bridge, "booking_system", "outlook")
    assert results["deleted"] == 1 and outlook_events(graph) == []

    reenabled = bookings.request("PUT", f"/api/events/{booking['id']}", json={"active": True})
    assert reenabled.status_code == 200
    results = sync(bridge, "booking_system", "outlook")
    assert results["created"] == 1
    [second] = outlook_events(graph)
    assert second["id"] != first["id"] and second["subject"] == "Yoga"


def test_outlook_born_event_and_outlook_deletion(bridge: Api, bookings: BookingApi,
                                                 graph: GraphClient) -> None:
    made = graph.post(f"/users/{ROOM}/events", json={
        "subject": "Walk-in", "start": {"dateTime": stamp(4)[:-1], "timeZone": "UTC"},
        "end": {"dateTime": stamp(5)[:-1], "timeZone": "UTC"}})
    assert made.status_code == 201, made.text
    results = sync(bridge, "outlook", "booking_system")
    assert results["created"] == 1
    [booking] = bookings.list_all(resource_id=RESOURCE)
    assert (booking["title"], booking["source_system"]) == ("Walk-in", "outlook")
    assert sync(bridge, "booking_system", "outlook")["processed"] == 0

    assert graph.delete(f"/users/{ROOM}/events/{made.json()['id']}").status_code == 204
    results = sync(bridge, "outlook", "booking_system")
    assert results["deleted"] == 1
    assert bookings.list_all(resource_id=RESOURCE)[0]["active"] is False


def test_a_purged_booking_is_found_by_sync_deletions(bridge: Api, bookings: BookingApi,
                                                     graph: GraphClient) -> None:
    booking = book(bookings, "Purged")
    sync(bridge, "booking_system", "outlook")
    purged = bookings.request("DELETE", f"/api/events/{booking['id']}",
                              params={"purge": "true"})
    assert purged.status_code == 200
    answer = bridge("POST", "/bridges/sync-deletions")
    assert answer.status_code == 200
    results = answer.json()["results"]
    assert (results["detected_deletions"], results["processed_deletions"]) == (1, 1)
    assert (results["detected"], results["processed"], results["success_rate"]) == (1, 1,
                                                                                  "100%")
    assert results["summary"] == {"outlook_deletions": 1, "booking_system_deletions": 0,
                                  "pending_resets": 0, "errors": 0}
    assert (results["outlook_deletions"], results["pending_resets"], results["errors"]) == (
        1, 0, 0)
    [cancelled] = results["cancelled_events"]
    assert (cancelled["id"], cancelled["active"], cancelled["resource_id"]) == (
        str(booking["id"]), 0, RESOURCE)
    assert cancelled["mapping_id"] and results["reenabled_events"] == []
    # Only Outlook was written to: the booking was already gone.
    assert results["systems_affected"] == ["outlook"]
    assert outlook_events(graph) == []
    queue = bridge("POST", "/bridges/process-deletion-queue").json()["results"]
    assert queue["detected_deletions"] == 0
    cleaned = bridge("DELETE", "/bridge/cleanup-orphaned").json()["results"]
    assert cleaned["removed"] == 1


def test_failures_are_pending_then_retried(bridge: Api, bookings: BookingApi,
                                           graph: GraphClient) -> None:
    book(bookings, "Unlucky")
    fault = graph.admin("POST", "/faults", {"match": {"method": "POST"}, "status": 503,
                                            "times": 50})
    assert fault.status_code in (200, 201), fault.text
    results = sync(bridge, "booking_system", "outlook")
    assert (results["errors"], results["success_rate"]) == (1, "0%")
    pending = bridge("GET", "/bridge/pending").json()
    assert pending["count"] == 1 and pending["pending"][0]["status"] == "error"
    assert pending["pending"][0]["last_error"]
    graph.admin("DELETE", "/faults")
    # An operator's re-run retries at once; the backoff is for the timer.
    retried = bridge("POST", "/bridge/process-pending").json()
    assert (retried["results"]["created"], retried["results"]["success_rate"]) == (1, "100%")
    assert [e["subject"] for e in outlook_events(graph)] == ["Unlucky"]
    assert bridge("GET", "/bridge/pending").json()["count"] == 0


def test_manual_conflict_is_listed_and_resolved(bridge: Api, bookings: BookingApi,
                                                graph: GraphClient) -> None:
    mapping_id = bridge.mapping_id  # type: ignore[attr-defined]
    assert bridge("PUT", f"/mappings/resources/{mapping_id}",
                  json={"conflict_policy": "manual"}).status_code == 200
    booking = book(bookings, "Original")
    sync(bridge, "booking_system", "outlook")
    [event] = outlook_events(graph)
    bookings.request("PUT", f"/api/events/{booking['id']}", json={"title": "Booking says"})
    graph.patch(f"/users/{ROOM}/events/{event['id']}", json={"subject": "Outlook says"})
    results = sync(bridge, "booking_system", "outlook")
    assert results["conflicts"] == 1
    [conflict] = bridge("GET", "/bridge/conflicts").json()["conflicts"]
    assert conflict["versions"]["b"]["title"] == "Outlook says"
    bad = bridge("POST", f"/bridge/conflicts/{conflict['id']}/resolve", json={"winner": "x"})
    assert bad.status_code == 422
    resolved = bridge("POST", f"/bridge/conflicts/{conflict['id']}/resolve",
                      json={"winner": "booking"})
    assert resolved.status_code == 200 and resolved.json()["results"]["updated"] == 1
    assert [e["subject"] for e in outlook_events(graph)] == ["Booking says"]
    assert bridge("GET", "/bridge/conflicts").json()["count"] == 0
    again = bridge("POST", f"/bridge/conflicts/{conflict['id']}/resolve",
                   json={"winner": "booking"})
    assert again.status_code == 409


def test_mass_deletion_is_held_until_confirmed(bridge: Api, bookings: BookingApi,
                                               graph: GraphClient) -> None:
    for n in range(12):
        book(bookings, f"Session {n}", hours=n)
    assert sync(bridge, "booking_system", "outlook")["created"] == 12
    for event in outlook_events(graph)[:11]:
        graph.delete(f"/users/{ROOM}/events/{event['id']}")
    results = sync(bridge, "outlook", "booking_system")
    assert (results["held"], results["deleted"]) == (11, 0)
    assert len(bookings.list_all(active="true")) == 12
    health = bridge("GET", "/bridges/health").json()
    assert health["holds"] == 1 and health["status"] == "degraded"
    [hold] = bridge("GET", "/bridge/holds").json()["holds"]
    confirmed = bridge("POST", f"/bridge/holds/{hold['id']}/confirm")
    assert confirmed.status_code == 200 and confirmed.json()["results"]["deleted"] == 11
    assert len(bookings.list_all(active="true")) == 1
    assert bridge("POST", f"/bridge/holds/{hold['id']}/reject").status_code == 409
    assert bridge("GET", "/bridge/holds", params={"status": "nope"}).status_code == 422


def test_dry_run_and_bad_requests(bridge: Api, bookings: BookingApi, graph: GraphClient) -> None:
    book(bookings, "Planned")
    planned = sync(bridge, "booking_system", "outlook", dry_run=True)
    assert (planned["planned"], planned["created"]) == (1, 0)
    assert outlook_events(graph) == []
    windowed = sync(bridge, "booking_system", "outlook",
                    from_date=DAY.date().isoformat(),
                    to_date=(DAY + timedelta(days=1)).date().isoformat(),
                    resource_ids=[RESOURCE])
    assert windowed["created"] == 1

    assert bridge("POST", "/bridges/sync/nowhere/outlook").status_code == 404
    # Same bridge at both ends is allowed (two rooms of one bridge); none are mapped here.
    assert bridge("POST", "/bridges/sync/outlook/outlook").json()["results"]["mappings"] == 0
    assert bridge("POST", "/bridges/sync/booking_system/outlook", data=b"{oops",
                  headers={"Content-Type": "application/json"}).status_code == 400
    backwards = bridge("POST", "/bridges/sync/booking_system/outlook",
                       json={"from_date": "2030-02-01", "to_date": "2030-01-01"})
    assert backwards.status_code == 422
    assert bridge("POST", "/bridges/sync/booking_system/outlook",
                  json={"dry_run": "sometimes"}).status_code == 422


def test_large_runs_fan_out_through_the_queue_trigger(azurite: Azurite,
                                                     e2e_booking_system: BookingSystemServer,
                                                     graph: GraphClient, bookings: BookingApi,
                                                     tmp_path: Path) -> None:
    host, bridge = start_bridge(azurite, e2e_booking_system, graph, tmp_path,
                                CALBRIDGE_INLINE_OPERATIONS="2")
    try:
        for n in range(6):
            book(bookings, f"Class {n}", hours=n)
        results = sync(bridge, "booking_system", "outlook")
        assert (results["created"], results["queued"]) == (2, 4)
        deadline = time.monotonic() + 30
        while len(outlook_events(graph)) < 6 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert sorted(e["subject"] for e in outlook_events(graph)) == [
            f"Class {n}" for n in range(6)]
        assert sync(bridge, "booking_system", "outlook")["processed"] == 0
        assert bridge("GET", "/bridge/stats").json()["statistics"]["summary"]["synced"] == 6
    finally:
        host.stop()


def drained(bridge: Api) -> None:
    """Wait (bounded) until the host's queue trigger has taken every queued operation."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        stats = bridge("GET", "/bridge/automation-stats").json()["statistics"]
        if stats["queues"]["sync-work"] == 0:
            return
        time.sleep(0.2)
    raise AssertionError("the sync-work queue was not drained")


def test_a_request_whose_time_budget_is_spent_continues_through_the_queue(
        azurite: Azurite, e2e_booking_system: BookingSystemServer, graph: GraphClient,
        bookings: BookingApi, tmp_path: Path) -> None:
    # A budget of no time at all: every write of the request goes on in the queue trigger.
    host, bridge = start_bridge(azurite, e2e_booking_system, graph, tmp_path,
                                CALBRIDGE_SYNC_BUDGET_SECONDS="0")
    try:
        for n in range(5):
            book(bookings, f"Class {n}", hours=n)
        answer = bridge("POST", "/sync/to-outlook")
        assert answer.status_code == 200, answer.text
        results = answer.json()["results"]
        assert (results["created"], results["queued"], results["errors"]) == (0, 5, 0)
        assert results["progress"] == {"queue": "sync-work", "depth": "/bridge/automation-stats",
                                       "completed": "/bridge/completed"}
        drained(bridge)
        events = outlook_events(graph)
        assert sorted(e["subject"] for e in events) == [f"Class {n}" for n in range(5)]

        # The other direction through the generic route, and its answer says so too.
        for event in events[:2]:
            edited = graph.patch(f"/users/{ROOM}/events/{event['id']}",
                                 json={"subject": event["subject"] + " (moved)"})
            assert edited.status_code == 200, edited.text
        answer = bridge("POST", "/bridges/sync/outlook/booking_system")
        assert "continue through the sync-work queue" in answer.json()["message"]
        assert answer.json()["results"]["queued"] == 2
        drained(bridge)
        titles = sorted(b["title"] for b in bookings.list_all(resource_id=RESOURCE))
        assert titles == sorted([e["subject"] + " (moved)" for e in events[:2]]
                                + [e["subject"] for e in events[2:]])
        assert len(outlook_events(graph)) == 5
        for source, target in (("booking_system", "outlook"), ("outlook", "booking_system")):
            again = sync(bridge, source, target)
            assert (again["processed"], again["queued"], again["progress"]) == (0, 0, None)

        # Polling and deletion detection are requests too.
        book(bookings, "Class 5", hours=5)
        polled = bridge("POST", "/bridges/poll-changes").json()["results"]
        assert (polled["created"], polled["queued"]) == (0, 1)
        drained(bridge)
        [cancelled] = [b for b in bookings.list_all(resource_id=RESOURCE)
                       if b["title"] == "Class 5"]
        assert bookings.request("DELETE", f"/api/events/{cancelled['id']}").status_code == 200
        swept = bridge("POST", "/bridges/sync-deletions").json()["results"]
        assert (swept["processed_deletions"], swept["queued"]) == (0, 1)
        assert swept["progress"]["queue"] == "sync-work"
        drained(bridge)
        assert len(outlook_events(graph)) == 5
    finally:
        host.stop()


def test_a_room_mapped_again_in_capitals_or_the_other_way_round_is_409(
        bridge: Api, bookings: BookingApi, graph: GraphClient) -> None:
    """Mailbox addresses ignore letter case, and a mapping has two equal ends: the same
    room mapped a second time under another spelling, or with its ends swapped, would
    copy every booking into it twice. Both are refused, naming the mapping there is."""
    book(bookings, "Council meeting")
    attempts = [
        {"booking_system_resource_id": RESOURCE, "calendar_system": "outlook",
         "calendar_resource_id": ROOM.upper()},
        {"a": {"bridge": "outlook", "calendar_id": ROOM.title()},
         "b": {"bridge": "booking_system", "calendar_id": RESOURCE}},
    ]
    for body in attempts:
        again = bridge("POST", "/mappings/resources", json=body)
        assert again.status_code == 409, again.text
        assert again.json()["error"]["details"]["existing_id"] == bridge.mapping_id
    assert [m["id"] for m in bridge("GET", "/mappings/resources").json()["mappings"]] == [
        bridge.mapping_id]
    sync(bridge, "booking_system", "outlook")
    assert [e["subject"] for e in outlook_events(graph)] == ["Council meeting"]


def test_a_mailbox_address_is_stored_as_exchange_spells_it(
        bridge: Api, bookings: BookingApi, graph: GraphClient) -> None:
    """A second room typed in capitals is mapped under the address in lower case, so
    its calendar is one calendar everywhere calbridge keeps state for it."""
    made = bridge("POST", "/mappings/resources", json={
        "booking_system_resource_id": "room_102", "calendar_system": "outlook",
        "calendar_resource_id": "Room-B@Rooms.Example.org"})
    assert made.status_code == 201, made.text
    assert made.json()["mapping"]["calendar_resource_id"] == "room-b@rooms.example.org"


def test_a_calendar_too_large_to_read_within_the_budget_is_read_on_by_the_queue(
        azurite: Azurite, e2e_booking_system: BookingSystemServer, graph: GraphClient,
        bookings: BookingApi, tmp_path: Path) -> None:
    # Outlook answers two meetings a page, and the request has no time at all: it reads
    # one page, and the rest of the read goes on in the queue trigger, a page a message.
    host, bridge = start_bridge(azurite, e2e_booking_system, graph, tmp_path,
                                CALBRIDGE_SYNC_BUDGET_SECONDS="0", OUTLOOK_PAGE_SIZE="2")
    try:
        subjects = [f"Walk-in {n}" for n in range(7)]
        for n, subject in enumerate(subjects):
            made = graph.post(f"/users/{ROOM}/events", json={
                "subject": subject, "start": {"dateTime": stamp(n)[:-1], "timeZone": "UTC"},
                "end": {"dateTime": stamp(n + 0.5)[:-1], "timeZone": "UTC"}})
            assert made.status_code == 201, made.text
        answer = bridge("POST", "/bridges/sync/outlook/booking_system")
        assert answer.status_code == 200, answer.text
        assert "continue through the sync-work queue" in answer.json()["message"]
        results = answer.json()["results"]
        assert (results["created"], results["queued"], results["errors"]) == (0, 3, 0)
        assert results["progress"] == {"queue": "sync-work", "depth": "/bridge/automation-stats",
                                       "completed": "/bridge/completed"}
        rows = results["operations"]
        assert [row["item_type"] for row in rows] == ["event", "event", "read"]
        assert all(row["status"] == "queued" for row in rows)

        drained(bridge)
        booked = [b["title"] for b in bookings.list_all(resource_id=RESOURCE)]
        assert sorted(booked) == subjects
        again = sync(bridge, "outlook", "booking_system")
        assert (again["processed"], again["queued"], again["progress"]) == (0, 0, None)
        assert bridge("GET", "/bridge/stats").json()["statistics"]["summary"]["synced"] == 7
    finally:
        host.stop()
