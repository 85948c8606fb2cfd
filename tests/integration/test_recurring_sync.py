"""Recurring series from Outlook into a booking system that has no recurrence: one booking
per occurrence inside a rolling horizon, each linked to its series, against the Graph
emulator and the example booking system, with the engine's clock moved to let days pass."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from calbridge.bridges.base import Capabilities, TimeWindow
from calbridge.model import (
    End,
    Event,
    EventKind,
    EventLink,
    LinkEnd,
    Recurrence,
    ResourceMapping,
    StoredEnd,
    SyncStatus,
)
from calbridge.recurrence import expand
from calbridge.services.decisions import reject_hold
from tests.fixtures.memory_bridge import MemoryBridge
from tests.fixtures.real_bridges import IMMUTABLE, OTHER_ROOM, Bridged
from tests.fixtures.two_bridges import ROOM


def graph_time(moment: datetime) -> dict[str, str]:
    return {"dateTime": moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}


def meeting(bridged: Bridged, subject: str, start: datetime, **extra: Any) -> dict[str, Any]:
    made = bridged.graph.post(f"/users/{ROOM}/events", headers=IMMUTABLE, json={
        "subject": subject, "start": graph_time(start),
        "end": graph_time(start + timedelta(hours=1)), **extra})
    assert made.status_code == 201, made.text
    return made.json()


def test_the_window_rolls_forward_so_events_far_ahead_arrive_when_their_time_comes(
        bridged: Bridged) -> None:
    # A meeting 400 days ahead is outside the year calbridge looks ahead; a delta link
    # keeps the window it was opened with, so without rolling it would never be read.
    far = (bridged.now() + timedelta(days=400)).replace(hour=9, minute=0, second=0,
                                                        microsecond=0)
    meeting(bridged, "Annual general meeting", far)
    bridged.to_booking()
    assert bridged.live_bookings() == []
    bridged.days_pass(40)
    bridged.to_booking()
    assert [b["title"] for b in bridged.live_bookings()] == ["Annual general meeting"]
    assert not [o for o in bridged.to_booking() if o.written]  # and only once


# ------------------------------------------------------------------ series


WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
BERLIN = "W. Europe Standard Time"  # CLDR: Europe/Berlin (as Oslo: the same rules)


def local(moment: datetime, zone: str = "Europe/Berlin") -> datetime:
    return moment.astimezone(ZoneInfo(zone))


def next_weekday(after: datetime, weekday: int) -> datetime:
    days = (weekday - after.weekday()) % 7 or 7
    return after + timedelta(days=days)


def series(bridged: Bridged, subject: str, first: datetime, pattern: dict[str, Any],
           range_: dict[str, Any], zone: str = BERLIN, hours: float = 1,
           **extra: Any) -> dict[str, Any]:
    """A recurring meeting made in Outlook as a person makes it: a master with its
    pattern; `first` is its first occurrence's wall-clock start in `zone`."""
    wall = "%Y-%m-%dT%H:%M:%S"
    made = bridged.graph.post(f"/users/{ROOM}/events", headers=IMMUTABLE, json={
        "subject": subject,
        "start": {"dateTime": first.strftime(wall), "timeZone": zone},
        "end": {"dateTime": (first + timedelta(hours=hours)).strftime(wall), "timeZone": zone},
        "recurrence": {"pattern": pattern, "range": {
            "startDate": first.date().isoformat(), "recurrenceTimeZone": zone, **range_}},
        **extra})
    assert made.status_code == 201, made.text
    assert made.json()["type"] == "seriesMaster"
    return made.json()


def weekly(bridged: Bridged, subject: str, count: int = 4, **extra: Any
           ) -> tuple[dict[str, Any], datetime]:
    """A weekly meeting on Mondays at 09:00 Berlin time, `count` times."""
    first = next_weekday(bridged.now() + timedelta(days=2), 0).replace(
        hour=9, minute=0, second=0, microsecond=0, tzinfo=None)
    master = series(bridged, subject, first,
                    {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"],
                     "firstDayOfWeek": "sunday"},
                    {"type": "numbered", "numberOfOccurrences": count}, **extra)
    return master, first


def instances(bridged: Bridged, master: dict[str, Any]) -> list[dict[str, Any]]:
    start, end = bridged.now() - timedelta(days=1), bridged.now() + timedelta(days=400)
    answer = bridged.graph.get(
        f"/users/{ROOM}/events/{master['id']}/instances", headers=IMMUTABLE, params={
            "startDateTime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "endDateTime": end.strftime("%Y-%m-%dT%H:%M:%SZ"), "$top": "500"})
    assert answer.status_code == 200, answer.text
    return sorted(answer.json()["value"], key=lambda e: e["originalStart"])


def daily_ten_times(bridged: Bridged, master: dict[str, Any], first: datetime) -> None:
    """The series changed, as a person changes it, to every day, ten times."""
    changed = bridged.graph.patch(f"/users/{ROOM}/events/{master['id']}", json={
        "recurrence": {"pattern": {"type": "daily", "interval": 1},
                       "range": {"type": "numbered", "numberOfOccurrences": 10,
                                 "startDate": first.date().isoformat(),
                                 "recurrenceTimeZone": BERLIN}}})
    assert changed.status_code == 200, changed.text


def booked_starts(bridged: Bridged) -> list[datetime]:
    return [local(datetime.fromisoformat(b["start_time"].replace("Z", "+00:00")))
            for b in bridged.live_bookings()]


def test_a_weekly_series_of_four_gives_four_bookings_each_linked_to_its_series(
        bridged: Bridged) -> None:
    master, first = weekly(bridged, "Team meeting")
    outcomes = bridged.to_booking()
    assert [(o.operation, o.status, o.item_type) for o in outcomes] == [
        ("create", "completed", "occurrence")] * 4
    starts = booked_starts(bridged)
    assert [(s.date(), s.hour, s.minute) for s in starts] == [
        ((first + timedelta(weeks=n)).date(), 9, 0) for n in range(4)]
    assert {b["title"] for b in bridged.live_bookings()} == {"Team meeting"}
    links = bridged.container.storage.links.list(bridged.mapping.id)
    assert {(link.item_type, link.series_id) for link in links} == {("occurrence", master["id"])}
    assert sorted(local(link.occurrence_start).date() for link in links) == [
        s.date() for s in starts]
    # Stats count the series once and its occurrences one by one.
    _status, by_type = bridged.container.storage.links.counts()
    assert by_type["occurrence"] == {"synced": 4} and by_type["series"] == {"synced": 1}
    # A second sync changes nothing, and no booking comes back as a new Outlook event.
    assert not [o for o in bridged.to_booking() if o.written]
    assert not [o for o in bridged.to_outlook() if o.written]
    assert len(bridged.view(ROOM, bridged.now(), bridged.now() + timedelta(days=60))) == 4


def test_weekly_changed_to_daily_ten_times_gives_ten_bookings(bridged: Bridged) -> None:
    master, first = weekly(bridged, "Stand-up")
    bridged.to_booking()
    before = {b["start_time"]: b["id"] for b in bridged.live_bookings()}
    daily_ten_times(bridged, master, first)
    bridged.to_booking()
    starts = booked_starts(bridged)
    assert [s.date() for s in starts] == [(first + timedelta(days=n)).date() for n in range(10)]
    assert all((s.hour, s.minute) == (9, 0) for s in starts)
    # The two Mondays still in the series keep their bookings; the other two are cancelled.
    after = {b["start_time"]: b["id"] for b in bridged.live_bookings()}
    kept = {start: booking for start, booking in before.items() if start in after}
    assert len(kept) == 2 and all(after[start] == booking for start, booking in kept.items())


def test_moving_and_renaming_the_series_updates_every_booking_in_place(
        bridged: Bridged) -> None:
    master, first = weekly(bridged, "Council")
    bridged.to_booking()
    ids = [b["id"] for b in bridged.live_bookings()]
    wall = "%Y-%m-%dT%H:%M:%S"
    moved = bridged.graph.patch(f"/users/{ROOM}/events/{master['id']}", json={
        "subject": "Council (open session)",
        "start": {"dateTime": (first + timedelta(hours=1)).strftime(wall), "timeZone": BERLIN},
        "end": {"dateTime": (first + timedelta(hours=2)).strftime(wall), "timeZone": BERLIN}})
    assert moved.status_code == 200, moved.text
    outcomes = [o for o in bridged.to_booking() if o.written]
    assert [(o.operation, o.item_type) for o in outcomes] == [("update", "occurrence")] * 4
    assert [b["id"] for b in bridged.live_bookings()] == ids
    assert {b["title"] for b in bridged.live_bookings()} == {"Council (open session)"}
    assert [(s.date(), s.hour) for s in booked_starts(bridged)] == [
        ((first + timedelta(weeks=n)).date(), 10) for n in range(4)]


def test_one_exception_moves_one_booking_and_one_cancelled_occurrence_cancels_one(
        bridged: Bridged) -> None:
    master, first = weekly(bridged, "Planning")
    bridged.to_booking()
    second, third = instances(bridged, master)[1:3]
    moved = bridged.graph.patch(f"/users/{ROOM}/events/{second['id']}", json={
        "start": {"dateTime": (first + timedelta(weeks=1, hours=2)).strftime(
            "%Y-%m-%dT%H:%M:%S"), "timeZone": BERLIN},
        "end": {"dateTime": (first + timedelta(weeks=1, hours=3)).strftime(
            "%Y-%m-%dT%H:%M:%S"), "timeZone": BERLIN}})
    assert moved.status_code == 200 and moved.json()["type"] == "exception", moved.text
    assert bridged.graph.delete(f"/users/{ROOM}/events/{third['id']}").status_code == 204
    outcomes = [o for o in bridged.to_booking() if o.written]
    assert sorted((o.operation, o.source_id) for o in outcomes) == sorted(
        [("update", second["id"]), ("delete", third["id"])])
    starts = booked_starts(bridged)
    assert [(s.date(), s.hour) for s in starts] == [
        (first.date(), 9), ((first + timedelta(weeks=1)).date(), 11),
        ((first + timedelta(weeks=3)).date(), 9)]


def test_deleting_the_series_cancels_every_booking_and_is_one_deletion_to_the_guard(
        bridged: Bridged) -> None:
    # Twenty occurrences: well over the guard's minimum of ten deletions.
    master, _first = weekly(bridged, "Choir practice", count=20)
    bridged.to_booking()
    assert len(bridged.live_bookings()) == 20
    assert bridged.graph.delete(f"/users/{ROOM}/events/{master['id']}").status_code == 204
    outcomes = bridged.to_booking()
    assert [o.status for o in outcomes if o.operation == "delete"] == ["completed"] * 20
    assert bridged.live_bookings() == []


def test_a_booking_edited_in_the_booking_system_changes_its_occurrence_only(
        bridged: Bridged) -> None:
    master, _first = weekly(bridged, "Reading group")
    bridged.to_booking()
    booking = bridged.live_bookings()[1]
    edited = bridged.bookings.request("PUT", f"/api/events/{booking['id']}",
                                      json={"title": "Reading group (moved to the library)"})
    assert edited.status_code == 200, edited.text
    bridged.to_outlook()
    occurrences = instances(bridged, master)
    assert [(o["type"], o["subject"]) for o in occurrences] == [
        ("occurrence", "Reading group"),
        ("exception", "Reading group (moved to the library)"),
        ("occurrence", "Reading group"), ("occurrence", "Reading group")]
    current = bridged.graph.get(f"/users/{ROOM}/events/{master['id']}", headers=IMMUTABLE)
    assert current.json()["subject"] == "Reading group"
    assert current.json()["recurrence"]["range"]["numberOfOccurrences"] == 4
    # The exception is an echo of the booking when it comes back: nothing more is written.
    assert not [o for o in bridged.to_booking() if o.written]


def test_a_series_keeps_its_wall_clock_time_across_the_change_to_summer_time(
        bridged: Bridged) -> None:
    # Weekly on Mondays at 09:00 Berlin time over the last Sunday of March.
    year = (bridged.now() + timedelta(days=60)).year
    march_end = datetime(year, 3, 31)
    change = march_end - timedelta(days=(march_end.weekday() + 1) % 7)  # last Sunday
    first = change - timedelta(days=13, hours=-9)  # a Monday two weeks before, 09:00
    series(bridged, "Board", first, {"type": "weekly", "interval": 1,
                                     "daysOfWeek": ["monday"], "firstDayOfWeek": "monday"},
           {"type": "numbered", "numberOfOccurrences": 4})
    bridged.to_booking()
    starts = booked_starts(bridged)
    assert [(s.date(), s.hour, s.minute) for s in starts] == [
        ((first + timedelta(weeks=n)).date(), 9, 0) for n in range(4)]
    assert [s.utcoffset() for s in starts] == [timedelta(hours=1)] * 2 + [
        timedelta(hours=2)] * 2


def test_a_series_with_no_end_stops_at_the_horizon_and_grows_as_days_pass(
        bridged: Bridged) -> None:
    first = next_weekday(bridged.now() + timedelta(days=2), 2).replace(
        hour=7, minute=30, second=0, microsecond=0, tzinfo=None)
    series(bridged, "Morning swim", first, {"type": "daily", "interval": 1},
           {"type": "noEnd"})
    settings = bridged.container.settings
    bridged.container.settings = settings.model_copy(update={"recurrence_horizon_days": 30})

    def expected() -> list[date]:
        # One a day at 07:30 Berlin time from the first, each starting before the horizon.
        horizon = bridged.now() + timedelta(days=30)
        days = [(first + timedelta(days=n)).replace(tzinfo=ZoneInfo("Europe/Berlin"))
                for n in range(60)]
        return [day.date() for day in days if day < horizon]

    bridged.to_booking()
    assert [s.date() for s in booked_starts(bridged)] == expected()
    bridged.days_pass(10)
    bridged.to_booking()
    starts = booked_starts(bridged)
    assert [s.date() for s in starts] == expected()
    assert all((s.hour, s.minute) == (7, 30) for s in starts)


# ------------------------------------------------------------------ Outlook ↔ Outlook


def masters(bridged: Bridged, room: str) -> list[dict[str, Any]]:
    """The series masters and single events of a room (`GET …/events` lists those)."""
    answer = bridged.graph.get(f"/users/{room}/events", headers=IMMUTABLE,
                               params={"$top": "500"})
    assert answer.status_code == 200, answer.text
    return answer.json()["value"]


def both_ways(bridged: Bridged, mapping: Any) -> list[Any]:
    return bridged.to_outlook(mapping) + bridged.to_booking(mapping)


def shown(bridged: Bridged, room: str) -> list[tuple[str, str, str]]:
    """(type, subject, start in UTC) of everything a room shows in the next months."""
    rows = bridged.view(room, bridged.now() - timedelta(days=1),
                        bridged.now() + timedelta(days=120))
    return sorted((row["type"], row["subject"], row["start"]["dateTime"][:16]) for row in rows)


def test_a_series_reaches_another_room_as_one_series_with_its_rule(bridged: Bridged) -> None:
    rooms = bridged.map_rooms()
    master, _first = weekly(bridged, "Team meeting")
    outcomes = both_ways(bridged, rooms)
    assert [(o.operation, o.status, o.item_type) for o in outcomes if o.written] == [
        ("create", "completed", "series")]
    copies = masters(bridged, OTHER_ROOM)
    assert [(c["type"], c["subject"]) for c in copies] == [("seriesMaster", "Team meeting")]
    ours, theirs = master["recurrence"], copies[0]["recurrence"]
    assert theirs["pattern"] == ours["pattern"]
    assert {k: v for k, v in theirs["range"].items() if k != "recurrenceTimeZone"} == {
        k: v for k, v in ours["range"].items() if k != "recurrenceTimeZone"}
    assert shown(bridged, OTHER_ROOM) == shown(bridged, ROOM)
    assert len(shown(bridged, ROOM)) == 4
    # One series, four paired occurrences.
    assert bridged.container.storage.links.counts()[1] == {
        "occurrence": {"synced": 4}, "series": {"synced": 1}}
    # Nothing more to do either way, and no copy comes back to the first room.
    assert not [o for o in both_ways(bridged, rooms) if o.written]
    assert [m["type"] for m in masters(bridged, ROOM)] == ["seriesMaster"]


def occurrences_in(bridged: Bridged, room: str) -> list[dict[str, Any]]:
    rows = [row for row in bridged.view(room, bridged.now() - timedelta(days=1),
                                        bridged.now() + timedelta(days=120))
            if row["type"] in ("occurrence", "exception")]
    return sorted(rows, key=lambda row: row["originalStart"])


def test_exceptions_cancellations_and_pattern_changes_reach_the_other_rooms_series(
        bridged: Bridged) -> None:
    rooms = bridged.map_rooms()
    master, first = weekly(bridged, "Planning")
    both_ways(bridged, rooms)
    second, third = instances(bridged, master)[1:3]
    # An exception (moved two hours, retitled) and a cancelled occurrence in room A.
    moved = bridged.graph.patch(f"/users/{ROOM}/events/{second['id']}", json={
        "subject": "Planning (long)",
        "end": {"dateTime": (first + timedelta(weeks=1, hours=3)).strftime(
            "%Y-%m-%dT%H:%M:%S"), "timeZone": BERLIN}})
    assert moved.status_code == 200, moved.text
    assert bridged.graph.delete(f"/users/{ROOM}/events/{third['id']}").status_code == 204
    both_ways(bridged, rooms)
    theirs = occurrences_in(bridged, OTHER_ROOM)
    assert [(o["type"], o["subject"]) for o in theirs] == [
        ("occurrence", "Planning"), ("exception", "Planning (long)"),
        ("occurrence", "Planning")]
    assert shown(bridged, OTHER_ROOM) == shown(bridged, ROOM)
    assert [m["type"] for m in masters(bridged, OTHER_ROOM)] == ["seriesMaster"]
    # An exception made in room B comes back to its occurrence in room A.
    fourth = theirs[2]
    retitled = bridged.graph.patch(f"/users/{OTHER_ROOM}/events/{fourth['id']}",
                                   json={"subject": "Planning (in the library)"})
    assert retitled.status_code == 200, retitled.text
    both_ways(bridged, rooms)
    assert [o["subject"] for o in occurrences_in(bridged, ROOM)] == [
        "Planning", "Planning (long)", "Planning (in the library)"]
    assert not [o for o in both_ways(bridged, rooms) if o.written]
    # Weekly → daily ten times: the other room's series follows, still one series.
    daily_ten_times(bridged, master, first)
    both_ways(bridged, rooms)
    assert len(occurrences_in(bridged, OTHER_ROOM)) == 10
    assert shown(bridged, OTHER_ROOM) == shown(bridged, ROOM)
    assert [m["recurrence"]["pattern"]["type"] for m in masters(bridged, OTHER_ROOM)] == [
        "daily"]
    # Deleting the series in room A deletes the other room's series.
    assert bridged.graph.delete(f"/users/{ROOM}/events/{master['id']}").status_code == 204
    both_ways(bridged, rooms)
    assert masters(bridged, OTHER_ROOM) == []
    assert occurrences_in(bridged, OTHER_ROOM) == []


def test_notices_naming_only_the_master_bring_the_whole_series_across(
        bridged: Bridged) -> None:
    # Graph's change notifications for a series name its master, whatever changed in it
    # (an exception, a cancelled occurrence): each is handled as the webhook handles it.
    rooms = bridged.map_rooms()

    def notice(master_id: str) -> None:
        engine = bridged.engine
        engine.sync_item(bridged.fresh(), End.B, master_id, "webhook")
        engine.sync_item(bridged.fresh(rooms), End.A, master_id, "webhook")

    master, first = weekly(bridged, "Yoga")
    notice(master["id"])
    assert [local(s).date() for s in booked_starts(bridged)] == [
        (first + timedelta(weeks=n)).date() for n in range(4)]
    assert [m["type"] for m in masters(bridged, OTHER_ROOM)] == ["seriesMaster"]
    second, third = instances(bridged, master)[1:3]
    assert bridged.graph.patch(f"/users/{ROOM}/events/{second['id']}",
                               json={"subject": "Yoga (outdoors)"}).status_code == 200
    assert bridged.graph.delete(f"/users/{ROOM}/events/{third['id']}").status_code == 204
    notice(master["id"])
    assert [b["title"] for b in bridged.live_bookings()] == ["Yoga", "Yoga (outdoors)", "Yoga"]
    assert [(o["type"], o["subject"]) for o in occurrences_in(bridged, OTHER_ROOM)] == [
        ("occurrence", "Yoga"), ("exception", "Yoga (outdoors)"), ("occurrence", "Yoga")]
    assert bridged.graph.delete(f"/users/{ROOM}/events/{master['id']}").status_code == 204
    notice(master["id"])
    assert bridged.live_bookings() == []
    assert masters(bridged, OTHER_ROOM) == []


class RecurringBoard(MemoryBridge):
    """A calendar system with recurrence whose rules may be ones Outlook cannot express
    (an RFC 5545 calendar such as CalDAV's): masters with their RRULE, listed as their
    occurrences, as Graph's calendar view lists them."""

    type_name = "board"
    capabilities: ClassVar[Capabilities] = Capabilities(delta=True, recurrence=True)

    def add_series(self, calendar_id: str, title: str, start: datetime, rrule: str) -> Event:
        return self._store(calendar_id, Event(
            id=f"series-{len(self.events[calendar_id]) + 1}", title=title, start=start,
            end=start + timedelta(minutes=30), timezone="Europe/Oslo",
            kind=EventKind.SERIES, recurrence=Recurrence(rrule=rrule)))

    def list_events(self, calendar_id: str, window: TimeWindow) -> Iterator[Event]:
        for event in list(super().list_events(calendar_id, window)):
            if event.kind is EventKind.SERIES and event.id:
                yield from self.instances(calendar_id, event.id, window)
            else:
                yield event

    def instances(self, calendar_id: str, series_id: str, window: TimeWindow) -> list[Event]:
        master = self._calendar(calendar_id).get(series_id)
        if master is None or master.recurrence is None:
            return []
        found = expand(master.recurrence.rrule, master.start, master.end, master.timezone,
                       master.recurrence.exdates, window.start, window.end)
        return [master.model_copy(update={
            "id": f"{series_id}@{each.start.isoformat()}", "kind": EventKind.OCCURRENCE,
            "series_id": series_id, "original_start": each.start, "start": each.start,
            "end": each.end, "recurrence": None}) for each in found]


def test_a_rule_outlook_cannot_express_goes_across_one_occurrence_at_a_time(
        bridged: Bridged) -> None:
    board = RecurringBoard("board", ("studio",))
    bridged.container.bridges["board"] = board
    mapping = bridged.container.storage.mappings.add(ResourceMapping(
        a=StoredEnd(bridge="board", calendar_id="studio"),
        b=StoredEnd(bridge="outlook", calendar_id=OTHER_ROOM)))
    start = (bridged.now() + timedelta(days=3)).replace(hour=8, minute=0, second=0,
                                                        microsecond=0)
    series_event = board.add_series("studio", "Open studio", start,
                                    "FREQ=HOURLY;INTERVAL=2;COUNT=5")
    engine = bridged.engine
    outcomes = engine.run(bridged.fresh(mapping), End.A)
    assert [(o.operation, o.status) for o in outcomes if o.written] == [
        ("create", "completed")] * 5
    copies = bridged.view(OTHER_ROOM, start - timedelta(hours=1), start + timedelta(days=1))
    assert sorted((c["type"], c["start"]["dateTime"][:16]) for c in copies) == [
        ("singleInstance", (start + timedelta(hours=2 * n)).strftime("%Y-%m-%dT%H:%M"))
        for n in range(5)]
    series_links = [link for link in bridged.container.storage.links.list(mapping.id)
                    if link.item_type == "series"]
    assert [(link.event_id(End.A), link.expanded_because) for link in series_links] == [
        (series_event.id, "Outlook has no hourly recurrence")]
    assert not [o for o in engine.run(bridged.fresh(mapping), End.A) if o.written]
    assert not [o for o in engine.run(bridged.fresh(mapping), End.B) if o.written]


def test_all_day_series_stay_all_day_in_the_booking_system_and_the_other_room(
        bridged: Bridged) -> None:
    rooms = bridged.map_rooms()
    first = next_weekday(bridged.now() + timedelta(days=2), 4).replace(
        hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
    wall = "%Y-%m-%dT%H:%M:%S"
    made = bridged.graph.post(f"/users/{ROOM}/events", headers=IMMUTABLE, json={
        "subject": "Market day", "isAllDay": True,
        "start": {"dateTime": first.strftime(wall), "timeZone": BERLIN},
        "end": {"dateTime": (first + timedelta(days=1)).strftime(wall), "timeZone": BERLIN},
        "recurrence": {"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["friday"]},
                       "range": {"type": "numbered", "numberOfOccurrences": 3,
                                 "startDate": first.date().isoformat()}}})
    assert made.status_code == 201, made.text
    bridged.to_booking()
    both_ways(bridged, rooms)
    bookings = bridged.live_bookings()
    assert [(b["all_day"], b["start_time"][:10]) for b in bookings] == [
        (True, (first + timedelta(weeks=n)).date().isoformat()) for n in range(3)]
    theirs = occurrences_in(bridged, OTHER_ROOM)
    assert [(o["isAllDay"], o["start"]["dateTime"][:10]) for o in theirs] == [
        (True, (first + timedelta(weeks=n)).date().isoformat()) for n in range(3)]
    assert [m["isAllDay"] for m in masters(bridged, OTHER_ROOM)] == [True]


def test_a_series_in_new_york_time_keeps_nine_oclock_there_in_the_other_room(
        bridged: Bridged) -> None:
    # Weekly on Tuesdays at 09:00 New York time, over the second Sunday of March.
    rooms = bridged.map_rooms()
    year = (bridged.now() + timedelta(days=60)).year
    march = datetime(year, 3, 1)
    change = march + timedelta(days=(6 - march.weekday()) % 7 + 7)  # second Sunday
    first = change - timedelta(days=12) + timedelta(hours=9)  # a Tuesday, 09:00
    series(bridged, "Standup (NY)", first, {"type": "weekly", "interval": 1,
                                            "daysOfWeek": ["tuesday"]},
           {"type": "numbered", "numberOfOccurrences": 4}, zone="Eastern Standard Time")
    both_ways(bridged, rooms)
    theirs = occurrences_in(bridged, OTHER_ROOM)
    starts = [local(datetime.fromisoformat(o["start"]["dateTime"][:19]).replace(tzinfo=UTC),
                    "America/New_York") for o in theirs]
    assert [(s.date(), s.hour) for s in starts] == [
        ((first + timedelta(weeks=n)).date(), 9) for n in range(4)]
    assert shown(bridged, OTHER_ROOM) == shown(bridged, ROOM)


def test_a_series_synced_occurrence_by_occurrence_before_is_never_doubled(
        bridged: Bridged) -> None:
    # Before series were kept as series, an occurrence went to the other room as an event
    # of its own: such a pair stays, and the series keeps going across that way.
    rooms = bridged.map_rooms()
    master, _first = weekly(bridged, "Orchestra")
    first_occurrence = instances(bridged, master)[0]
    copy = bridged.graph.post(f"/users/{OTHER_ROOM}/events", headers=IMMUTABLE, json={
        "subject": "Orchestra", "start": first_occurrence["start"],
        "end": first_occurrence["end"]}).json()
    old = EventLink(mapping_id=rooms.id, origin=End.A, status=SyncStatus.SYNCED,
                    a=LinkEnd(bridge="outlook", calendar_id=ROOM,
                              event_id=first_occurrence["id"]),
                    b=LinkEnd(bridge="outlook", calendar_id=OTHER_ROOM, event_id=copy["id"]))
    bridged.container.storage.links.add(old)
    both_ways(bridged, rooms)
    assert [m["type"] for m in masters(bridged, OTHER_ROOM)] == ["singleInstance"] * 4
    assert shown(bridged, OTHER_ROOM) == [
        ("singleInstance", subject, start) for _type, subject, start in shown(bridged, ROOM)]
    series_links = [link for link in bridged.container.storage.links.list(rooms.id)
                    if link.item_type == "series"]
    assert [link.expanded_because for link in series_links] == [
        "its occurrences were already synced one by one"]
    assert not [o for o in both_ways(bridged, rooms) if o.written]


def test_deleting_every_series_of_a_room_is_held_by_the_guard(bridged: Bridged) -> None:
    # Eleven series, each one deletion to the guard: deleting them all is a wipe.
    rooms = bridged.map_rooms()
    made = [weekly(bridged, f"Course {n}", count=2)[0] for n in range(11)]
    assert not [o for o in both_ways(bridged, rooms) if o.status == "held"]
    assert len(masters(bridged, OTHER_ROOM)) == 11
    for master in made:
        assert bridged.graph.delete(f"/users/{ROOM}/events/{master['id']}").status_code == 204
    outcomes = bridged.to_outlook(rooms)
    assert [(o.operation, o.status, o.item_type) for o in outcomes if o.status == "held"] == [
        ("delete", "held", "series")] * 11
    assert len(masters(bridged, OTHER_ROOM)) == 11
    holds = bridged.container.storage.holds.list()
    assert [len(hold.link_ids) for hold in holds] == [11]
    # The operator rejects it: room A gets its series back from room B's copies.
    _hold, restored = reject_hold(bridged.container, holds[0].id)
    assert [(o.operation, o.status) for o in restored if o.written] == [
        ("create", "completed")] * 11
    assert sorted(m["subject"] for m in masters(bridged, ROOM)) == sorted(
        f"Course {n}" for n in range(11))
    assert {m["type"] for m in masters(bridged, ROOM)} == {"seriesMaster"}
    assert shown(bridged, ROOM) == shown(bridged, OTHER_ROOM)
    assert not [o for o in both_ways(bridged, rooms) if o.written]


def test_a_series_deleted_while_nobody_watched_is_found_by_a_fresh_listing(
        bridged: Bridged) -> None:
    rooms = bridged.map_rooms()
    master, _first = weekly(bridged, "Book club")
    both_ways(bridged, rooms)
    # One occurrence cancelled, then the whole series, each read by a fresh listing.
    second = instances(bridged, master)[1]
    assert bridged.graph.delete(f"/users/{ROOM}/events/{second['id']}").status_code == 204
    bridged.days_pass(2)
    outcomes = bridged.to_outlook(rooms)
    assert [(o.operation, o.status, o.item_type) for o in outcomes if o.written] == [
        ("delete", "completed", "occurrence")]
    assert len(occurrences_in(bridged, OTHER_ROOM)) == 3
    assert bridged.graph.delete(f"/users/{ROOM}/events/{master['id']}").status_code == 204
    bridged.days_pass(2)  # the sync window has moved on: a fresh listing, no delta
    outcomes = bridged.to_outlook(rooms)
    assert [(o.operation, o.status, o.item_type) for o in outcomes if o.written] == [
        ("delete", "completed", "series")]
    assert masters(bridged, OTHER_ROOM) == []
