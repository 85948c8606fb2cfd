"""The engine hands a run's new pairs' creates to a calendar that declares batch writes in
one `apply` call per chunk, and records each result as a single create's: over the
in-memory stores and calendars."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from calbridge.model import Event, SyncStatus, SyncWork
from calbridge.services import sync
from calbridge.store.queues import SYNC_WORK
from tests.fixtures.memory_bridge import SOON, BatchingMemoryBridge
from tests.fixtures.sync import CALENDAR, ROOM, SyncWorld, memory_world


def booked(count: int) -> SyncWorld:
    world = memory_world(batches=True, CALBRIDGE_SYNC_WORKERS="1")
    for n in range(count):
        world.booking.user_create(ROOM, f"Booking {n}", hours=n)
    return world


def test_new_pairs_are_created_in_one_apply_per_chunk() -> None:
    world = booked(150)
    outlook = world.outlook
    assert isinstance(outlook, BatchingMemoryBridge)
    outcomes = world.to_outlook()
    assert Counter(o.status for o in outcomes) == {"completed": 150}
    assert outlook.applied == 2  # chunks of 100 operations
    copies = outlook.live(CALENDAR)
    assert sorted(c.title for c in copies) == sorted(f"Booking {n}" for n in range(150))
    # Each copy carries its link's id as marker, and its link knows the copy.
    links = {link.id: link for link in world.storage.links.list(world.mapping.id)}
    assert {c.marker for c in copies} == set(links)
    assert all(link.status is SyncStatus.SYNCED and link.b.event_id for link in links.values())
    assert [o for o in world.both() if o.status != "skipped"] == []


def test_a_lost_answer_in_a_batch_fails_those_pairs_and_the_retry_duplicates_nothing() -> None:
    world = booked(10)
    world.outlook.lose_next = 1  # the first create is made, its answer lost: the rest wait
    outcomes = world.to_outlook()
    assert Counter(o.status for o in outcomes) == {"failed": 10}
    assert len(world.outlook.live(CALENDAR)) == 1
    links = world.storage.links.list(world.mapping.id)
    assert all(link.status is SyncStatus.ERROR and link.attempts == 1
               and link.next_attempt_at is not None for link in links)
    retried = sync.process_pending(world.container, manual=True)
    assert Counter(o.status for o in retried) == {"completed": 10}
    assert sorted(c.title for c in world.outlook.live(CALENDAR)) == sorted(
        f"Booking {n}" for n in range(10))
    assert [o for o in world.both() if o.status != "skipped"] == []


def test_new_meetings_with_long_ids_handed_to_the_queue_fit_its_messages() -> None:
    # Graph's event ids are some 150 characters; the queued work lists the new pairs' ids
    # beside their events, and that list counts towards the 64 KiB a message holds.
    world = memory_world(CALBRIDGE_INLINE_OPERATIONS="1")
    for n in range(101):
        world.outlook._store(CALENDAR, Event(  # ids as Graph makes them
            id=f"AAMkAGI2TG93AAA{n:03d}" + "x" * 140, title=f"Meeting {n}",
            description="Agenda " * 55, start=SOON + timedelta(hours=n),
            end=SOON + timedelta(hours=n, minutes=45)))
    outcomes = world.to_booking()
    assert Counter(o.status for o in outcomes) == {"completed": 1, "queued": 100}
    queue = world.storage.queue(SYNC_WORK)
    assert queue.depth() > 1
    for _, body in list(queue._messages()):
        sync.process_work(world.container, SyncWork.model_validate_json(body))
    assert sorted(b.title for b in world.booking.live(ROOM)) == sorted(
        f"Meeting {n}" for n in range(101))
    assert [o for o in world.both() if o.status != "skipped"] == []
