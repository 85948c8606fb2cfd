"""Google Calendar as an equal end: a booking resource, an Outlook room and a Google
calendar kept in step in any pair — the engine in this process over the example booking
system, the Graph emulator and the Google Calendar emulator, storage on Azurite."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from calbridge.host.azurite import Azurite
from calbridge.model import End, ResourceMapping, StoredEnd
from examples.booking_system import BookingSystemServer
from tests.fixtures.google import GoogleClient, google_env
from tests.fixtures.graph import GraphClient, weekly_series
from tests.fixtures.real_bridges import IMMUTABLE, Bridged, assemble
from tests.fixtures.two_bridges import RESOURCE, ROOM

CALENDAR = "room-c@rooms.example.org"  # a Google room calendar


@pytest.fixture
def tri(azurite: Azurite, e2e_booking_system: BookingSystemServer, graph: GraphClient,
        google: GoogleClient) -> Iterator[Bridged]:
    """All three systems; the booking mapping room_101 ↔ Outlook room A stored."""
    settings = {k: v for k, v in google_env(google.emulator).items()
                if k.startswith("GOOGLE_CALENDAR_")}
    world = assemble(azurite, e2e_booking_system, graph,
                     bridges="booking_system,outlook,google_calendar", **settings)
    yield world
    world.bookings.close()


def mapped(world: Bridged, a: tuple[str, str], b: tuple[str, str]) -> ResourceMapping:
    return world.container.storage.mappings.add(ResourceMapping(
        a=StoredEnd(bridge=a[0], calendar_id=a[1]), b=StoredEnd(bridge=b[0], calendar_id=b[1])))


def rounds(world: Bridged, *mappings: ResourceMapping) -> list[Any]:
    """One sync round: both directions of every mapping."""
    engine = world.engine
    return [outcome for mapping in mappings for end in End
            for outcome in engine.run(world.fresh(mapping), end)]


def google_events(google: GoogleClient, *, single: bool = True) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    items, _page = google.pages(f"/calendars/{CALENDAR}/events", {
        "singleEvents": "true" if single else "false",
        "timeMin": (now - timedelta(days=2)).isoformat(),
        "timeMax": (now + timedelta(days=120)).isoformat()})
    return [item for item in items if item.get("status") != "cancelled"]


def starts(items: list[dict[str, Any]]) -> list[str]:
    """Start instants (UTC, to the minute) of Google events or Outlook events."""
    found = []
    for item in items:
        start = item["start"]
        moment = datetime.fromisoformat(start["dateTime"].replace("Z", "+00:00")[:25]
                                        if "+" in start["dateTime"] or "Z" in start["dateTime"]
                                        else start["dateTime"][:19] + "+00:00")
        found.append(moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M"))
    return sorted(found)


def soon(hours: int = 0) -> datetime:
    return (datetime.now(UTC) + timedelta(days=3)).replace(
        hour=9, minute=0, second=0, microsecond=0) + timedelta(hours=hours)


def test_bookings_and_google_events_follow_each_other(tri: Bridged,
                                                       google: GoogleClient) -> None:
    pair = mapped(tri, ("booking_system", RESOURCE), ("google_calendar", CALENDAR))
    booking = tri.bookings.create(resource_id=RESOURCE, title="Choir", start_time=soon()
                                  .isoformat().replace("+00:00", "Z"),
                                  end_time=soon(1).isoformat().replace("+00:00", "Z"))
    rounds(tri, pair)
    [copy] = google_events(google)
    assert (copy["summary"], starts([copy])) == ("Choir", [soon().strftime("%Y-%m-%dT%H:%M")])
    # Edited in Google: the booking follows, nothing echoes.
    assert google.patch(f"/calendars/{CALENDAR}/events/{copy['id']}",
                        json={"summary": "Choir (alto section)"}).status_code == 200
    rounds(tri, pair)
    assert [b["title"] for b in tri.live_bookings()] == ["Choir (alto section)"]
    assert not [o for o in rounds(tri, pair) if o.written]
    # Deleted in Google: the booking is cancelled.
    assert google.delete(f"/calendars/{CALENDAR}/events/{copy['id']}").status_code == 204
    rounds(tri, pair)
    assert tri.live_bookings() == []
    assert booking["id"]


def test_an_outlook_series_stays_a_series_in_google_and_back(tri: Bridged,
                                                              google: GoogleClient) -> None:
    pair = mapped(tri, ("outlook", ROOM), ("google_calendar", CALENDAR))
    first = soon() + timedelta(days=(7 - soon().weekday()) % 7)  # a Monday, 09:00 UTC
    made = tri.graph.post(f"/users/{ROOM}/events", headers=IMMUTABLE,
                          json=weekly_series(first))
    assert made.status_code == 201, made.text
    rounds(tri, pair)
    masters = google_events(google, single=False)
    assert [(m["summary"], len(m.get("recurrence", []))) for m in masters] == [
        ("Weekly sync", 1)]
    outlook = tri.view(ROOM, first - timedelta(days=1), first + timedelta(days=60))
    assert starts(google_events(google)) == starts(outlook)
    assert len(outlook) == 4
    # An exception and a cancellation in Google reach their Outlook occurrences.
    instances = sorted(google_events(google), key=lambda e: e["start"]["dateTime"])
    assert google.patch(f"/calendars/{CALENDAR}/events/{instances[1]['id']}",
                        json={"summary": "Weekly sync (visitors)"}).status_code == 200
    assert google.delete(f"/calendars/{CALENDAR}/events/{instances[2]['id']}").status_code == 204
    rounds(tri, pair)
    outlook = sorted(tri.view(ROOM, first - timedelta(days=1), first + timedelta(days=60)),
                     key=lambda e: e["start"]["dateTime"])
    assert [(e["type"], e["subject"]) for e in outlook] == [
        ("occurrence", "Weekly sync"), ("exception", "Weekly sync (visitors)"),
        ("occurrence", "Weekly sync")]
    assert not [o for o in rounds(tri, pair) if o.written]


def test_a_google_series_with_a_cancelled_date_reaches_outlook_as_a_series(
        tri: Bridged, google: GoogleClient) -> None:
    pair = mapped(tri, ("google_calendar", CALENDAR), ("outlook", ROOM))
    first = soon()
    local = first.strftime("%Y%m%dT%H%M%SZ")
    skipped = (first + timedelta(weeks=1)).strftime("%Y%m%dT%H%M%SZ")
    made = google.post(f"/calendars/{CALENDAR}/events", json={
        "summary": "Yoga", "start": {"dateTime": first.isoformat(), "timeZone": "UTC"},
        "end": {"dateTime": (first + timedelta(hours=1)).isoformat(), "timeZone": "UTC"},
        "recurrence": ["RRULE:FREQ=WEEKLY;COUNT=4", f"EXDATE:{skipped}"]})
    assert made.status_code == 200, made.text
    assert local
    rounds(tri, pair)
    outlook = tri.view(ROOM, first - timedelta(days=1), first + timedelta(days=60))
    assert Counter(e["type"] for e in outlook) == Counter({"occurrence": 3})
    assert starts(outlook) == starts(google_events(google))
    answer = tri.graph.get(f"/users/{ROOM}/events", headers=IMMUTABLE)
    assert [e["type"] for e in answer.json()["value"]] == ["seriesMaster"]
    assert not [o for o in rounds(tri, pair) if o.written]


def test_three_systems_mapped_to_each_other_hold_each_event_once(
        tri: Bridged, google: GoogleClient) -> None:
    # Every pair mapped: a booking, an Outlook meeting and a Google event each reach the
    # other two exactly once, and nothing travels on or comes back.
    pairs = [tri.mapping, mapped(tri, ("outlook", ROOM), ("google_calendar", CALENDAR)),
             mapped(tri, ("booking_system", RESOURCE), ("google_calendar", CALENDAR))]
    tri.bookings.create(resource_id=RESOURCE, title="Born in booking",
                        start_time=soon().isoformat().replace("+00:00", "Z"),
                        end_time=soon(1).isoformat().replace("+00:00", "Z"))
    wall = "%Y-%m-%dT%H:%M:%S"
    assert tri.graph.post(f"/users/{ROOM}/events", headers=IMMUTABLE, json={
        "subject": "Born in Outlook",
        "start": {"dateTime": soon(2).strftime(wall), "timeZone": "UTC"},
        "end": {"dateTime": soon(3).strftime(wall), "timeZone": "UTC"}}).status_code == 201
    assert google.post(f"/calendars/{CALENDAR}/events", json={
        "summary": "Born in Google",
        "start": {"dateTime": soon(4).isoformat(), "timeZone": "UTC"},
        "end": {"dateTime": soon(5).isoformat(), "timeZone": "UTC"}}).status_code == 200
    for _ in range(2):
        rounds(tri, *pairs)
    everyone = Counter({"Born in booking": 1, "Born in Outlook": 1, "Born in Google": 1})
    assert Counter(b["title"] for b in tri.live_bookings()) == everyone
    outlook = tri.view(ROOM, soon(-1), soon(24))
    assert Counter(e["subject"] for e in outlook) == everyone
    assert Counter(e["summary"] for e in google_events(google)) == everyone
    assert not [o for o in rounds(tri, *pairs) if o.written]
