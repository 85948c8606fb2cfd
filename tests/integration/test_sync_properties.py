"""Property: whatever people do on either side, with failures and lost answers in
between, once the faults stop and sync runs to quiescence both sides hold the same
events, nothing is duplicated, and one more sync changes nothing."""

from __future__ import annotations

import os
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calbridge.host.azurite import Azurite
from calbridge.model import ConflictPolicy, Event, EventStatus, SyncStatus, utcnow
from calbridge.services import sync
from tests.fixtures.sync import CALENDAR, ROOM, SyncWorld, make_world

EXAMPLES = int(os.environ.get("CALBRIDGE_PROPERTY_EXAMPLES", "30"))
LATER = timedelta(days=2)

titles = st.sampled_from(["Choir", "Council", "Yoga", "Chess", "Budget", "Quiz"])
index = st.integers(min_value=0, max_value=20)
faults = st.sampled_from(["none", "none", "fail_target", "lose_target", "fail_source"])
steps = st.one_of(
    st.tuples(st.just("book"), titles),
    st.tuples(st.just("edit_booking"), index, titles),
    st.tuples(st.just("cancel_booking"), index),
    st.tuples(st.just("reenable_booking"), index),
    st.tuples(st.just("outlook_create"), titles),
    st.tuples(st.just("outlook_edit"), index, titles),
    st.tuples(st.just("outlook_delete"), index),
    st.tuples(st.just("sync"), st.sampled_from(["to_outlook", "to_booking"]), faults),
    st.tuples(st.just("pending")),
    st.tuples(st.just("deletions")),
)


def pick(items: list[Event], i: int) -> Event | None:
    return items[i % len(items)] if items else None


def perform(world: SyncWorld, step: tuple) -> None:
    kind = step[0]
    booking, outlook = world.booking, world.outlook
    cancelled = [e for e in booking.events[ROOM].values() if e.status is EventStatus.CANCELLED]
    if kind == "book":
        booking.user_create(ROOM, step[1], hours=len(booking.events[ROOM]))
    elif kind == "edit_booking" and (event := pick(booking.live(ROOM), step[1])):
        booking.user_edit(ROOM, event.id, step[2])
    elif kind == "cancel_booking" and (event := pick(booking.live(ROOM), step[1])):
        booking.user_delete(ROOM, event.id)
    elif kind == "reenable_booking" and (event := pick(cancelled, step[1])):
        booking.user_reenable(ROOM, event.id)
    elif kind == "outlook_create":
        outlook.user_create(CALENDAR, step[1], hours=100 + len(outlook.events[CALENDAR]))
    elif kind == "outlook_edit" and (event := pick(outlook.live(CALENDAR), step[1])):
        outlook.user_edit(CALENDAR, event.id, step[2])
    elif kind == "outlook_delete" and (event := pick(outlook.live(CALENDAR), step[1])):
        outlook.user_delete(CALENDAR, event.id)
    elif kind == "sync":
        source, target = ((booking, outlook) if step[1] == "to_outlook" else (outlook, booking))
        if step[2] == "fail_target":
            target.fail_next = 1
        elif step[2] == "lose_target":
            target.lose_next = 1
        elif step[2] == "fail_source":
            source.fail_next = 1
        try:
            world.to_outlook() if step[1] == "to_outlook" else world.to_booking()
        except Exception as exc:  # a source that is down fails the run, as in production
            assert "down" in str(exc)
        booking.fail_next = booking.lose_next = outlook.fail_next = outlook.lose_next = 0
    elif kind == "pending":
        sync.process_pending(world.container, now=utcnow() + LATER)
    elif kind == "deletions":
        sync.sync_deletions(world.container)


def writes(world: SyncWorld) -> int:
    return world.booking.writes + world.outlook.writes


def quiesce(world: SyncWorld) -> None:
    for _ in range(8):
        before = writes(world)
        world.both()
        sync.process_pending(world.container, now=utcnow() + LATER)
        sync.sync_deletions(world.container)
        if writes(world) == before:
            return
    raise AssertionError("sync did not settle")


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(steps, max_size=20), st.sampled_from([ConflictPolicy.ORIGIN_WINS,
                                                      ConflictPolicy.NEWEST_WINS]))
def test_both_sides_converge_without_duplicates(azurite: Azurite, script: list[tuple],
                                                policy: ConflictPolicy) -> None:
    world = make_world(azurite)
    world.set_policy(policy)
    for step in script:
        perform(world, step)
    quiesce(world)

    bookings = {e.id: e for e in world.booking.live(ROOM)}
    events = {e.id: e for e in world.outlook.live(CALENDAR)}
    links = [link for link in world.storage.links.list(world.mapping.id)
             if link.status is SyncStatus.SYNCED]
    paired = {(link.a.event_id, link.b.event_id) for link in links
              if link.a.event_id in bookings and link.b.event_id in events}
    # Every live event on either side has exactly one live counterpart with its content.
    assert len(paired) == len(bookings) == len(events), (bookings, events, links)
    for booking_id, event_id in paired:
        booking, event = bookings[booking_id], events[event_id]
        assert (booking.title, booking.start, booking.end) == (event.title, event.start,
                                                               event.end)
    assert len({b for b, _ in paired}) == len(paired) == len({e for _, e in paired})
    # And one more sync changes nothing.
    before = writes(world)
    outcomes = world.both() + sync.process_pending(world.container, now=utcnow() + LATER)
    assert writes(world) == before
    assert all(o.status == "skipped" for o in outcomes)
