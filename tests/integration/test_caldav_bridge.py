"""The CalDAV bridge against real Radicale and Xandikos servers: incremental changes by
sync token, an invalid token, concurrent edits, a create whose answer was lost, recurring
series with an override and an EXDATE, and text that is long or not ASCII."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from icalendar import Calendar as ICalendar

from calbridge.bridges.base import TimeWindow, WriteOp
from calbridge.bridges.caldav import CalDavBridge, dav
from calbridge.errors import EtagConflict, SyncStateExpired
from calbridge.model import Event, EventField, EventKind, EventStatus, Recurrence, new_id
from tests.fixtures.caldav_servers import CalDavServer, count_requests

OSLO = ZoneInfo("Europe/Oslo")
START = datetime(2031, 3, 10, 9, 0, tzinfo=UTC)
WINDOW = TimeWindow(start=START - timedelta(days=30), end=START + timedelta(days=60))

# A series as another client writes it: daily at 09:00 Oslo time, five times, the third
# removed (EXDATE), the second moved an hour later and retitled (RECURRENCE-ID), with an
# alarm and a property of that client's own.
SERIES = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Example Corp//Other Client//EN
BEGIN:VTIMEZONE
TZID:Europe/Oslo
BEGIN:STANDARD
DTSTART:19701025T030000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
TZNAME:CET
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:19700329T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
TZNAME:CEST
END:DAYLIGHT
END:VTIMEZONE
BEGIN:VEVENT
UID:standup-{uid}
DTSTAMP:20310101T000000Z
DTSTART;TZID=Europe/Oslo:20310324T090000
DTEND;TZID=Europe/Oslo:20310324T091500
RRULE:FREQ=DAILY;COUNT=5
EXDATE;TZID=Europe/Oslo:20310326T090000
SUMMARY:Stand-up
X-OTHER-CLIENT:keep me
BEGIN:VALARM
ACTION:DISPLAY
DESCRIPTION:Stand-up soon
TRIGGER:-PT5M
END:VALARM
END:VEVENT
BEGIN:VEVENT
UID:standup-{uid}
DTSTAMP:20310101T000000Z
RECURRENCE-ID;TZID=Europe/Oslo:20310325T090000
DTSTART;TZID=Europe/Oslo:20310325T100000
DTEND;TZID=Europe/Oslo:20310325T101500
SUMMARY:Stand-up (moved)
END:VEVENT
END:VCALENDAR
"""


def timed(title: str, hours: int = 0, **extra: Any) -> Event:
    start = START + timedelta(hours=hours)
    return Event(title=title, start=start, end=start + timedelta(hours=1),
                 timezone="Europe/Oslo", marker=new_id(), **extra)


def put_raw(server: CalDavServer, calendar: str, name: str, body: str,
            headers: dict[str, str] | None = None) -> requests.Response:
    """What another CalDAV client does: PUT a resource of its own."""
    return server.put(calendar, name, body, headers)


def get_raw(server: CalDavServer, calendar: str, name: str) -> ICalendar:
    response = server.session().get(server.url.rstrip("/") + calendar + name, timeout=15)
    response.raise_for_status()
    return ICalendar.from_ical(response.content)


def member_names(server: CalDavServer, calendar: str) -> list[str]:
    """The resources in a calendar, as a PROPFIND lists them."""
    response = server.session().request(
        "PROPFIND", server.url.rstrip("/") + calendar, data=dav.propfind([dav.GETETAG]),
        headers={"Depth": "1", "Content-Type": dav.XML_TYPE}, timeout=15)
    found = dav.parse_multistatus(response.content, server.url)
    return sorted(dav.last_segment(r.href) for r in found.responses if not r.href.endswith("/"))


@pytest.fixture
def bridge(caldav_server: CalDavServer) -> CalDavBridge:
    return caldav_server.bridge()


# ------------------------------------------------------------------ changes


def test_sync_token_reports_updates_deletions_and_other_clients_writes(
        bridge: CalDavBridge, caldav_server: CalDavServer, caldav_calendar: str) -> None:
    kept = bridge.create(caldav_calendar, timed("Kept"), idempotency_key=new_id())
    dropped = bridge.create(caldav_calendar, timed("Dropped", 2), idempotency_key=new_id())
    initial = bridge.changes(caldav_calendar, None, WINDOW)
    assert initial.complete and initial.cursor and initial.cursor.startswith("sync:")
    assert {e.id for e in initial.changed} == {kept.id, dropped.id}

    bridge.update(caldav_calendar, kept.id, timed("Kept, renamed"),
                  fields=frozenset({EventField.TITLE}))
    bridge.delete(caldav_calendar, dropped.id)
    put_raw(caldav_server, caldav_calendar, "theirs.ics", SERIES.format(uid=new_id()))
    later = bridge.changes(caldav_calendar, initial.cursor, WINDOW)
    assert later.complete is False
    titles = {e.id: e.title for e in later.changed if e.kind is not EventKind.SERIES}
    assert titles[kept.id] == "Kept, renamed"
    assert later.deleted == [dropped.id]
    # The other client's series: its master and its occurrences in the window.
    series = [e for e in later.changed if e.kind is EventKind.SERIES]
    assert [e.id for e in series] == ["theirs.ics"]
    assert sorted(e.title for e in later.changed if e.series_id == "theirs.ics") == [
        "Stand-up", "Stand-up", "Stand-up", "Stand-up (moved)"]

    quiet = bridge.changes(caldav_calendar, later.cursor, WINDOW)
    assert quiet.changed == [] and quiet.deleted == [] and quiet.cursor


def test_an_invalid_sync_token_asks_for_a_full_listing(bridge: CalDavBridge,
                                                       caldav_calendar: str) -> None:
    bridge.create(caldav_calendar, timed("Still here"), idempotency_key=new_id())
    with pytest.raises(SyncStateExpired):
        bridge.changes(caldav_calendar, "sync:http://example.org/ns/sync/no-such-token",
                       WINDOW)
    # What the engine does then: a complete listing with a fresh cursor.
    fresh = bridge.changes(caldav_calendar, None, WINDOW)
    assert fresh.complete and [e.title for e in fresh.changed] == ["Still here"]
    assert bridge.changes(caldav_calendar, fresh.cursor, WINDOW).changed == []


def test_a_moved_ctag_lists_again_and_a_still_one_lists_nothing(
        bridge: CalDavBridge, caldav_calendar: str) -> None:
    # A cursor of a server without sync-collection: its ctag. This one has moved on.
    old = bridge.changes(caldav_calendar, "ctag:an-old-ctag", WINDOW)
    assert old.complete and old.changed == []
    bridge.create(caldav_calendar, timed("New"), idempotency_key=new_id())
    assert old.cursor is not None
    assert [e.title for e in bridge.changes(caldav_calendar, old.cursor, WINDOW).changed] \
        == ["New"]


# ------------------------------------------------------------------ writes


def test_a_concurrent_edit_is_an_etag_conflict_not_overwritten(
        bridge: CalDavBridge, caldav_server: CalDavServer, caldav_calendar: str) -> None:
    created = bridge.create(caldav_calendar, timed("Planning"), idempotency_key=new_id())
    assert created.id and created.etag
    theirs = get_raw(caldav_server, caldav_calendar, created.id)
    for component in theirs.walk("VEVENT"):
        component["SUMMARY"] = "Planning (edited elsewhere)"
    edited = put_raw(caldav_server, caldav_calendar, created.id, theirs.to_ical().decode(),
                     headers={"If-Match": f'"{created.etag}"'})
    assert edited.status_code in (201, 204)

    with pytest.raises(EtagConflict):
        bridge.update(caldav_calendar, created.id, timed("Planning, ours"),
                      etag=created.etag, fields=frozenset({EventField.TITLE}))
    read = bridge.get_event(caldav_calendar, created.id)
    assert read is not None and read.title == "Planning (edited elsewhere)"


class _LosesFirstAnswer(requests.Session):
    """A session whose first request of one method reaches the server but whose answer
    never arrives."""

    def __init__(self, method: str) -> None:
        super().__init__()
        self.method = method
        self.lost = 0

    def request(self, method: str | bytes, url: str | bytes, *args: Any,
                **kwargs: Any) -> requests.Response:
        response = super().request(method, url, *args, **kwargs)
        if method == self.method and not self.lost:
            self.lost += 1
            raise requests.ConnectionError("connection reset before the answer")
        return response


def test_a_create_retried_after_a_lost_answer_leaves_one_resource(
        caldav_server: CalDavServer, caldav_calendar: str) -> None:
    bridge = caldav_server.bridge()
    session = _LosesFirstAnswer("PUT")
    session.auth, session.headers = bridge.http.session.auth, bridge.http.session.headers
    bridge.http.session = session
    written = timed("Retried")
    created = bridge.create(caldav_calendar, written, idempotency_key="link-4711-0")
    assert session.lost == 1
    assert created.marker == written.marker and created.title == "Retried"
    assert member_names(caldav_server, caldav_calendar) == ["link-4711-0.ics"]
    # And a second create with the same key (the engine's own retry) changes nothing.
    again = bridge.create(caldav_calendar, written, idempotency_key="link-4711-0")
    assert again.id == created.id
    assert member_names(caldav_server, caldav_calendar) == ["link-4711-0.ics"]


class _PutsMeet(requests.Session):
    """A session whose first `meet` PUTs wait for one another before they are sent (sent
    one after another, the first never gets past its wait), and whose first PUT's answer
    is lost once the server has it (`lose_first`)."""

    def __init__(self, meet: int, bridge: CalDavBridge, lose_first: bool = True) -> None:
        super().__init__()
        self.auth, self.headers = bridge.http.session.auth, bridge.http.session.headers
        self.trust_env = False
        self._meeting = threading.Barrier(meet, timeout=10)
        self._lock = threading.Lock()
        self.lose_first = lose_first
        self.puts = self.lost = 0

    def request(self, method: str | bytes, url: str | bytes, *args: Any,
                **kwargs: Any) -> requests.Response:
        if method == "PUT":
            with self._lock:
                self.puts += 1
                waits = self.puts <= self._meeting.parties
                loses = self.lose_first and self.puts == 1
            if waits:
                self._meeting.wait()
            response = super().request(method, url, *args, **kwargs)
            if loses:
                self.lost += 1
                raise requests.ConnectionError("connection reset before the answer")
            return response
        return super().request(method, url, *args, **kwargs)


def test_a_batch_of_creates_is_sent_several_at_once_and_a_lost_answer_makes_no_duplicate(
        caldav_server: CalDavServer, caldav_calendar: str) -> None:
    bridge = caldav_server.bridge(CALDAV_MAX_CONCURRENCY="3")
    session = _PutsMeet(3, bridge)
    bridge.http.session = session
    events = [timed(f"Workshop {n}", hours=n) for n in range(7)]
    ops = [WriteOp.create(event, f"link-{n}-{new_id()[:8]}") for n, event in enumerate(events)]
    results = bridge.apply(caldav_calendar, ops)
    assert session.lost == 1  # and three PUTs were in flight together to get here
    assert [r.error for r in results] == [None] * 7
    assert [r.event.title for r in results if r.event] == [e.title for e in events]
    names = sorted(f"{op.idempotency_key}.ics" for op in ops)
    assert member_names(caldav_server, caldav_calendar) == names
    # The same batch again (the engine's retry of a run whose answers were lost): the
    # same copies, no second resource.
    again = bridge.apply(caldav_calendar, ops)
    assert [r.event.id for r in again if r.event] == [r.event.id for r in results if r.event]
    assert member_names(caldav_server, caldav_calendar) == names


def test_many_writers_at_once_keep_their_connections(
        caldav_server: CalDavServer, caldav_calendar: str,
        caplog: pytest.LogCaptureFixture) -> None:
    """Queue workers and a run's writers share one bridge: past `requests`' ten
    connections a host, each next request would open a new one (and log a warning)."""
    bridge = caldav_server.bridge(CALDAV_MAX_CONCURRENCY="16")
    ops = [WriteOp.create(timed(f"Class {n}", hours=n), new_id()) for n in range(48)]
    with caplog.at_level(logging.WARNING, logger="urllib3.connectionpool"):
        results = bridge.apply(caldav_calendar, ops)
    assert [r.error for r in results] == [None] * 48
    assert not [r for r in caplog.records if "pool is full" in r.getMessage()]


def test_a_stale_write_among_concurrent_ones_fails_alone(
        caldav_server: CalDavServer, caldav_calendar: str) -> None:
    bridge = caldav_server.bridge(CALDAV_MAX_CONCURRENCY="4")
    created = [bridge.create(caldav_calendar, timed(f"Review {n}", hours=n),
                             idempotency_key=new_id()) for n in range(4)]
    # Another client edits the second one after calbridge read it.
    theirs = get_raw(caldav_server, caldav_calendar, created[1].id or "")
    for component in theirs.walk("VEVENT"):
        component["SUMMARY"] = "Review 1 (edited elsewhere)"
    assert put_raw(caldav_server, caldav_calendar, created[1].id or "",
                   theirs.to_ical().decode()).status_code in (201, 204)
    bridge.http.session = _PutsMeet(4, bridge, lose_first=False)
    ops = [WriteOp.update(event.id or "", event.model_copy(update={"title": f"{event.title}!"}),
                          etag=event.etag, fields=frozenset({EventField.TITLE}))
           for event in created]
    results = bridge.apply(caldav_calendar, ops)
    assert [type(r.error).__name__ if r.error else r.event.title for r in results
            if r.error or r.event] == ["Review 0!", "EtagConflict", "Review 2!", "Review 3!"]
    kept = bridge.get_event(caldav_calendar, created[1].id or "")
    assert kept is not None and kept.title == "Review 1 (edited elsewhere)"


def test_a_create_is_one_put_and_an_edit_one_read_and_one_put(
        bridge: CalDavBridge, caldav_server: CalDavServer, caldav_calendar: str) -> None:
    # The server's ETag in the PUT answer means it stored what was sent: nothing to read
    # back. The engine reads the copy before an edit; the edit itself then only writes.
    sent = count_requests(bridge)
    created = bridge.create(caldav_calendar, timed("Board"), idempotency_key=new_id())
    assert sent.methods() == ["PUT"]
    stored = caldav_server.session().get(
        caldav_server.url.rstrip("/") + caldav_calendar + (created.id or ""), timeout=15)
    assert created.etag and created.etag == stored.headers["ETag"].strip('"')
    assert (created.title, created.start) == ("Board", START)

    sent.sent.clear()
    current = bridge.get_event(caldav_calendar, created.id or "")
    assert current is not None
    edited = bridge.update(caldav_calendar, current.id or "", timed("Board (room 2)"),
                           etag=current.etag, fields=frozenset({EventField.TITLE}))
    assert sent.methods() == ["GET", "PUT"]
    assert sent.if_match[-1] == f'"{current.etag}"'
    again = bridge.get_event(caldav_calendar, created.id or "")
    assert again is not None and (again.title, again.etag) == ("Board (room 2)", edited.etag)


def test_copies_are_found_by_marker_at_their_names_in_one_report(
        bridge: CalDavBridge, caldav_calendar: str) -> None:
    # After a crash in a large first sync the engine looks up hundreds of copies by their
    # link ids: each was PUT to the name derived from that id, so one calendar-multiget
    # reads them all; a query on the marker property would make the server read the
    # whole calendar once per copy.
    written = [timed(f"Made {n}", hours=n) for n in range(30)] + [timed("Cancelled", hours=40)]
    made = [bridge.create(caldav_calendar, event, idempotency_key=event.marker or "")
            for event in written]
    cancelled = made.pop()
    never = new_id()  # a link whose copy the crash kept from being made
    bridge.update(caldav_calendar, cancelled.id or "",
                  cancelled.model_copy(update={"status": EventStatus.CANCELLED}))
    sent = count_requests(bridge)
    markers = [(event.marker or "", None) for event in made] + [(never, None),
                                                                (cancelled.marker or "", None)]
    found = bridge.find_by_markers(caldav_calendar, markers)
    assert [r.current().id if r.current() else None for r in found] == [
        event.id for event in made] + [None, None]
    assert sent.methods().count("REPORT") == 1 and len(sent.sent) <= 2
    sent.sent.clear()
    assert bridge.find_by_marker(caldav_calendar, never) is None
    one = bridge.find_by_marker(caldav_calendar, made[3].marker or "")
    assert one is not None and one.title == "Made 3"
    # A REPORT each (the one not found also asks whether the calendar is still there).
    assert sent.methods().count("REPORT") == 2 and len(sent.sent) <= 3


def test_a_series_just_read_or_written_gives_its_occurrences_without_a_request(
        bridge: CalDavBridge, caldav_server: CalDavServer, caldav_calendar: str) -> None:
    # The engine asks for a series' occurrences right after the read or the write that
    # gave it the series: the answer is already here.
    put_raw(caldav_server, caldav_calendar, "theirs.ics", SERIES.format(uid=new_id()))
    master = bridge.get_event(caldav_calendar, "theirs.ics")
    assert master is not None and master.kind is EventKind.SERIES
    sent = count_requests(bridge)
    listed = bridge.instances(caldav_calendar, "theirs.ics", WINDOW)
    assert [e.start.astimezone(OSLO).day for e in listed] == [24, 25, 27, 28]
    assert sent.sent == []
    copy = bridge.create(caldav_calendar, master.model_copy(update={
        "id": None, "marker": new_id()}), idempotency_key=new_id())
    copied = bridge.instances(caldav_calendar, copy.id or "", WINDOW)
    assert [e.start.astimezone(OSLO).day for e in copied] == [24, 25, 27, 28]
    assert sent.methods() == ["PUT"]


def test_a_delete_names_the_version_it_removes_and_keeps_one_changed_since(
        bridge: CalDavBridge, caldav_server: CalDavServer, caldav_calendar: str) -> None:
    created = bridge.create(caldav_calendar, timed("Retro"), idempotency_key=new_id())
    theirs = get_raw(caldav_server, caldav_calendar, created.id or "")
    for component in theirs.walk("VEVENT"):
        component["SUMMARY"] = "Retro (moved to Friday)"
    assert put_raw(caldav_server, caldav_calendar, created.id or "",
                   theirs.to_ical().decode()).status_code in (201, 204)

    sent = count_requests(bridge)
    with pytest.raises(EtagConflict):
        bridge.delete(caldav_calendar, created.id or "")
    assert sent.sent[0] == ("DELETE", caldav_calendar + (created.id or ""))
    assert sent.if_match[0] == f'"{created.etag}"'
    read = bridge.get_event(caldav_calendar, created.id or "")
    assert read is not None and read.title == "Retro (moved to Friday)"
    # Once read again (the edit seen), the deletion goes through, even when its answer is
    # lost: the retry's If-Match names a version that is gone (412 or 404), which is no
    # conflict. A second deletion finds nothing to delete and says so.
    session = _LosesFirstAnswer("DELETE")
    session.auth, session.headers = bridge.http.session.auth, bridge.http.session.headers
    bridge.http.session = session
    bridge.delete(caldav_calendar, created.id or "")
    assert session.lost == 1
    assert member_names(caldav_server, caldav_calendar) == []
    assert bridge.delete(caldav_calendar, created.id or "") is False


@pytest.mark.parametrize("description", [
    "Agenda: økonomi, ærlighet; 会议; 🗓️ — «sitat»\nline two, with a comma; and a semicolon\\",
    ("Lang beskrivelse med æøå og emoji 🎉. " * 3000).strip(),
])
def test_long_and_non_ascii_descriptions_survive(bridge: CalDavBridge, caldav_calendar: str,
                                                 description: str) -> None:
    written = timed("Møte 🗓️", description=description, location="Rådhuset, sal 2")
    created = bridge.create(caldav_calendar, written, idempotency_key=new_id())
    read = bridge.get_event(caldav_calendar, created.id)
    assert read is not None
    assert (read.title, read.description, read.location) == (
        "Møte 🗓️", description, "Rådhuset, sal 2")
    listed = list(bridge.list_events(caldav_calendar, WINDOW))
    assert [e.description for e in listed] == [description]


def test_an_update_keeps_what_calbridge_does_not_know(
        bridge: CalDavBridge, caldav_server: CalDavServer, caldav_calendar: str) -> None:
    put_raw(caldav_server, caldav_calendar, "theirs.ics", SERIES.format(uid=new_id()))
    master = bridge.get_event(caldav_calendar, "theirs.ics")
    assert master is not None and master.kind is EventKind.SERIES
    bridge.update(caldav_calendar, "theirs.ics", master.model_copy(
        update={"title": "Daily stand-up"}), etag=master.etag,
        fields=frozenset({EventField.TITLE}))
    stored = get_raw(caldav_server, caldav_calendar, "theirs.ics")
    main = next(c for c in stored.walk("VEVENT") if "RECURRENCE-ID" not in c)
    assert str(main["SUMMARY"]) == "Daily stand-up"
    assert str(main["X-OTHER-CLIENT"]) == "keep me"
    assert [str(a["ACTION"]) for a in main.walk("VALARM")] == ["DISPLAY"]
    assert len(stored.walk("VEVENT")) == 2  # the override is still there


# ------------------------------------------------------------------ recurrence


def _shape(events: list[Event]) -> list[tuple[Any, ...]]:
    return sorted((e.original_start, e.start, e.end, e.title, e.kind) for e in events)


def test_a_series_with_an_override_and_an_exdate_reads_like_a_calendar_view(
        bridge: CalDavBridge, caldav_server: CalDavServer, caldav_calendar: str) -> None:
    put_raw(caldav_server, caldav_calendar, "theirs.ics", SERIES.format(uid=new_id()))
    listed = list(bridge.list_events(caldav_calendar, WINDOW))
    nine = [datetime(2031, 3, day, 9, 0, tzinfo=OSLO) for day in (24, 25, 27, 28)]
    assert [e.original_start for e in listed] == nine
    moved = listed[1]
    assert moved.kind is EventKind.EXCEPTION and moved.title == "Stand-up (moved)"
    assert moved.start == datetime(2031, 3, 25, 10, 0, tzinfo=OSLO)
    assert moved.id == "theirs.ics@20310325T080000Z"
    assert {e.kind for e in listed[::2]} == {EventKind.OCCURRENCE}
    assert all(e.series_id == "theirs.ics" and e.timezone == "Europe/Oslo" for e in listed)
    # Ids are stable: each reads back alone, and as the series' instances.
    assert bridge.get_event(caldav_calendar, moved.id) == moved
    assert _shape(bridge.instances(caldav_calendar, "theirs.ics", WINDOW)) == _shape(listed)

    master = bridge.get_event(caldav_calendar, "theirs.ics")
    assert master is not None and master.kind is EventKind.SERIES
    assert master.recurrence is not None and master.recurrence.rrule == "FREQ=DAILY;COUNT=5"
    assert master.recurrence.exdates == [datetime(2031, 3, 26, 9, 0, tzinfo=OSLO)]
    assert master.start == nine[0] and master.timezone == "Europe/Oslo"


def test_a_series_written_back_keeps_its_occurrences_and_zone(
        bridge: CalDavBridge, caldav_server: CalDavServer, caldav_calendar: str) -> None:
    put_raw(caldav_server, caldav_calendar, "theirs.ics", SERIES.format(uid=new_id()))
    master = bridge.get_event(caldav_calendar, "theirs.ics")
    source = bridge.instances(caldav_calendar, "theirs.ics", WINDOW)
    assert master is not None

    # Written as calbridge writes a series: the master with its rule and EXDATE, then the
    # exception as an update of that occurrence.
    target = caldav_server.new_calendar()
    copy = bridge.create(target, master.model_copy(update={"id": None, "marker": new_id()}),
                         idempotency_key=new_id())
    assert copy.kind is EventKind.SERIES and copy.id
    exception = next(e for e in source if e.kind is EventKind.EXCEPTION)
    copy_id = f"{copy.id}@20310325T080000Z"
    bridge.update(target, copy_id, exception, fields=frozenset(
        {EventField.TITLE, EventField.WHEN}))
    copied = bridge.instances(target, copy.id, WINDOW)
    assert [(e.original_start, e.start, e.end, e.title, e.kind) for e in copied] == [
        (e.original_start, e.start, e.end, e.title, e.kind) for e in source]
    assert {e.timezone for e in copied} == {"Europe/Oslo"}
    stored = get_raw(caldav_server, target, copy.id)
    assert {str(z["TZID"]) for z in stored.walk("VTIMEZONE")} == {"Europe/Oslo"}
    main = next(c for c in stored.walk("VEVENT") if "RECURRENCE-ID" not in c)
    assert main["DTSTART"].params["TZID"] == "Europe/Oslo"

    # Deleting one occurrence is an EXDATE: the occurrence goes, the series stays.
    assert bridge.delete(target, f"{copy.id}@20310327T080000Z") is True
    assert bridge.delete(target, f"{copy.id}@20310327T080000Z") is False
    assert bridge.get_event(target, f"{copy.id}@20310327T080000Z") is None
    left = bridge.instances(target, copy.id, WINDOW)
    assert [e.original_start.day for e in left] == [24, 25, 28]  # type: ignore[union-attr]
    after = bridge.get_event(target, copy.id)
    assert after is not None and after.recurrence is not None
    assert sorted(after.recurrence.exdates) == [datetime(2031, 3, 26, 9, 0, tzinfo=OSLO),
                                                datetime(2031, 3, 27, 9, 0, tzinfo=OSLO)]


def test_the_stored_zone_keeps_every_later_transition(
        bridge: CalDavBridge, caldav_server: CalDavServer, caldav_calendar: str) -> None:
    """A client without a zone database reads a zone from the resource's VTIMEZONE: the
    server must keep all of it (Radicale kept only the first date of a list in one RDATE,
    so summer times decades on read an hour off)."""
    summer = datetime(2031, 7, 7, 9, 0, tzinfo=OSLO)
    copy = bridge.create(caldav_calendar, Event(
        title="Summer meeting", start=summer, end=summer + timedelta(hours=1),
        timezone="Europe/Oslo", marker=new_id()), idempotency_key=new_id())
    assert copy.id
    [zone] = get_raw(caldav_server, caldav_calendar, copy.id).walk("VTIMEZONE")
    read = zone.to_tz(lookup_tzid=False)
    for moment in (summer, datetime(2031, 1, 6, 9, 0, tzinfo=OSLO),
                   datetime(2060, 7, 5, 9, 0, tzinfo=OSLO)):
        assert moment.astimezone(read).utcoffset() == moment.utcoffset(), moment


def test_an_all_day_series_keeps_its_dates(bridge: CalDavBridge, caldav_calendar: str) -> None:
    written = Event(title="Cleaning day", start=date(2031, 3, 3), end=date(2031, 3, 4),
                    all_day=True, kind=EventKind.SERIES, marker=new_id(),
                    recurrence=Recurrence(rrule="FREQ=WEEKLY;COUNT=4",
                                          exdates=[date(2031, 3, 17)]))
    created = bridge.create(caldav_calendar, written, idempotency_key=new_id())
    read = bridge.get_event(caldav_calendar, created.id)
    assert read is not None and read.all_day and read.start == date(2031, 3, 3)
    assert read.recurrence is not None and read.recurrence.exdates == [date(2031, 3, 17)]
    days = [(e.start, e.end) for e in bridge.list_events(caldav_calendar, WINDOW)]
    assert days == [(date(2031, 3, 3), date(2031, 3, 4)), (date(2031, 3, 10), date(2031, 3, 11)),
                    (date(2031, 3, 24), date(2031, 3, 25))]


def test_a_cancelled_occurrence_is_left_out_of_instances(
        bridge: CalDavBridge, caldav_server: CalDavServer, caldav_calendar: str) -> None:
    put_raw(caldav_server, caldav_calendar, "theirs.ics", SERIES.format(uid=new_id()))
    occurrence = "theirs.ics@20310327T080000Z"
    current = bridge.get_event(caldav_calendar, occurrence)
    assert current is not None
    bridge.update(caldav_calendar, occurrence, current.model_copy(
        update={"status": EventStatus.CANCELLED}), fields=frozenset({EventField.STATUS}))
    assert occurrence not in {e.id for e in bridge.instances(caldav_calendar, "theirs.ics",
                                                                 WINDOW)}
    listed = {e.id: e.status for e in bridge.list_events(caldav_calendar, WINDOW)}
    assert listed[occurrence] is EventStatus.CANCELLED


# ------------------------------------------------------------------ zones and floating times

# A weekly series as Google exports it: UTC times, the calendar's zone in X-WR-TIMEZONE.
# Daylight saving starts in Oslo on 30 March 2031, between the first two occurrences.
GOOGLE_EXPORT = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Google Inc//Google Calendar 70.9054//EN
X-WR-CALNAME:Team
X-WR-TIMEZONE:Europe/Oslo
BEGIN:VEVENT
UID:weekly-{uid}@google.com
DTSTAMP:20310101T000000Z
DTSTART:20310324T080000Z
DTEND:20310324T090000Z
RRULE:FREQ=WEEKLY;COUNT=3
SUMMARY:Weekly planning
END:VEVENT
END:VCALENDAR
"""

# Floating times (no TZID, no Z), as a desktop client writes them.
FLOATING = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Example Corp//Desktop Client//EN
{zone_line}BEGIN:VEVENT
UID:{uid}
DTSTAMP:20310101T000000Z
DTSTART:20310324T090000
DTEND:20310324T100000
SUMMARY:Dentist
END:VEVENT
END:VCALENDAR
"""

def test_a_calendar_with_x_wr_timezone_repeats_on_its_zones_wall_clock(
        bridge: CalDavBridge, caldav_server: CalDavServer, caldav_calendar: str) -> None:
    name = "google-weekly.ics"
    assert put_raw(caldav_server, caldav_calendar, name,
                   GOOGLE_EXPORT.format(uid=new_id())).status_code == 201
    found = list(bridge.list_events(caldav_calendar, WINDOW))
    assert [(e.start.astimezone(OSLO).strftime("%d %H:%M"), e.timezone) for e in found] == [
        ("24 09:00", "Europe/Oslo"), ("31 09:00", "Europe/Oslo"), ("07 09:00", "Europe/Oslo")]
    # Edited through calbridge, the export keeps its UTC times and its zone property.
    first = found[0]
    bridge.update(caldav_calendar, first.series_id or "", first.model_copy(update={
        "title": "Weekly planning (new room)"}), fields=frozenset({EventField.TITLE}))
    assert caldav_server.stored_line(caldav_calendar, name, "DTSTART") \
        == "DTSTART:20310324T080000Z"
    assert caldav_server.stored_line(caldav_calendar, name, "X-WR-TIMEZONE") \
        == "X-WR-TIMEZONE:Europe/Oslo"


@pytest.mark.parametrize(("zone_line", "wall"), [
    ("X-WR-TIMEZONE:Europe/Oslo\n", OSLO), ("", UTC)], ids=["calendar-zone", "no-zone"])
def test_floating_times_are_read_on_the_calendars_clock_and_stay_floating(
        bridge: CalDavBridge, caldav_server: CalDavServer, caldav_calendar: str,
        zone_line: str, wall: Any) -> None:
    name = "dentist.ics"
    assert put_raw(caldav_server, caldav_calendar, name, FLOATING.format(
        uid=new_id(), zone_line=zone_line)).status_code == 201
    [read] = bridge.list_events(caldav_calendar, WINDOW)
    assert read.start == datetime(2031, 3, 24, 9, 0, tzinfo=wall)
    # A change of title leaves the times as they were written.
    bridge.update(caldav_calendar, name, read.model_copy(update={"title": "Dentist (Dr Berg)"}),
                  etag=read.etag, fields=frozenset({EventField.TITLE}))
    assert caldav_server.stored_line(caldav_calendar, name, "DTSTART") == "DTSTART:20310324T090000"
    # A moved time is written floating too, on the same clock.
    current = bridge.get_event(caldav_calendar, name)
    assert current is not None
    moved = current.model_copy(update={"start": current.start + timedelta(hours=2),
                                       "end": current.end + timedelta(hours=2)})
    after = bridge.update(caldav_calendar, name, moved, etag=current.etag,
                          fields=frozenset({EventField.WHEN}))
    assert caldav_server.stored_line(caldav_calendar, name, "DTSTART") == "DTSTART:20310324T110000"
    assert caldav_server.stored_line(caldav_calendar, name, "DTEND") == "DTEND:20310324T120000"
    assert after.start == datetime(2031, 3, 24, 11, 0, tzinfo=wall)

