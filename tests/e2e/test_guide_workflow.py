"""The usage guide's "Complete Production Workflow", top to bottom, against `make serve`
with the guide's own names, real-shaped data on both sides (an HTML invitation in a
Windows zone, bookings with organizers) and a mistyped mapping present: every step
answers as the guide says, the bad mapping is reported and never stops the others, and
no event is lost or made twice."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.fixtures.served import Served

RESOURCE, ROOM = "room_123", "conference-room-a@company.com"
TYPO_ROOM = "conference-room-b@company.com"  # no such mailbox
DAY = (datetime.now(UTC) + timedelta(days=5)).replace(hour=8, minute=0, second=0,
                                                     microsecond=0)


def at(hours: float) -> str:
    return (DAY + timedelta(hours=hours)).isoformat().replace("+00:00", "Z")


def call(served: Served, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    answer = served.api(method, path, **kwargs)
    assert answer.status_code in (200, 201), f"{method} {path}: {answer.text}"
    body = answer.json()
    assert body["success"] is True
    return body


def failed_ids(results: dict[str, Any]) -> set[str]:
    return {failure["resource_mapping_id"] for failure in results.get("failed_mappings", [])}


def titles(events: list[dict[str, Any]], key: str) -> Counter[str]:
    return Counter(event[key] for event in events)


def test_the_complete_production_workflow(served: Served) -> None:
    # The guide's staged flow, each step run by hand: the booking system's push
    # notifications are paused (as in `make demo`'s step-by-step part).
    paused = served.booking.put(f"{served.booking_url}/_admin/webhook", json={"url": None},
                                timeout=10)
    assert paused.status_code == 200, paused.text
    # Step 1: resource mappings — the guide's own, and one typed wrong while Graph was
    # unreachable (stored unverified, as a user would have it).
    good = call(served, "POST", "/mappings/resources", json={
        "booking_system_resource_id": RESOURCE, "calendar_system": "outlook",
        "calendar_resource_id": ROOM, "calendar_resource_name": "Conference Room A",
        "active": True})
    assert good["verified"] is True
    outage = served.graph.post(f"{served.admin_url}/faults", json={
        "match": {"path_regex": "conference-room-b"}, "status": 503, "times": 20}, timeout=10)
    assert outage.status_code == 201, outage.text
    bad = call(served, "POST", "/mappings/resources", json={
        "booking_system_resource_id": "room_101", "calendar_system": "outlook",
        "calendar_resource_id": TYPO_ROOM, "active": True})
    assert bad["verified"] is False and bad["warning"]
    served.graph.delete(f"{served.admin_url}/faults", timeout=10)
    bad_id = bad["id"]

    # What people already have: bookings, and a meeting Bob sent to the room.
    for n in range(3):
        served.book(resource_id=RESOURCE, title=f"Course {n} <intro> & more",
                    description="Bring a laptop\nand coffee", start_time=at(24 * n),
                    end_time=at(24 * n + 1.5), timezone="Europe/Oslo",
                    organizer={"name": "Ann Booker", "email": "ann@example.org"})
    day = DAY.date().isoformat()
    invited = served.graph.post(f"{served.admin_url}/users/{ROOM}/invitations", json={
        "subject": "Budget review",
        "body": {"contentType": "html",
                 "content": "<p>Please read <b>the draft</b>.</p><ul><li>Roads</li></ul>"},
        "start": {"dateTime": f"{day}T15:00:00", "timeZone": "W. Europe Standard Time"},
        "end": {"dateTime": f"{day}T16:00:00", "timeZone": "W. Europe Standard Time"},
        "organizer": {"name": "Bob Planner", "address": "bob@example.org"}}, timeout=10)
    assert invited.status_code == 201, invited.text

    # 1. Initial set-up: plan from the booking system, import existing Outlook events.
    populated = call(served, "POST", "/sync/populate-mapping")["results"]
    assert populated["planned"] == 3
    imported = call(served, "POST", "/sync/from-outlook")["results"]
    assert (imported["created"], imported["errors"]) == (1, 1)  # the bad mapping, counted
    assert failed_ids(imported) == {bad_id}
    [budget] = [b for b in served.bookings(RESOURCE) if b["title"] == "Budget review"]
    assert (budget["source_system"], budget["external_id"]) == ("outlook", invited.json()["id"])
    assert budget["organizer"] == {"name": "Bob Planner", "email": "bob@example.org"}

    # 2. Booking system → Outlook.
    pending = call(served, "GET", "/sync/pending-items")
    assert pending["count"] == 3
    assert {f["resource_mapping_id"] for f in pending["failed_mappings"]} == {bad_id}
    to_outlook = call(served, "POST", "/sync/to-outlook")["results"]
    assert to_outlook["created"] == 3 and failed_ids(to_outlook) == {bad_id}
    assert call(served, "GET", "/sync/pending-items")["count"] == 0

    # 3. Outlook → booking system, the guide's staged way.
    served.graph.post(f"{served.graph_url}/users/{ROOM}/events", json={
        "subject": "Walk-in", "start": {"dateTime": f"{day}T12:00:00", "timeZone": "UTC"},
        "end": {"dateTime": f"{day}T12:30:00", "timeZone": "UTC"}}, timeout=10)
    new_in_outlook = call(served, "GET", "/sync/outlook-events")
    assert [e["title"] for e in new_in_outlook["events"]] == ["Walk-in"]
    call(served, "POST", "/sync/from-outlook")
    call(served, "GET", "/booking/pending-imports")
    processed = call(served, "POST", "/booking/process-imports")["results"]
    assert processed["errors"] == 1 and failed_ids(processed) == {bad_id}
    done = call(served, "GET", "/booking/processed-imports")["processed_imports"]
    assert {row["title"] for row in done} >= {"Budget review", "Walk-in"}
    assert all(row["reservation_id"] for row in done)

    # 4. Cancellations and re-enables, both directions.
    course0, course1 = sorted((b for b in served.bookings(RESOURCE)
                               if b["title"].startswith("Course 0")
                               or b["title"].startswith("Course 1")),
                              key=lambda b: b["title"])
    served.booking.delete(f"{served.booking_url}/api/events/{course0['id']}", timeout=10)
    served.booking.delete(f"{served.booking_url}/api/events/{course1['id']}", timeout=10)
    first = call(served, "POST", "/bridges/sync-deletions")["results"]
    assert first["outlook_deletions"] == 2 and first["errors"] == 1
    assert {row["id"] for row in first["cancelled_events"]} == {course0["id"], course1["id"]}
    served.booking.put(f"{served.booking_url}/api/events/{course1['id']}",
                       json={"active": True}, timeout=10)
    second = call(served, "POST", "/bridges/sync-deletions")["results"]
    assert [row["id"] for row in second["reenabled_events"]] == [course1["id"]]
    assert second["summary"]["errors"] == 1  # still the bad mapping, nothing else
    call(served, "POST", "/sync/to-outlook")
    stats = call(served, "GET", "/cancel/stats")["statistics"]
    assert stats["cancelled"] == 1
    cancelled = call(served, "GET", "/cancel/cancelled-reservations")
    assert [row["reservation_id"] for row in cancelled["cancelled_reservations"]] == [
        course0["id"]]

    # 5. Monitor and maintain.
    call(served, "GET", "/sync/stats")
    call(served, "GET", "/booking/processing-stats")
    call(served, "DELETE", "/sync/cleanup-orphaned")
    health = served.api("GET", "/bridges/health").json()
    assert health["status"] == "degraded"
    assert [m["resource_mapping_id"] for m in health["unsyncable_mappings"]] == [bad_id]

    # Everything in step, once: every live booking has one Outlook event and back.
    live = [b for b in served.bookings(RESOURCE) if b["active"]]
    events = served.outlook(ROOM)
    assert titles(live, "title") == titles(events, "subject")
    assert max(titles(events, "subject").values()) == 1
    assert call(served, "POST", "/sync/to-outlook")["results"]["processed"] == 1  # the bad one
    assert call(served, "POST", "/sync/from-outlook")["results"]["created"] == 0
