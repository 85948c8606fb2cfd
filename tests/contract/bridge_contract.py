"""The contract every bridge adapter passes.

A test module subclasses `BridgeContract` and provides two fixtures: `bridge` (a
ready `CalendarBridge` against a real or emulated system, emptied for each test)
and `calendar_id` (a calendar of that bridge to write into).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from calbridge.bridges.base import CalendarBridge, TimeWindow, WriteOp
from calbridge.errors import CalendarNotFound, NotFound
from calbridge.model import Event, EventField, EventStatus, new_id

START = datetime(2031, 3, 10, 9, 0, tzinfo=UTC)
WINDOW = TimeWindow(start=START - timedelta(days=30), end=START + timedelta(days=60))


def make_event(title: str = "Board meeting", *, hours_from_start: int = 0,
               marker: str | None = None) -> Event:
    start = START + timedelta(hours=hours_from_start)
    return Event(title=title, description="Quarterly figures", start=start,
                 end=start + timedelta(hours=1), timezone="Europe/Oslo",
                 location="Room A", marker=marker or new_id())


def gone_or_cancelled(event: Event | None) -> bool:
    return event is None or event.status is EventStatus.CANCELLED


def live_events(bridge: CalendarBridge, calendar_id: str) -> list[Event]:
    return [e for e in bridge.list_events(calendar_id, WINDOW)
            if e.status is not EventStatus.CANCELLED]


class BridgeContract:
    """Shared behaviour: create, read back, idempotency, markers, update, delete, changes."""

    def test_lists_the_calendar(self, bridge: CalendarBridge, calendar_id: str) -> None:
        assert calendar_id in {c.id for c in bridge.list_calendars()}

    def test_knows_which_calendars_exist(self, bridge: CalendarBridge,
                                         calendar_id: str) -> None:
        assert bridge.calendar_exists(calendar_id) is True
        assert bridge.calendar_exists("no-such-calendar-" + new_id()) is False
        # Ids are escaped wherever they go: none of these reaches another calendar.
        for odd in (f"../{calendar_id}", f"{calendar_id}?x=1", f"{calendar_id}#x"):
            assert bridge.calendar_exists(odd) is False, odd

    def test_a_missing_calendar_is_not_an_empty_one(self, bridge: CalendarBridge,
                                                    calendar_id: str) -> None:
        written = make_event()
        created = bridge.create(calendar_id, written, idempotency_key=written.marker)
        missing = "no-such-calendar-" + new_id()
        with pytest.raises(CalendarNotFound) as listing:
            list(bridge.list_events(missing, WINDOW))
        assert listing.value.calendar_id == missing and listing.value.bridge == bridge.name
        with pytest.raises(CalendarNotFound):
            bridge.changes(missing, None, WINDOW)
        # Asked in a calendar that does not exist, an event is not "deleted": a missing
        # mailbox or resource must never read as the removal of what was synced into it.
        with pytest.raises(CalendarNotFound):
            bridge.get_event(missing, created.id)
        with pytest.raises(CalendarNotFound):
            bridge.get_events(missing, [created.id])

    def test_an_odd_event_id_stays_inside_its_calendar(self, bridge: CalendarBridge,
                                                       calendar_id: str) -> None:
        written = make_event()
        created = bridge.create(calendar_id, written, idempotency_key=written.marker)
        for odd in (f"../{created.id}", f"{created.id}?x=1", f"{created.id}/../{created.id}"):
            assert bridge.get_event(calendar_id, odd) is None, odd

    def test_is_healthy(self, bridge: CalendarBridge) -> None:
        health = bridge.health()
        assert health.status == "healthy", health.error
        assert health.latency_ms is not None and health.latency_ms >= 0

    def test_created_event_reads_back_the_same(self, bridge: CalendarBridge,
                                               calendar_id: str) -> None:
        written = make_event()
        created = bridge.create(calendar_id, written, idempotency_key=written.marker)
        assert created.id
        read = bridge.get_event(calendar_id, created.id)
        assert read is not None
        assert (read.title, read.description, read.location) == (
            "Board meeting", "Quarterly figures", "Room A")
        assert read.start == written.start and read.end == written.end
        assert read.all_day is False

    def test_all_day_event_stays_all_day(self, bridge: CalendarBridge, calendar_id: str) -> None:
        written = Event(title="Closed for cleaning", start=date(2031, 3, 12),
                        end=date(2031, 3, 13), all_day=True, marker=new_id())
        created = bridge.create(calendar_id, written, idempotency_key=written.marker)
        read = bridge.get_event(calendar_id, created.id)
        assert read is not None and read.all_day is True
        assert (read.start, read.end) == (date(2031, 3, 12), date(2031, 3, 13))

    def test_retried_create_makes_one_event(self, bridge: CalendarBridge,
                                            calendar_id: str) -> None:
        written = make_event("Retried")
        first = bridge.create(calendar_id, written, idempotency_key=written.marker)
        second = bridge.create(calendar_id, written, idempotency_key=written.marker)
        assert first.id == second.id
        assert [e.title for e in live_events(bridge, calendar_id)] == ["Retried"]

    def test_finds_an_event_by_its_marker(self, bridge: CalendarBridge, calendar_id: str) -> None:
        written = make_event()
        created = bridge.create(calendar_id, written, idempotency_key=written.marker)
        bridge.create(calendar_id, make_event("Other", hours_from_start=3),
                      idempotency_key=new_id())
        found = bridge.find_by_marker(calendar_id, written.marker)
        assert found is not None and found.id == created.id and found.marker == written.marker
        assert bridge.find_by_marker(calendar_id, new_id()) is None

    def test_finds_events_by_their_markers_in_order(self, bridge: CalendarBridge,
                                                    calendar_id: str) -> None:
        written = [make_event(f"Marked {n}", hours_from_start=2 * n) for n in range(3)]
        created = [bridge.create(calendar_id, event, idempotency_key=event.marker)
                   for event in written]
        unknown = new_id()
        found = bridge.find_by_markers(calendar_id, [
            (written[2].marker, None), (unknown, None), (written[0].marker, None)])
        assert [result.event_id for result in found] == [written[2].marker, unknown,
                                                         written[0].marker]
        assert [result.current().id if result.current() else None for result in found] == [
            created[2].id, None, created[0].id]

    def test_update_changes_the_event(self, bridge: CalendarBridge, calendar_id: str) -> None:
        written = make_event()
        created = bridge.create(calendar_id, written, idempotency_key=written.marker)
        moved = written.model_copy(update={"title": "Moved", "start": START + timedelta(hours=2),
                                           "end": START + timedelta(hours=4)})
        updated = bridge.update(calendar_id, created.id, moved)
        read = bridge.get_event(calendar_id, created.id)
        assert read is not None and read.title == "Moved"
        assert read.start == START + timedelta(hours=2) and read.end == START + timedelta(hours=4)
        assert updated.etag is None or updated.etag != created.etag

    def test_delete_is_followed_and_safe_twice(self, bridge: CalendarBridge,
                                               calendar_id: str) -> None:
        written = make_event()
        created = bridge.create(calendar_id, written, idempotency_key=written.marker)
        assert bridge.delete(calendar_id, created.id) is True
        assert gone_or_cancelled(bridge.get_event(calendar_id, created.id))
        assert bridge.delete(calendar_id, created.id) is False
        assert live_events(bridge, calendar_id) == []

    def test_listing_respects_the_window(self, bridge: CalendarBridge, calendar_id: str) -> None:
        inside = make_event("Inside")
        outside = make_event("Outside", hours_from_start=24 * 200)
        bridge.create(calendar_id, inside, idempotency_key=inside.marker)
        bridge.create(calendar_id, outside, idempotency_key=outside.marker)
        assert [e.title for e in live_events(bridge, calendar_id)] == ["Inside"]

    def test_changes_report_updates_and_deletions(self, bridge: CalendarBridge,
                                                  calendar_id: str) -> None:
        kept, dropped = make_event("Kept"), make_event("Dropped", hours_from_start=2)
        kept_id = bridge.create(calendar_id, kept, idempotency_key=kept.marker).id
        dropped_id = bridge.create(calendar_id, dropped, idempotency_key=dropped.marker).id

        initial = bridge.changes(calendar_id, None, WINDOW)
        assert initial.complete is True and initial.cursor
        assert {e.id for e in initial.changed} >= {kept_id, dropped_id}

        bridge.update(calendar_id, kept_id, kept.model_copy(update={"title": "Kept, renamed"}))
        bridge.delete(calendar_id, dropped_id)
        later = bridge.changes(calendar_id, initial.cursor, WINDOW)
        assert later.cursor
        titles = {e.id: e.title for e in later.changed if e.status is not EventStatus.CANCELLED}
        assert titles.get(kept_id) == "Kept, renamed"
        cancelled = {e.id for e in later.changed if e.status is EventStatus.CANCELLED}
        assert dropped_id in set(later.deleted) | cancelled

        quiet = bridge.changes(calendar_id, later.cursor, WINDOW)
        assert quiet.changed == [] and quiet.deleted == []

    def test_many_writes_end_as_their_single_writes(self, bridge: CalendarBridge,
                                                    calendar_id: str) -> None:
        kept, moving, dropped = (make_event("Kept"), make_event("Moving", hours_from_start=2),
                                 make_event("Dropped", hours_from_start=4))
        created = bridge.apply(calendar_id, [WriteOp.create(e, e.marker or "")
                                             for e in (kept, moving, dropped)])
        assert [r.ok for r in created] == [True, True, True]
        ids = [r.event.id if r.event else None for r in created]
        assert all(ids) and len(set(ids)) == 3
        # Applied again (a retry after a crash), the creates make nothing new.
        again = bridge.apply(calendar_id, [WriteOp.create(kept, kept.marker or "")])
        assert again[0].event is not None and again[0].event.id == ids[0]

        renamed = moving.model_copy(update={"title": "Moved"})
        done = bridge.apply(calendar_id, [
            WriteOp.update(ids[1] or "", renamed, fields=frozenset({EventField.TITLE})),
            WriteOp.delete(ids[2] or "")])
        assert done[0].ok and done[0].event is not None and done[0].event.title == "Moved"
        assert done[1].ok and done[1].deleted is True
        assert sorted(e.title for e in live_events(bridge, calendar_id)) == ["Kept", "Moved"]

        # What fails one write is that write's result; the others are carried out.
        late = bridge.apply(calendar_id, [
            WriteOp.delete(ids[2] or ""),
            WriteOp.update("does-not-exist-" + new_id(), dropped),
            WriteOp.update(ids[0] or "", kept.model_copy(update={"title": "Kept, renamed"}))])
        assert late[0].ok and late[0].deleted is False
        assert isinstance(late[1].error, NotFound) and late[1].event is None
        assert late[2].ok
        assert sorted(e.title for e in live_events(bridge, calendar_id)) == [
            "Kept, renamed", "Moved"]
        assert bridge.apply(calendar_id, []) == []

    def test_many_reads_end_as_their_single_reads(self, bridge: CalendarBridge,
                                                  calendar_id: str) -> None:
        kept, dropped = make_event("Kept"), make_event("Dropped", hours_from_start=2)
        kept_id = bridge.create(calendar_id, kept, idempotency_key=kept.marker).id
        dropped_id = bridge.create(calendar_id, dropped, idempotency_key=dropped.marker).id
        assert kept_id and dropped_id
        bridge.delete(calendar_id, dropped_id)
        unknown = "does-not-exist-" + new_id()
        reads = bridge.get_events(calendar_id, [kept_id, dropped_id, unknown])
        assert [r.event_id for r in reads] == [kept_id, dropped_id, unknown]
        assert all(r.error is None for r in reads)
        # Each as `get_event` reads it: the kept one with its marker, the deleted one gone
        # (or cancelled, where deleting cancels), the unknown one None.
        assert reads[0].event is not None and reads[0].event.marker == kept.marker
        assert [r.event for r in reads[:2]] == [bridge.get_event(calendar_id, kept_id),
                                                bridge.get_event(calendar_id, dropped_id)]
        assert reads[2].event is None
        assert bridge.get_events(calendar_id, []) == []

    def test_unknown_event_reads_as_none(self, bridge: CalendarBridge, calendar_id: str) -> None:
        assert bridge.get_event(calendar_id, "does-not-exist-" + new_id()) is None

    @pytest.mark.parametrize("title", ["Møte i <b>rådhuset</b> & co", "🗓️ Ünïcødé"])
    def test_text_survives_a_round_trip(self, bridge: CalendarBridge, calendar_id: str,
                                        title: str) -> None:
        written = make_event(title)
        created = bridge.create(calendar_id, written, idempotency_key=written.marker)
        read = bridge.get_event(calendar_id, created.id)
        assert read is not None and read.title == title
