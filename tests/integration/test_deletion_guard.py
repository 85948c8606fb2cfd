"""The mass-deletion guard in ordinary use: the share is measured against what was
synced before the round, whatever order its passes run in and however much new work
they carry, and deletions arriving one by one are held like a run's."""

from __future__ import annotations

import os
from datetime import timedelta

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from calbridge.host.azurite import Azurite
from calbridge.model import End, HoldStatus, SyncStatus, utcnow
from calbridge.services import decisions
from calbridge.sync.engine import SyncEngine
from tests.fixtures.memory_bridge import MemoryBridge
from tests.fixtures.sync import CALENDAR, ROOM, SyncWorld, make_world

EXAMPLES = int(os.environ.get("CALBRIDGE_GUARD_EXAMPLES", "12"))
SHARE, MINIMUM = 0.2, 3
GUARD = {"CALBRIDGE_MASS_DELETE_SHARE": str(SHARE), "CALBRIDGE_MASS_DELETE_MIN": str(MINIMUM)}


def calendar_of(world: SyncWorld, side: End) -> tuple[MemoryBridge, str]:
    return (world.booking, ROOM) if side is End.A else (world.outlook, CALENDAR)


def run(world: SyncWorld, side: End) -> list:
    return world.to_outlook() if side is End.A else world.to_booking()


def settle(world: SyncWorld, from_booking: int, from_outlook: int) -> None:
    """Events born on both sides, synced by ordinary rounds until every calendar has been
    read since its last copy was written."""
    for n in range(from_booking):
        world.booking.user_create(ROOM, f"Booking {n}", hours=n)
    for n in range(from_outlook):
        world.outlook.user_create(CALENDAR, f"Outlook {n}", hours=200 + n)
    world.both()
    world.both()
    total = from_booking + from_outlook
    assert len(world.booking.live(ROOM)) == len(world.outlook.live(CALENDAR)) == total


def held(outcomes: list) -> int:
    return sum(o.status == "held" for o in outcomes)


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(synced=st.integers(min_value=1, max_value=30), born_in_booking=st.floats(0, 1),
       new=st.integers(min_value=0, max_value=40), deleted_share=st.floats(0, 1),
       new_side=st.sampled_from(End), new_first=st.booleans())
@example(synced=30, born_in_booking=1.0, new=30, deleted_share=0.24,
         new_side=End.A, new_first=True)  # the report's proportions
@example(synced=30, born_in_booking=0.0, new=30, deleted_share=0.24,
         new_side=End.B, new_first=True)
@example(synced=30, born_in_booking=0.5, new=40, deleted_share=0.2,
         new_side=End.A, new_first=False)  # exactly the share: never held
def test_held_exactly_when_the_share_of_what_was_synced_crosses_the_threshold(
        azurite: Azurite, synced: int, born_in_booking: float, new: int,
        deleted_share: float, new_side: End, new_first: bool) -> None:
    world = make_world(azurite, **GUARD)
    from_booking = round(synced * born_in_booking)
    settle(world, from_booking, synced - from_booking)
    deleting_side = End.B if new_side is End.A else End.A
    adding, adding_calendar = calendar_of(world, new_side)
    deleting, deleting_calendar = calendar_of(world, deleting_side)
    survivor, survivor_calendar = adding, adding_calendar

    count = round(synced * deleted_share)
    for event in deleting.live(deleting_calendar)[:count]:
        deleting.user_delete(deleting_calendar, event.id)
    for n in range(new):
        adding.user_create(adding_calendar, f"New {n}", hours=400 + n)
    order = [new_side, deleting_side] if new_first else [deleting_side, new_side]
    outcomes = {side: run(world, side) for side in order}

    expected = count >= MINIMUM and count > SHARE * synced
    holds = decisions.list_holds(world.container)
    if expected:
        assert held(outcomes[deleting_side]) == count
        [hold] = holds
        assert len(hold.link_ids) == count and f"{count} of {synced} " in hold.reason
        assert len(survivor.live(survivor_calendar)) == synced + new  # nothing deleted
    else:
        assert held(outcomes[deleting_side]) == 0 and holds == []
        assert len(survivor.live(survivor_calendar)) == synced - count + new
    assert held(outcomes[new_side]) == 0


def test_a_wipe_of_events_synced_one_round_ago_is_held(world: SyncWorld) -> None:
    """The sync timer runs the booking side first: Outlook-born events reach the booking
    system at the end of a round, and a wipe there before the next round is still held."""
    for n in range(20):
        world.outlook.user_create(CALENDAR, f"Walk-in {n}", hours=n)
    world.to_outlook()
    world.to_booking()  # one round: 20 bookings made, not yet read back
    for booking in world.booking.live(ROOM):
        world.booking.user_delete(ROOM, booking.id)
    outcomes = world.to_outlook()
    assert held(outcomes) == 20
    assert len(world.outlook.live(CALENDAR)) == 20


def burst(world: SyncWorld, count: int, engine: SyncEngine | None = None) -> list:
    """Cancel `count` bookings one by one, each followed by its webhook's work."""
    engine = engine or world.engine
    outcomes = []
    for booking in world.booking.live(ROOM)[:count]:
        world.booking.user_delete(ROOM, booking.id)
        outcomes.append(engine.sync_event(world.fresh_mapping(), End.A, booking.id,
                                          "webhook"))
    return outcomes


def test_push_deletions_that_cross_the_share_are_held(world: SyncWorld) -> None:
    for n in range(30):
        world.booking.user_create(ROOM, f"Session {n}", hours=n)
    world.both()
    world.both()
    outcomes = burst(world, 20)
    # 30 synced, share 20 %, at least 10: the first 9 go through, then everything waits.
    assert [o.status for o in outcomes] == ["completed"] * 9 + ["held"] * 11
    assert len(world.outlook.live(CALENDAR)) == 21
    [hold] = decisions.list_holds(world.container)
    assert len(hold.link_ids) == 11 and hold.source is End.A
    # A run sees the same cancellations and leaves them with the hold.
    assert held(world.both()) == 0 and len(world.outlook.live(CALENDAR)) == 21
    assert len(decisions.list_holds(world.container)) == 1

    hold, results = decisions.confirm_hold(world.container, hold.id)
    assert hold.status is HoldStatus.CONFIRMED
    assert [o.status for o in results] == ["completed"] * 11
    assert len(world.outlook.live(CALENDAR)) == 10
    # The operator decided: the next single cancellation goes through.
    assert [o.status for o in burst(world, 1)] == ["completed"]


def test_push_deletions_held_then_rejected_come_back(azurite: Azurite) -> None:
    world = make_world(azurite, **GUARD)
    for n in range(12):
        world.outlook.user_create(CALENDAR, f"Meeting {n}", hours=n)
    world.both()
    world.both()
    outcomes = burst(world, 12)
    assert [o.status for o in outcomes] == ["completed"] * 2 + ["held"] * 10
    [hold] = decisions.list_holds(world.container)
    hold, results = decisions.reject_hold(world.container, hold.id)
    assert [o.status for o in results] == ["completed"] * 10
    assert len(world.booking.live(ROOM)) == 10 and len(world.outlook.live(CALENDAR)) == 10
    links = world.storage.links.list(world.mapping.id)
    assert sorted(link.status for link in links) == (
        [SyncStatus.CANCELLED] * 2 + [SyncStatus.SYNCED] * 10)


def test_push_deletions_are_measured_within_their_window(azurite: Azurite) -> None:
    world = make_world(azurite, **GUARD)
    for n in range(30):
        world.booking.user_create(ROOM, f"Class {n}", hours=n)
    world.both()
    world.both()
    assert [o.status for o in burst(world, 6)] == ["completed"] * 6  # 6 of 30: not over
    # Eleven minutes later those six are past the window; 24 remain, 4 of them may go.
    later = SyncEngine.for_container(world.container,
                                     clock=lambda: utcnow() + timedelta(minutes=11))
    assert [o.status for o in burst(world, 5, later)] == ["completed"] * 4 + ["held"]
    [hold] = decisions.list_holds(world.container)
    assert len(hold.link_ids) == 1 and "1 of 24 " in hold.reason
