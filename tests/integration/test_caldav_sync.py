"""CalDAV as an equal end: a booking resource or an Outlook room kept in step with a
calendar on a real Radicale or Xandikos server — the engine in this process over the
example booking system and the Graph emulator, storage on Azurite — and CalDAV calendars
polled on their own timer (CALDAV_POLL_SCHEDULE)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from calbridge.bridges.base import TimeWindow
from calbridge.bridges.caldav import CalDavBridge
from calbridge.host.azurite import Azurite
from calbridge.model import (
    Direction,
    End,
    EventKind,
    EventLink,
    EventStatus,
    LinkEnd,
    ResourceMapping,
    StoredEnd,
    SyncStatus,
)
from calbridge.services import polling
from calbridge.store.clients import table_service
from calbridge.store.protocols import LinkWrite
from examples.booking_system import BookingSystemServer
from tests.fixtures.caldav_servers import CalDavServer, count_requests
from tests.fixtures.graph import GraphClient, weekly_series
from tests.fixtures.real_bridges import IMMUTABLE, OTHER_ROOM, Bridged, assemble
from tests.fixtures.storage import TableRequests
from tests.fixtures.two_bridges import RESOURCE, ROOM

CALDAV_TIMER, CALDAV_EVERY = "CALDAV_POLL_SCHEDULE", "30 */2 * * * *"


@pytest.fixture
def world(azurite: Azurite, e2e_booking_system: BookingSystemServer, graph: GraphClient,
          caldav_server: CalDavServer) -> Iterator[Bridged]:
    settings = {k: v for k, v in caldav_server.env().items() if k.startswith("CALDAV_")}
    settings[CALDAV_TIMER] = CALDAV_EVERY
    built = assemble(azurite, e2e_booking_system, graph,
                     bridges="booking_system,outlook,caldav", **settings)
    yield built
    built.bookings.close()


def mapped(world: Bridged, a: tuple[str, str], b: tuple[str, str]) -> ResourceMapping:
    return world.container.storage.mappings.add(ResourceMapping(
        a=StoredEnd(bridge=a[0], calendar_id=a[1]), b=StoredEnd(bridge=b[0], calendar_id=b[1])))


def rounds(world: Bridged, *mappings: ResourceMapping) -> list[Any]:
    return [outcome for mapping in mappings for end in End
            for outcome in world.engine.run(world.fresh(mapping), end)]


def soon(hours: int = 0) -> datetime:
    return (datetime.now(UTC) + timedelta(days=3)).replace(
        hour=9, minute=0, second=0, microsecond=0) + timedelta(hours=hours)


def live(bridge: CalDavBridge, calendar: str) -> list[Any]:
    window = TimeWindow(start=soon(-24 * 5), end=soon(24 * 60))
    return [e for e in bridge.list_events(calendar, window)
            if e.status is not EventStatus.CANCELLED]


RAW_EVENT = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Example Corp//Other Client//EN
BEGIN:VEVENT
UID:{uid}
DTSTAMP:20300101T000000Z
DTSTART:{start}
DTEND:{end}
SUMMARY:{title}
END:VEVENT
END:VCALENDAR
"""


def raw_event(uid: str, title: str, start: datetime, end: datetime) -> str:
    """A timed event as another client writes it (UTC times)."""
    stamp = "%Y%m%dT%H%M%SZ"
    return RAW_EVENT.format(uid=uid, title=title, start=start.strftime(stamp),
                            end=end.strftime(stamp))


def table_rows(world: Bridged) -> dict[tuple[str, str, str], str]:
    """Every row of the test's tables on Azurite with its etag: any write changes this."""
    service = table_service(world.container.settings)
    prefix = world.container.settings.table_prefix
    rows = {}
    for table in service.list_tables():
        if not table.name.startswith(prefix):
            continue
        for entity in service.get_table_client(table.name).list_entities():
            rows[(table.name, entity["PartitionKey"], entity["RowKey"])] = \
                entity.metadata["etag"]
    return rows


def test_a_quiet_poll_of_a_caldav_calendar_is_one_report_and_no_table_write(
        world: Bridged, caldav_server: CalDavServer) -> None:
    calendar = caldav_server.new_calendar()
    pair = mapped(world, ("booking_system", RESOURCE), ("caldav", calendar))
    made = caldav_server.put(calendar, "rehearsal.ics", raw_event(
        "rehearsal-1", "Rehearsal", soon(), soon(1)))
    assert made.status_code == 201
    caldav = world.container.bridges["caldav"]
    assert isinstance(caldav, CalDavBridge)
    # The CalDAV timer lists the calendar and books the event; the shared timer reads the
    # booking end (its copy comes back as an echo); the CalDAV timer once more.
    first = polling.poll_changes(world.container, due_only=True, schedule_setting=CALDAV_TIMER)
    assert [(c.bridge, c.mapping.id) for c in first.polled] == [("caldav", pair.id)]
    assert [b["title"] for b in world.live_bookings()] == ["Rehearsal"]
    polling.poll_changes(world.container, due_only=True)
    polling.poll_changes(world.container, due_only=True, schedule_setting=CALDAV_TIMER)

    sent = count_requests(caldav)
    before = table_rows(world)
    quiet = polling.poll_changes(world.container, due_only=True, schedule_setting=CALDAV_TIMER)

    assert [c.calendar_id for c in quiet.polled] == [calendar]
    assert sent.sent == [("REPORT", calendar)]
    assert table_rows(world) == before
    assert [b["title"] for b in world.live_bookings()] == ["Rehearsal"]


def test_caldav_calendars_are_polled_by_their_own_timer_only(
        world: Bridged, caldav_server: CalDavServer) -> None:
    calendar = caldav_server.new_calendar()
    pair = mapped(world, ("booking_system", RESOURCE), ("caldav", calendar))
    caldav = world.container.bridges["caldav"]
    assert isinstance(caldav, CalDavBridge)
    sent = count_requests(caldav)

    own = polling.poll_changes(world.container, due_only=True, schedule_setting=CALDAV_TIMER)
    assert [(c.mapping.id, c.end) for c in own.polled] == [(pair.id, End.B)]
    assert sent.sent and {path for _, path in sent.sent} == {calendar}

    sent.sent.clear()
    shared = polling.poll_changes(world.container, due_only=True)
    assert sent.sent == []
    assert ("caldav", calendar) not in {(c.bridge, c.calendar_id) for c in shared.polled}
    assert (pair.id, End.A) in {(c.mapping.id, c.end) for c in shared.polled}
    # An operator's poll (POST /bridges/poll-changes) still reads every calendar.
    every = polling.poll_changes(world.container)
    assert {(c.mapping.id, c.end) for c in every.polled} >= {(pair.id, End.A), (pair.id, End.B)}

    stats = polling.stats(world.container)
    schedules = {(r["bridge"], r["calendar_id"]): r["poll_schedule"] for r in stats["calendars"]}
    assert schedules[("caldav", calendar)] == CALDAV_EVERY
    assert schedules[("booking_system", RESOURCE)] == world.container.settings.poll_schedule


def test_a_floating_caldav_event_is_booked_on_the_calendars_clock_and_stays_floating(
        world: Bridged, caldav_server: CalDavServer) -> None:
    calendar = caldav_server.new_calendar()
    pair = mapped(world, ("booking_system", RESOURCE), ("caldav", calendar))
    day = soon().date()
    wall = f"{day:%Y%m%d}T090000"
    # As a desktop client writes it in a calendar whose zone is Oslo: 09:00 there.
    floating = RAW_EVENT.replace("BEGIN:VEVENT", "X-WR-TIMEZONE:Europe/Oslo\nBEGIN:VEVENT")
    made = caldav_server.put(calendar, "yoga.ics", floating.format(
        uid="yoga-1", title="Yoga", start=wall, end=f"{day:%Y%m%d}T100000"))
    assert made.status_code == 201
    rounds(world, pair)
    [booking] = world.live_bookings()
    oslo_nine = datetime.combine(day, time(9), tzinfo=ZoneInfo("Europe/Oslo"))
    assert datetime.fromisoformat(booking["start_time"].replace("Z", "+00:00")) == oslo_nine
    # Retitled in the booking system: the title reaches CalDAV, the times stay floating.
    edited = world.bookings.request("PUT", f"/api/events/{booking['id']}",
                                    json={"title": "Yoga (hall B)"})
    assert edited.status_code == 200, edited.text
    rounds(world, pair)
    assert caldav_server.stored_line(calendar, "yoga.ics", "SUMMARY") == "SUMMARY:Yoga (hall B)"
    assert caldav_server.stored_line(calendar, "yoga.ics", "DTSTART") == f"DTSTART:{wall}"
    assert not [o for o in rounds(world, pair) if o.written]


def test_an_invalid_sync_token_means_one_complete_listing_without_duplicates(
        world: Bridged, caldav_server: CalDavServer) -> None:
    calendar = caldav_server.new_calendar()
    pair = mapped(world, ("booking_system", RESOURCE), ("caldav", calendar))
    for name, hours in (("stays", 0), ("goes", 2)):
        made = caldav_server.put(calendar, f"{name}.ics", raw_event(
            f"{name}-1", name.capitalize(), soon(hours), soon(hours + 1)))
        assert made.status_code == 201
    rounds(world, pair)
    assert [b["title"] for b in world.live_bookings()] == ["Stays", "Goes"]
    # The server forgets the token (a restore, a cleanup): calbridge's cursor is refused.
    cursors = world.container.storage.cursors
    stored = cursors.for_end("caldav", calendar, pair.id)
    assert stored is not None and stored.cursor and stored.cursor.startswith("sync:")
    cursors.save(stored.model_copy(update={"cursor": "sync:" + stored.cursor[5:] + "-gone"}))
    gone = caldav_server.session().delete(
        caldav_server.url.rstrip("/") + calendar + "goes.ics", timeout=15)
    assert gone.status_code in (200, 204)

    rounds(world, pair)
    # One complete listing: the deletion found by its absence, nothing booked twice.
    assert [b["title"] for b in world.live_bookings()] == ["Stays"]
    fresh = cursors.for_end("caldav", calendar, pair.id)
    assert fresh is not None and fresh.cursor != stored.cursor
    assert not [o for o in rounds(world, pair) if o.written]


def test_bookings_and_caldav_events_follow_each_other(world: Bridged,
                                                      caldav_server: CalDavServer) -> None:
    calendar = caldav_server.new_calendar()
    caldav = caldav_server.bridge()
    pair = mapped(world, ("booking_system", RESOURCE), ("caldav", calendar))
    rich = "<p>Bring <b>music</b> &amp; a stand<br>Room&nbsp;2</p>"  # a rich-text field
    world.bookings.create(resource_id=RESOURCE, title="Choir", description=rich,
                          start_time=soon().isoformat().replace("+00:00", "Z"),
                          end_time=soon(1).isoformat().replace("+00:00", "Z"))
    rounds(world, pair)
    [copy] = live(caldav, calendar)
    assert (copy.title, copy.start) == ("Choir", soon())
    assert copy.description == "Bring music & a stand\nRoom 2"  # words, not tags
    # Edited in the CalDAV calendar: the booking follows, nothing echoes.
    caldav.update(calendar, copy.id, copy.model_copy(update={"title": "Choir (alto)"}))
    rounds(world, pair)
    assert [(b["title"], b["description"]) for b in world.live_bookings()] == [
        ("Choir (alto)", rich)]  # only what changed is written back
    assert not [o for o in rounds(world, pair) if o.written]
    # Deleted there (a sync-collection tombstone): the booking is cancelled.
    assert caldav.delete(calendar, copy.id) is True
    rounds(world, pair)
    assert world.live_bookings() == []


def test_an_outlook_series_stays_a_series_in_caldav_and_back(
        world: Bridged, caldav_server: CalDavServer) -> None:
    calendar = caldav_server.new_calendar()
    caldav = caldav_server.bridge()
    pair = mapped(world, ("outlook", ROOM), ("caldav", calendar))
    first = soon() + timedelta(days=(7 - soon().weekday()) % 7)  # a Monday, 09:00 UTC
    made = world.graph.post(f"/users/{ROOM}/events", headers=IMMUTABLE,
                            json=weekly_series(first))
    assert made.status_code == 201, made.text
    rounds(world, pair)
    occurrences = live(caldav, calendar)
    assert len(occurrences) == 4 and len({e.series_id for e in occurrences}) == 1
    master = caldav.get_event(calendar, occurrences[0].series_id or "")
    assert master is not None and master.kind is EventKind.SERIES
    assert master.recurrence is not None and "FREQ=WEEKLY" in master.recurrence.rrule
    # An exception and a cancellation in CalDAV reach their Outlook occurrences.
    caldav.update(calendar, occurrences[1].id, occurrences[1].model_copy(
        update={"title": "Weekly sync (visitors)"}))
    assert caldav.delete(calendar, occurrences[2].id) is True
    rounds(world, pair)
    outlook = sorted(world.view(ROOM, first - timedelta(days=1), first + timedelta(days=60)),
                     key=lambda e: e["start"]["dateTime"])
    assert [(e["type"], e["subject"]) for e in outlook] == [
        ("occurrence", "Weekly sync"), ("exception", "Weekly sync (visitors)"),
        ("occurrence", "Weekly sync")]
    assert not [o for o in rounds(world, pair) if o.written]


def test_an_outlook_series_with_exceptions_is_copied_with_them_and_nothing_echoes(
        world: Bridged, caldav_server: CalDavServer) -> None:
    # Edited in Outlook before calbridge first sees it: one occurrence moved and retitled,
    # one cancelled. The CalDAV copy is one resource, its exception an override in it and
    # the cancellation an EXDATE; nothing is written after.
    calendar = caldav_server.new_calendar()
    caldav = caldav_server.bridge()
    first = soon() + timedelta(days=(7 - soon().weekday()) % 7)  # a Monday, 09:00 UTC
    made = world.graph.post(f"/users/{ROOM}/events", headers=IMMUTABLE,
                            json=weekly_series(first))
    assert made.status_code == 201, made.text
    window = {"startDateTime": (first - timedelta(days=1)).isoformat(),
              "endDateTime": (first + timedelta(days=60)).isoformat()}
    instances = sorted(world.graph.get(f"/users/{ROOM}/events/{made.json()['id']}/instances",
                                       params=window).json()["value"],
                       key=lambda e: e["start"]["dateTime"])
    moved = first + timedelta(weeks=1, hours=3)
    assert world.graph.patch(f"/users/{ROOM}/events/{instances[1]['id']}", json={
        "subject": "Weekly sync (visitors)",
        "start": {"dateTime": moved.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
        "end": {"dateTime": (moved + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S"),
                "timeZone": "UTC"}}).status_code == 200
    assert world.graph.post(f"/users/{ROOM}/events/{instances[2]['id']}/cancel",
                            json={}).status_code == 202
    pair = mapped(world, ("outlook", ROOM), ("caldav", calendar))
    sent = count_requests(world.container.bridge("caldav"))
    done = rounds(world, pair)
    # The copy and its exception in one PUT; the cancellation an EXDATE after it (Graph's
    # master does not name its cancelled occurrences). That EXDATE is calbridge's own
    # write: reading the master back is no change to send to Outlook.
    assert sent.methods().count("PUT") == 2
    assert [(o.target_system, o.reason) for o in done if o.written] == [
        ("caldav", "new in outlook"), ("caldav", "occurrence cancelled in outlook")]
    copied = sorted(live(caldav, calendar), key=lambda e: e.start)
    berlin = first.replace(tzinfo=ZoneInfo("Europe/Berlin"))  # the series' wall clock
    assert [(e.title, e.start) for e in copied] == [
        ("Weekly sync", berlin), ("Weekly sync (visitors)", moved),
        ("Weekly sync", berlin + timedelta(weeks=3))]
    assert not [o for o in rounds(world, pair) if o.written]


RAW_SERIES = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Example Corp//Other Client//EN
BEGIN:VEVENT
UID:{uid}
DTSTAMP:20300101T000000Z
DTSTART:{start}
DTEND:{end}
RRULE:FREQ=WEEKLY;COUNT=4
SUMMARY:{title}
END:VEVENT
BEGIN:VEVENT
UID:{uid}
DTSTAMP:20300101T000000Z
RECURRENCE-ID:{second}
DTSTART:{moved}
DTEND:{moved_end}
SUMMARY:{title} (moved)
END:VEVENT
END:VCALENDAR
"""


def test_series_copied_between_caldav_calendars_are_one_put_each_and_share_their_transactions(
        world: Bridged, caldav_server: CalDavServer, table_requests: TableRequests) -> None:
    # Each series is a master, its occurrences' pairs and a moved occurrence: the run
    # stores the links of all of them together, not a few transactions per series.
    source, target = caldav_server.new_calendar(), caldav_server.new_calendar()
    stamp = "%Y%m%dT%H%M%SZ"
    for n in range(12):
        first = soon(n)
        second = first + timedelta(weeks=1)
        assert caldav_server.put(source, f"series-{n}.ics", RAW_SERIES.format(
            uid=f"series-{n}", title=f"Course {n}", start=first.strftime(stamp),
            end=(first + timedelta(hours=1)).strftime(stamp), second=second.strftime(stamp),
            moved=(second + timedelta(hours=2)).strftime(stamp),
            moved_end=(second + timedelta(hours=3)).strftime(stamp))).status_code == 201
    pair = world.container.storage.mappings.add(ResourceMapping(
        a=StoredEnd(bridge="caldav", calendar_id=source),
        b=StoredEnd(bridge="caldav", calendar_id=target), direction=Direction.A_TO_B))
    table_requests.reset()
    sent = count_requests(world.container.bridge("caldav"))
    outcomes = world.engine.run(world.fresh(pair), End.A)
    assert [o for o in outcomes if o.status == "failed"] == []
    # One listing gives every series with its rule and its moved occurrence; each copy is
    # one PUT, its moved occurrence written with it, and nothing is read back.
    assert sent.methods().count("REPORT") == 1 and sent.methods().count("GET") == 0
    assert sent.methods().count("PUT") == 12
    copied = live(caldav_server.bridge(), target)
    assert len({e.series_id for e in copied}) == 12 and len(copied) == 48
    assert sorted(e.title for e in copied if e.title.endswith("(moved)")) == sorted(
        f"Course {n} (moved)" for n in range(12))
    # 12 masters and 48 occurrence pairs: their links, the log and the cursor.
    assert table_requests.writing <= 10, table_requests
    assert not [o for o in world.engine.run(world.fresh(pair), End.A) if o.written]


def put_series(server: CalDavServer, calendar: str, n: int, first: datetime) -> None:
    """A weekly series of four (`series-<n>`) with its second occurrence moved."""
    stamp = "%Y%m%dT%H%M%SZ"
    second = first + timedelta(weeks=1)
    assert server.put(calendar, f"series-{n}.ics", RAW_SERIES.format(
        uid=f"series-{n}", title=f"Course {n}", start=first.strftime(stamp),
        end=(first + timedelta(hours=1)).strftime(stamp), second=second.strftime(stamp),
        moved=(second + timedelta(hours=2)).strftime(stamp),
        moved_end=(second + timedelta(hours=3)).strftime(stamp))).status_code == 201


def earlier_pairs(world: Bridged, mapping: ResourceMapping, count: int) -> None:
    """Pairs synced long before, stored straight away: a large mapping in a second."""
    world.container.storage.links.write([LinkWrite(EventLink(
        mapping_id=mapping.id, origin=End.A, status=SyncStatus.SYNCED,
        a=LinkEnd(event_id=f"earlier-{n}.ics"), b=LinkEnd(event_id=f"copy-{n}.ics")))
        for n in range(count)])


def shown(bridge: CalDavBridge, calendar: str) -> list[tuple[str, datetime]]:
    """What a person sees in a calendar: each occurrence's title and start."""
    return sorted((e.title, e.start) for e in live(bridge, calendar))


def retitle(caldav: CalDavBridge, calendar: str, href: str, title: str) -> None:
    """A whole series retitled, as a person does in a CalDAV client."""
    master = caldav.get_event(calendar, href)
    assert master is not None
    caldav.update(calendar, master.id or "", master.model_copy(update={"title": title}))


def booked_series(world: Bridged, caldav_server: CalDavServer, count: int,
                  earlier: int) -> tuple[str, ResourceMapping]:
    """A CalDAV calendar with `count` weekly series, synced to the booking system, in a
    mapping holding `earlier` other pairs."""
    calendar = caldav_server.new_calendar()
    for n in range(count):
        put_series(caldav_server, calendar, n, soon(n))
    pair = mapped(world, ("booking_system", RESOURCE), ("caldav", calendar))
    rounds(world, pair)
    earlier_pairs(world, pair, earlier)
    return calendar, pair


def test_edits_to_series_between_caldav_calendars_read_only_those_series_links(
        world: Bridged, caldav_server: CalDavServer, table_requests: TableRequests) -> None:
    caldav = caldav_server.bridge()
    reads = []
    for earlier in (0, 1200):
        source, target = caldav_server.new_calendar(), caldav_server.new_calendar()
        for n in range(4):
            put_series(caldav_server, source, n, soon(n))
        assert caldav_server.put(source, "single.ics", raw_event(
            "single", "Visit", soon(5), soon(6))).status_code == 201
        pair = world.container.storage.mappings.add(ResourceMapping(
            a=StoredEnd(bridge="caldav", calendar_id=source),
            b=StoredEnd(bridge="caldav", calendar_id=target), direction=Direction.A_TO_B))
        world.engine.run(world.fresh(pair), End.A)
        earlier_pairs(world, pair, earlier)
        occurrences = {n: sorted((e for e in live(caldav, source)
                                  if e.series_id == f"series-{n}.ics"),
                                 key=lambda e: e.start) for n in range(4)}
        # The whole series retitled; one occurrence moved; one cancelled; one series gone;
        # a new series made.
        retitle(caldav, source, "series-0.ics", "Course 0, new teacher")
        third = occurrences[1][2]
        caldav.update(source, third.id or "", third.model_copy(update={
            "title": "Course 1 (outside)", "start": third.start + timedelta(hours=1),
            "end": third.end + timedelta(hours=1)}))
        assert caldav.delete(source, occurrences[2][3].id or "") is True
        assert caldav.delete(source, "series-3.ics") is True
        put_series(caldav_server, source, 4, soon(8))
        table_requests.reset()
        outcomes = world.engine.run(world.fresh(pair), End.A)
        reads.append(table_requests.reads)
        assert [o for o in outcomes if o.status == "failed"] == []
        assert shown(caldav, target) == shown(caldav, source)
        titles = {title for title, _ in shown(caldav, target)}
        assert {"Course 0, new teacher", "Course 1 (outside)", "Course 4"} <= titles
        assert not {"Course 0", "Course 3"} & titles
        assert not [o for o in world.engine.run(world.fresh(pair), End.A) if o.written]
    assert reads[0] == reads[1], reads


def test_a_series_retitled_between_caldav_calendars_is_not_read_again_occurrence_by_occurrence(
        world: Bridged, caldav_server: CalDavServer) -> None:
    # The copy's occurrences take the new title with its master: once that is written,
    # the pairs of its occurrences are recorded in step without reading the copy again.
    caldav = caldav_server.bridge()
    source, target = caldav_server.new_calendar(), caldav_server.new_calendar()
    for n in range(3):
        put_series(caldav_server, source, n, soon(n))
    pair = world.container.storage.mappings.add(ResourceMapping(
        a=StoredEnd(bridge="caldav", calendar_id=source),
        b=StoredEnd(bridge="caldav", calendar_id=target), direction=Direction.A_TO_B))
    world.engine.run(world.fresh(pair), End.A)
    retitle(caldav, source, "series-0.ics", "Course 0, new teacher")
    sent = count_requests(world.container.bridge("caldav"))
    outcomes = world.engine.run(world.fresh(pair), End.A)
    assert [o for o in outcomes if o.status == "failed"] == []
    assert shown(caldav, target) == shown(caldav, source)
    assert sorted(title for title, _ in shown(caldav, target) if "Course 0" in title) == [
        "Course 0 (moved)", *["Course 0, new teacher"] * 3]
    # One write (the master's copy), one read of the target (that copy, before it).
    assert [o.item_type for o in outcomes if o.written] == ["series"]
    on_target = [method for method, path in sent.sent
                 if path.startswith(target) and method != "PUT"]
    assert on_target == ["REPORT"] and sent.methods().count("PUT") == 1
    links = world.container.storage.links.list(pair.id)
    assert sorted(link.title or "" for link in links
                  if link.series_id == "series-0.ics" and link.item_type == "occurrence") == [
        "Course 0 (moved)", *["Course 0, new teacher"] * 3]
    # Recorded in step: the next run finds nothing to write and reads no copy.
    again = count_requests(world.container.bridge("caldav"))
    assert not [o for o in world.engine.run(world.fresh(pair), End.A) if o.written]
    assert not [path for _, path in again.sent if path.startswith(target)]


def test_series_edited_in_caldav_reach_their_bookings_reading_only_their_links(
        world: Bridged, caldav_server: CalDavServer, table_requests: TableRequests) -> None:
    reads = []
    for earlier in (0, 1200):
        calendar, pair = booked_series(world, caldav_server, 3, earlier)
        assert len(world.live_bookings()) == 12
        caldav = caldav_server.bridge()
        retitle(caldav, calendar, "series-0.ics", "Course 0, new teacher")
        assert caldav.delete(calendar, "series-1.ics") is True
        table_requests.reset()
        outcomes = world.engine.run(world.fresh(pair), End.B)
        reads.append(table_requests.reads)
        assert [o for o in outcomes if o.status == "failed"] == []
        assert sorted(b["title"] for b in world.live_bookings()) == sorted(
            ["Course 0, new teacher"] * 3 + ["Course 0 (moved)"]
            + ["Course 2"] * 3 + ["Course 2 (moved)"])
        assert not [o for o in rounds(world, pair) if o.written]
    assert reads[0] == reads[1], reads


def test_a_series_named_on_its_own_reads_only_its_links(
        world: Bridged, caldav_server: CalDavServer, table_requests: TableRequests) -> None:
    # As a webhook or a queued message names one item: the series, then the series gone.
    reads = []
    for earlier in (0, 1200):
        calendar, pair = booked_series(world, caldav_server, 2, earlier)
        caldav = caldav_server.bridge()
        retitle(caldav, calendar, "series-0.ics", "Course 0, new teacher")
        assert caldav.delete(calendar, "series-1.ics") is True
        table_requests.reset()
        outcomes = [*world.engine.sync_item(world.fresh(pair), End.B, "series-0.ics"),
                    *world.engine.sync_item(world.fresh(pair), End.B, "series-1.ics")]
        reads.append(table_requests.reads)
        assert [o for o in outcomes if o.status == "failed"] == []
        assert sorted(b["title"] for b in world.live_bookings()) == sorted(
            ["Course 0, new teacher"] * 3 + ["Course 0 (moved)"])
    assert reads[0] == reads[1], reads



def meetings(world: Bridged, count: int) -> None:
    for n in range(count):
        made = world.graph.post(f"/users/{ROOM}/events", headers=IMMUTABLE, json={
            "subject": f"Meeting {n}",
            "start": {"dateTime": soon(n).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
            "end": {"dateTime": soon(n).strftime("%Y-%m-%dT%H:30:00"), "timeZone": "UTC"}})
        assert made.status_code == 201, made.text


def rewrite(server: CalDavServer, calendar: str, name: str, *edits: tuple[str, str]) -> str:
    """Another client rewriting a resource's text, as a lenient server stores it (Xandikos
    takes broken times only in a new resource: the old one is removed first). The text
    as it was."""
    url = server.url.rstrip("/") + calendar + name
    text = was = server.session().get(url).text
    for old, new in edits:
        assert old in text, (old, text)
        text = text.replace(old, new, 1)
    assert server.session().delete(url).status_code == 204
    assert server.put(calendar, name, text).status_code == 201
    return was


@pytest.mark.parametrize("caldav_server", ["xandikos"], indirect=True)
def test_a_caldav_resource_that_cannot_be_read_is_skipped_and_the_rest_syncs(
        world: Bridged, caldav_server: CalDavServer) -> None:
    # Xandikos stores what it is sent (Radicale refuses such resources at the PUT).
    calendar = caldav_server.new_calendar()
    caldav = caldav_server.bridge()
    pair = mapped(world, ("outlook", ROOM), ("caldav", calendar))
    meetings(world, 4)
    first = soon(24 * 7) + timedelta(days=(7 - soon().weekday()) % 7)
    assert world.graph.post(f"/users/{ROOM}/events", headers=IMMUTABLE,
                            json=weekly_series(first)).status_code == 201
    rounds(world, pair)
    copies = {e.title: e for e in live(caldav, calendar) if e.kind is not EventKind.OCCURRENCE}
    series_copy = next(e.series_id for e in live(caldav, calendar) if e.series_id)
    assert series_copy is not None
    # Behind calbridge's back: a LAST-MODIFIED that is not a time (the event reads without
    # it), a DTSTART and an EXDATE that cannot be read, a deletion.
    rewrite(caldav_server, calendar, copies["Meeting 0"].id,
            ("SUMMARY:Meeting 0", "SUMMARY:Meeting 0 (moved to hall)"),
            ("END:VEVENT", "LAST-MODIFIED:2026-12-04 20:09:29.820972\r\nEND:VEVENT"))
    meeting_1 = rewrite(caldav_server, calendar, copies["Meeting 1"].id,
                        ("SUMMARY:Meeting 1", "SUMMARY:Meeting 1 (lost)"),
                        ("DTSTART:", "DTSTART:2030-01-01 09:00\r\nX-OLD-DTSTART:"))
    rewrite(caldav_server, calendar, series_copy,
            ("END:VEVENT", "EXDATE:next tuesday\r\nEND:VEVENT"))
    gone = caldav_server.session().delete(caldav_server.url.rstrip("/") + calendar
                                          + copies["Meeting 2"].id)
    assert gone.status_code == 204

    outcomes = world.engine.run(world.fresh(pair), End.B)

    skipped = {o.source_id: o.reason for o in outcomes if o.status.value == "skipped"
               and "cannot be read" in (o.reason or "")}
    assert set(skipped) == {copies["Meeting 1"].id, series_copy}
    assert "DTSTART" in skipped[copies["Meeting 1"].id]
    horizon = (soon(-24), soon(24 * 60))
    subjects = sorted(e["subject"] for e in world.view(ROOM, *horizon))
    assert subjects == ["Meeting 0 (moved to hall)", "Meeting 1", "Meeting 3",
                        *["Weekly sync"] * 4]
    # Mended, it syncs as any edit.
    url = caldav_server.url.rstrip("/") + calendar + copies["Meeting 1"].id
    assert caldav_server.session().delete(url).status_code == 204
    mended = meeting_1.replace("SUMMARY:Meeting 1", "SUMMARY:Meeting 1 (lost)")
    assert caldav_server.put(calendar, copies["Meeting 1"].id, mended).status_code == 201
    world.engine.run(world.fresh(pair), End.B)
    subjects[1] = "Meeting 1 (lost)"
    assert sorted(e["subject"] for e in world.view(ROOM, *horizon)) == subjects
    # A complete listing (the deletion sync's) takes the unreadable series for deleted no
    # more than an incremental read does. (Xandikos answers a time-range query with 500
    # while a resource's DTSTART cannot be read: that one had to be mended first.)
    outcomes = world.engine.run(world.fresh(pair), End.B, full=True)
    assert [o.source_id for o in outcomes if "cannot be read" in (o.reason or "")] == [
        series_copy]
    assert sorted(e["subject"] for e in world.view(ROOM, *horizon)) == subjects
    assert not [o for o in rounds(world, pair) if o.written]


EXPORTED_SERIES = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Microsoft Corporation//Outlook 16.0 MIMEDIR//EN
BEGIN:VTIMEZONE
TZID:(UTC+01:00) Amsterdam, Berlin, Bern, Rom, Stockholm, Wien
BEGIN:STANDARD
DTSTART:16011028T030000
RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:16010325T020000
RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
END:DAYLIGHT
END:VTIMEZONE
BEGIN:VEVENT
UID:040000008200E00074C5B7101A82E008000000001
DTSTAMP:20261204T100000Z
DTSTART;TZID="(UTC+01:00) Amsterdam, Berlin, Bern, Rom, Stockholm, Wien":{start}
DTEND;TZID="(UTC+01:00) Amsterdam, Berlin, Bern, Rom, Stockholm, Wien":{end}
RRULE:FREQ=WEEKLY;COUNT=5;BYDAY=MO
SUMMARY:Jour fixe
END:VEVENT
END:VCALENDAR
"""


def test_a_series_in_a_zone_an_outlook_export_defines_keeps_its_clock_across_dst(
        world: Bridged, caldav_server: CalDavServer) -> None:
    # Outlook's iCalendar exports name zones by their display name and define them in a
    # VTIMEZONE; the series must stay at 09:00 in Berlin after the clocks change.
    berlin = ZoneInfo("Europe/Berlin")
    today = datetime.now(UTC).date()
    change = next(today + timedelta(days=n) for n in range(14, 400)
                  if datetime.combine(today + timedelta(days=n), time(12), berlin).utcoffset()
                  != datetime.combine(today + timedelta(days=n - 1), time(12),
                                      berlin).utcoffset())
    monday = change - timedelta(days=change.weekday() + 14)
    wall = "%Y%m%dT%H%M%S"
    calendar = caldav_server.new_calendar()
    caldav = caldav_server.bridge()
    made = caldav_server.put(calendar, "jour-fixe.ics", EXPORTED_SERIES.format(
        start=datetime.combine(monday, time(9)).strftime(wall),
        end=datetime.combine(monday, time(10)).strftime(wall)).replace("\n", "\r\n"))
    assert made.status_code == 201, made.text
    pair = mapped(world, ("caldav", calendar), ("outlook", ROOM))
    rounds(world, pair)
    span = (datetime.combine(monday, time(0), UTC), datetime.combine(monday, time(0), UTC)
            + timedelta(weeks=6))
    shown_here = [e.start.astimezone(berlin) for e in caldav.list_events(
        calendar, TimeWindow(start=span[0], end=span[1]))]
    assert [(t.date(), t.hour) for t in shown_here] == [
        (monday + timedelta(weeks=n), 9) for n in range(5)]
    outlook = world.view(ROOM, *span)
    starts = sorted(datetime.fromisoformat(e["start"]["dateTime"][:19]).replace(tzinfo=UTC)
                    .astimezone(berlin) for e in outlook if e["subject"] == "Jour fixe")
    assert [(t.date(), t.hour) for t in starts] == [
        (monday + timedelta(weeks=n), 9) for n in range(5)]
    assert not [o for o in rounds(world, pair) if o.written]


def test_a_copy_moved_to_another_mapped_caldav_calendar_moves_between_their_rooms(
        world: Bridged, caldav_server: CalDavServer) -> None:
    # A client moving an event to another calendar deletes it here and creates it there
    # with all its properties, calbridge's marker too (kept under the same name here).
    hall, annex = caldav_server.new_calendar(), caldav_server.new_calendar()
    first = mapped(world, ("outlook", ROOM), ("caldav", hall))
    second = mapped(world, ("outlook", OTHER_ROOM), ("caldav", annex))
    meetings(world, 2)
    rounds(world, first, second)
    moved = next(e for e in live(caldav_server.bridge(), hall) if e.title == "Meeting 1")
    url = caldav_server.url.rstrip("/")
    text = caldav_server.session().get(url + hall + moved.id).text
    assert caldav_server.put(annex, moved.id, text).status_code == 201
    assert caldav_server.session().delete(url + hall + moved.id).status_code in (200, 204)

    rounds(world, first, second)

    span = (soon(-24), soon(24))
    assert sorted(e["subject"] for e in world.view(ROOM, *span)) == ["Meeting 0"]
    assert sorted(e["subject"] for e in world.view(OTHER_ROOM, *span)) == ["Meeting 1"]
    assert not [o for o in rounds(world, first, second) if o.written]


def test_a_copy_deleted_before_its_calendar_is_read_again_deletes_its_original(
        world: Bridged, caldav_server: CalDavServer) -> None:
    # A sync-collection answer may leave out a member made and deleted since its token
    # (RFC 6578 3.8; Radicale and Xandikos do): the copies calbridge made are noted on
    # the CalDAV end's cursor and looked up when the answer does not name them.
    calendar = caldav_server.new_calendar()
    pair = mapped(world, ("outlook", ROOM), ("caldav", calendar))
    meetings(world, 1)
    world.engine.run(world.fresh(pair), End.B)  # the CalDAV end is read (its token kept)
    world.engine.run(world.fresh(pair), End.A)  # the copy is made after that token
    [copy] = live(caldav_server.bridge(), calendar)
    gone = caldav_server.session().delete(caldav_server.url.rstrip("/") + calendar + copy.id)
    assert gone.status_code in (200, 204)

    outcomes = world.engine.run(world.fresh(pair), End.B)

    assert [(o.operation.value, o.status.value) for o in outcomes] == [
        ("delete", "completed")]
    assert world.view(ROOM, soon(-24), soon(24)) == []
    cursor = world.container.storage.cursors.get("caldav", calendar, pair.id)
    assert cursor is not None and cursor.made == []
    assert not [o for o in rounds(world, pair) if o.written]


def test_many_copies_made_ask_for_a_complete_listing_instead(
        world: Bridged, caldav_server: CalDavServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("calbridge.sync.made.MADE_KEPT", 2)
    calendar = caldav_server.new_calendar()
    pair = mapped(world, ("outlook", ROOM), ("caldav", calendar))
    world.engine.run(world.fresh(pair), End.B)
    meetings(world, 3)
    world.engine.run(world.fresh(pair), End.A)
    cursor = world.container.storage.cursors.get("caldav", calendar, pair.id)
    assert cursor is not None and cursor.cursor is None and cursor.made == []
    copies = live(caldav_server.bridge(), calendar)
    assert caldav_server.session().delete(
        caldav_server.url.rstrip("/") + calendar + copies[0].id).status_code in (200, 204)
    world.engine.run(world.fresh(pair), End.B)  # a complete listing
    assert len(world.view(ROOM, soon(-24), soon(24))) == 2


def test_a_meeting_link_in_an_outlook_body_reaches_caldav_and_nothing_echoes(
        world: Bridged, caldav_server: CalDavServer) -> None:
    calendar = caldav_server.new_calendar()
    pair = mapped(world, ("outlook", ROOM), ("caldav", calendar))
    join = "https://teams.microsoft.com/l/meetup-join/19%3ameeting_N2%40thread.v2/0"
    made = world.graph.post(f"/users/{ROOM}/events", headers=IMMUTABLE, json={
        "subject": "Elternbeirat",
        "body": {"contentType": "html", "content": (
            "<html><body><p>Agenda</p><div><a href=\"" + join + "\">"
            "Click here to join the meeting</a></div></body></html>")},
        "start": {"dateTime": soon().strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
        "end": {"dateTime": soon(1).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}})
    assert made.status_code == 201, made.text
    rounds(world, pair)
    [copy] = live(caldav_server.bridge(), calendar)
    assert copy.description == f"Agenda\n\nClick here to join the meeting <{join}>"
    assert not [o for o in rounds(world, pair) if o.written]
    assert not [o for o in rounds(world, pair) if o.written]
