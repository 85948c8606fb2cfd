"""The engine hands a run's updates and deletes into a calendar that declares batch writes to
it in batches: the copies (or the sources of tombstones) read in one `get_events` call per
chunk, the writes sent in one `apply` call, and each result recorded as a single update's or
delete's would be — conflicts decided exactly as one at a time. Over the in-memory stores and
calendars."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from calbridge.model import ConflictPolicy, EventField, SyncStatus, SyncWork
from tests.fixtures.memory_bridge import BatchingMemoryBridge
from tests.fixtures.sync import CALENDAR, ROOM, SyncWorld, memory_world


def synced(count: int, **options: Any) -> SyncWorld:
    """`count` bookings synced to the Outlook-like end (which writes in batches), with the
    counters of that first sync cleared. The deletion guard stays out of the way."""
    world = memory_world(batches=True, CALBRIDGE_SYNC_WORKERS="1",
                         CALBRIDGE_MASS_DELETE_MIN="1000", **options)
    for n in range(count):
        world.booking.user_create(ROOM, f"Booking {n}", hours=n)
    assert Counter(o.status for o in world.to_outlook()) == {"completed": count}
    for bridge in (world.booking, world.outlook):
        if isinstance(bridge, BatchingMemoryBridge):
            bridge.applied = 0
            bridge.reads.clear()
    world.outlook.updated_fields.clear()
    return world


def done(outcomes: list) -> Counter[tuple[str, str]]:
    return Counter((str(o.operation), str(o.status)) for o in outcomes)


def outlook(world: SyncWorld) -> BatchingMemoryBridge:
    assert isinstance(world.outlook, BatchingMemoryBridge)
    return world.outlook


def test_updates_read_their_copies_and_write_them_in_one_call_each_per_chunk() -> None:
    world = synced(150)
    for event in world.booking.live(ROOM):
        world.booking.user_edit(ROOM, event.id or "", f"{event.title} (moved)")
    outcomes = world.to_outlook()
    assert done(outcomes) == {("update", "completed"): 150}
    assert outlook(world).reads == [100, 50]  # chunks of 100 operations
    assert outlook(world).applied == 2
    # Each copy got the changed field only, as a single update sends it.
    assert outlook(world).updated_fields == [frozenset({EventField.TITLE})] * 150
    assert sorted(e.title for e in world.outlook.live(CALENDAR)) == sorted(
        f"Booking {n} (moved)" for n in range(150))
    assert all(link.status is SyncStatus.SYNCED
               for link in world.storage.links.list(world.mapping.id))
    assert [o for o in world.both() if o.status != "skipped"] == []


def test_a_copy_gone_from_the_target_skips_its_update_alone() -> None:
    world = synced(5)
    for event in world.booking.live(ROOM):
        world.booking.user_edit(ROOM, event.id or "", f"{event.title} (moved)")
    gone = world.outlook.live(CALENDAR)[2]
    world.outlook.user_delete(CALENDAR, gone.id or "")
    outcomes = world.to_outlook()
    assert done(outcomes) == {("update", "completed"): 4, ("update", "skipped"): 1}
    skipped = next(o for o in outcomes if o.status == "skipped")
    assert skipped.target_id == gone.id and "gone" in skipped.reason
    assert outlook(world).reads == [5] and outlook(world).applied == 1
    assert len(world.outlook.live(CALENDAR)) == 4


def edit_both_ends(world: SyncWorld) -> None:
    """Pair 0: its title changed on both ends; pair 1: its title in the booking system, its
    location in Outlook; pair 2: its title in the booking system only."""
    links = sorted(world.storage.links.list(world.mapping.id), key=lambda link: link.title)
    end = world.booking_end
    for n, link in enumerate(links[:3]):
        world.booking.user_edit(ROOM, link.event_id(end) or "", f"Booking {n}, ours")
    world.outlook.user_edit(CALENDAR, links[0].event_id(end.other) or "", "Booking 0, theirs")
    world.outlook.user_edit(CALENDAR, links[1].event_id(end.other) or "", location="Room 2")


@pytest.mark.parametrize("policy", [ConflictPolicy.ORIGIN_WINS, ConflictPolicy.NEWEST_WINS,
                                    ConflictPolicy.MANUAL])
def test_a_change_on_both_ends_is_decided_in_a_batch_as_it_is_alone(
        policy: ConflictPolicy) -> None:
    def play(batches: bool) -> tuple[SyncWorld, list[tuple[Any, ...]], tuple[Any, ...]]:
        world = memory_world(batches=batches, CALBRIDGE_SYNC_WORKERS="1")
        world.set_policy(policy)
        for n in range(4):
            world.booking.user_create(ROOM, f"Booking {n}", hours=n)
        world.to_outlook()
        edit_both_ends(world)
        outcomes = world.to_outlook() + world.to_booking()
        seen = [(o.operation, o.status, o.reason, o.conflict is not None) for o in outcomes]
        state = (sorted((e.title, e.location) for e in world.booking.live(ROOM)),
                 sorted((e.title, e.location) for e in world.outlook.live(CALENDAR)),
                 sorted((link.title, link.status, link.last_error)
                        for link in world.storage.links.list(world.mapping.id)))
        return world, seen, state

    batched, seen, state = play(batches=True)
    _, seen_alone, state_alone = play(batches=False)
    assert outlook(batched).reads == [3]  # the three updates' copies, read at once
    assert (seen, state) == (seen_alone, state_alone)
    if policy is ConflictPolicy.MANUAL:
        assert ("update", "conflict") in {(str(o), str(s)) for o, s, _, _ in seen}
        assert SyncStatus.CONFLICT in {status for _, status, _ in state[2]}
    else:
        assert any(conflict for *_, conflict in seen)
    # The location changed in Outlook only flowed back, whatever the policy.
    assert ("Booking 1, ours", "Room 2") in state[0]


def test_cancelled_bookings_delete_their_copies_in_one_apply() -> None:
    world = synced(30)
    for event in world.booking.live(ROOM)[:20]:
        world.booking.user_delete(ROOM, event.id or "")
    outcomes = world.to_outlook()
    assert done(outcomes) == {("delete", "completed"): 20}
    # A cancelled booking is read as cancelled: nothing to read again before deleting.
    assert outlook(world).reads == [] and outlook(world).applied == 1
    assert len(world.outlook.live(CALENDAR)) == 10
    links = world.storage.links.list(world.mapping.id)
    assert Counter(link.status for link in links) == {SyncStatus.CANCELLED: 20,
                                                      SyncStatus.SYNCED: 10}
    assert [o for o in world.both() if o.status != "skipped"] == []


def test_tombstones_are_read_again_in_one_call_and_their_copies_deleted_in_one() -> None:
    world = synced(30, booking_batches=True)
    assert isinstance(world.booking, BatchingMemoryBridge)
    world.to_booking()  # the Outlook end's first read: its cursor
    for copy in world.outlook.live(CALENDAR)[:10]:
        world.outlook.user_delete(CALENDAR, copy.id or "")
    outlook(world).reads.clear()
    outcomes = world.to_booking()
    assert done(outcomes) == {("delete", "completed"): 10}
    assert outlook(world).reads == [10]  # the sources, to be sure they are gone
    assert world.booking.applied == 1
    assert len(world.booking.live(ROOM)) == 20
    assert [o for o in world.both() if o.status != "skipped"] == []


def test_a_tombstone_of_an_event_still_there_syncs_it_instead() -> None:
    # Graph's windowed delta also names events that moved out of its window as removed.
    world = synced(3, booking_batches=True)
    moved = world.outlook.live(CALENDAR)[1]
    world.outlook.user_edit(CALENDAR, moved.id or "", "Moved far away")
    work = SyncWork(mapping_id=world.mapping.id, source=world.booking_end.other,
                    deleted=[moved.id or ""])
    outcomes = world.engine.apply_work(world.fresh_mapping(), work)
    assert done(outcomes) == {("update", "completed"): 1}
    assert outlook(world).reads == [1]
    assert sorted(e.title for e in world.booking.live(ROOM)) == [
        "Booking 0", "Booking 2", "Moved far away"]
    assert all(link.status is SyncStatus.SYNCED
               for link in world.storage.links.list(world.mapping.id))
