"""What a sync costs in Table Storage (Azurite, requests counted at the SDK's transport):
a first sync writes its links in entity-group transactions, a repeat writes nothing, a
quiet run reads no more for a large calendar than for a small one, and a crash between
the creates and the flush of their links converges with no duplicate."""

from __future__ import annotations

from collections import Counter

import pytest

from calbridge.errors import EtagConflict, StorageUnavailable
from calbridge.host.azurite import Azurite
from calbridge.model import End, EventLink, LinkEnd, Operation, OperationKind, SyncStatus
from calbridge.services import sync
from calbridge.store import Storage
from calbridge.store.protocols import LinkWrite
from tests.fixtures.storage import TableRequests, losing_table_answers
from tests.fixtures.sync import (
    CALENDAR,
    ROOM,
    SyncWorld,
    dies_after_the_pending_links,
    make_world,
    queued_work,
)

EVENTS = 250


def booked(azurite: Azurite, count: int, inline: int | None = None) -> SyncWorld:
    """A mapping whose booking calendar holds `count` bookings; runs apply `inline`
    operations (all by default) and queue the rest."""
    world = make_world(azurite, CALBRIDGE_INLINE_OPERATIONS=str(inline or count))
    for n in range(count):
        world.booking.user_create(ROOM, f"Booking {n}", hours=n)
    return world


def test_a_first_sync_costs_few_table_requests_and_a_repeat_writes_nothing(
        azurite: Azurite, table_requests: TableRequests) -> None:
    world = booked(azurite, EVENTS)
    table_requests.reset()
    outcomes = world.to_outlook()
    assert Counter(o.status for o in outcomes) == {"completed": EVENTS}
    first = table_requests.total
    assert first <= 1.5 * EVENTS, table_requests
    # Every pair is stored and findable from either end, and the log has every create.
    links = world.storage.links.list(world.mapping.id)
    assert len(links) == EVENTS and all(link.status is SyncStatus.SYNCED for link in links)
    copy = world.outlook.live(CALENDAR)[0]
    assert world.storage.links.find(world.mapping.id, End.B, copy.id) is not None
    assert world.storage.operations.counts() == {("create", "completed"): EVENTS}

    table_requests.reset()
    assert [o for o in world.to_outlook() if o.status != "skipped"] == []
    assert table_requests.writing == 0, table_requests
    table_requests.reset()
    echoes = world.to_booking()  # every Outlook event is calbridge's own copy
    assert {o.status for o in echoes} == {"skipped"}
    assert table_requests.writing <= 1, table_requests  # the new cursor, not the events


def test_a_quiet_run_reads_no_more_for_a_large_calendar(
        azurite: Azurite, table_requests: TableRequests) -> None:
    reads = []
    # Past 1,000 links a listing of the mapping's links takes a second page.
    for count in (5, 1001):
        world = booked(azurite, count)
        world.to_outlook()
        table_requests.reset()
        assert world.to_outlook() == []
        assert table_requests.writing == 0
        reads.append(table_requests.reads)
    assert reads[0] == reads[1], reads


def earlier_pairs(world: SyncWorld, count: int) -> None:
    """Pairs synced long before, stored straight away: a large mapping in a second."""
    world.storage.links.write([LinkWrite(EventLink(
        mapping_id=world.mapping.id, origin=End.A, status=SyncStatus.SYNCED,
        a=LinkEnd(event_id=f"earlier-{n}"), b=LinkEnd(event_id=f"copy-{n}")))
        for n in range(count)])


def test_a_run_after_a_few_edits_reads_the_links_of_those_edits_only(
        azurite: Azurite, table_requests: TableRequests) -> None:
    reads = []
    for earlier in (0, 1200):
        world = booked(azurite, 5)
        world.to_outlook()
        earlier_pairs(world, earlier)
        bookings = sorted(world.booking.live(ROOM), key=lambda e: e.title)
        world.booking.user_edit(ROOM, bookings[1].id, "Booking 1, moved to the big room")
        world.booking.user_delete(ROOM, bookings[2].id)
        world.booking.user_create(ROOM, "Booking 5", hours=5)
        table_requests.reset()
        outcomes = world.to_outlook()
        reads.append(table_requests.reads)
        assert sorted((o.operation, o.status) for o in outcomes) == [
            ("create", "completed"), ("delete", "completed"), ("update", "completed")]
        assert sorted(e.title for e in world.outlook.live(CALENDAR)) == [
            "Booking 0", "Booking 1, moved to the big room", "Booking 3", "Booking 4",
            "Booking 5"]
        assert not [o for o in world.both() if o.written]
    # Past 1,000 links a listing of the mapping's links would take a second page.
    assert reads[0] == reads[1], reads


def test_a_crash_before_the_links_are_flushed_converges_without_duplicates(
        azurite: Azurite, monkeypatch: pytest.MonkeyPatch) -> None:
    world = booked(azurite, 30)
    dies_after_the_pending_links(world.storage, monkeypatch)
    with pytest.raises(StorageUnavailable):
        world.to_outlook()
    assert len(world.outlook.live(CALENDAR)) == 30  # the copies were made
    monkeypatch.undo()

    again = world.to_outlook()
    assert Counter(o.status for o in again) == {"completed": 30}
    copies = world.outlook.live(CALENDAR)
    assert len(copies) == 30 and len({c.title for c in copies}) == 30
    assert all(link.status is SyncStatus.SYNCED
               for link in world.storage.links.list(world.mapping.id))
    assert [o for o in world.both() if o.status != "skipped"] == []
    assert len(world.outlook.live(CALENDAR)) == 30 and len(world.booking.live(ROOM)) == 30


def test_a_chunk_whose_links_fail_to_store_while_the_next_is_written_converges(
        azurite: Azurite, monkeypatch: pytest.MonkeyPatch) -> None:
    # A chunk's links are stored while the next chunk's copies are made: when storing
    # them fails, the run still says so, and the next run finds those copies instead
    # of making them twice.
    world = booked(azurite, EVENTS)
    links = world.storage.links
    write = links.write
    failed = []

    def loses_the_first_flush(writes):
        # The first write of links with their copies' ids (the others store new links,
        # pending, before their copies are made).
        if not failed and all(each.previous is not None for each in writes):
            failed.append(len(writes))
            raise StorageUnavailable("the storage account did not answer")
        return write(writes)

    monkeypatch.setattr(links, "write", loses_the_first_flush)
    with pytest.raises(StorageUnavailable):
        world.to_outlook()
    assert len(world.outlook.live(CALENDAR)) == EVENTS  # the later chunks went on
    monkeypatch.setattr(links, "write", write)

    # The first chunk's pairs are completed from their copies, the others stand.
    again = world.to_outlook()
    assert failed == [100]
    assert Counter(o.status for o in again) == {"completed": 100, "skipped": EVENTS - 100}
    copies = world.outlook.live(CALENDAR)
    assert len(copies) == EVENTS and len({c.title for c in copies}) == EVENTS
    assert all(link.status is SyncStatus.SYNCED
               for link in world.storage.links.list(world.mapping.id))
    assert [o for o in world.both() if o.status != "skipped"] == []


def upstream_calls(world: SyncWorld, monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Calls the sync makes to either calendar system, by bridge and method."""
    calls: Counter[str] = Counter()
    for bridge in (world.booking, world.outlook):
        for name in ("changes", "get_event", "list_events", "instances", "find_by_marker",
                     "create", "update", "delete"):
            method = getattr(bridge, name)

            def counted(*args, _method=method, _key=f"{bridge.name}.{name}", **kwargs):
                calls[_key] += 1
                return _method(*args, **kwargs)

            monkeypatch.setattr(bridge, name, counted)
    return calls


def test_work_handed_to_the_queue_costs_what_inline_work_costs(
        azurite: Azurite, monkeypatch: pytest.MonkeyPatch) -> None:
    inline, fanned = booked(azurite, 40), booked(azurite, 40, inline=4)
    counts = {}
    for world in (inline, fanned):
        calls = upstream_calls(world, monkeypatch)
        outcomes = world.to_outlook()
        work = queued_work(world.storage, world.mapping.id)
        for each in work:
            outcomes += sync.process_work(world.container, each)
        counts[id(world)] = calls
        assert Counter(o.status for o in outcomes)["completed"] == 40
    assert len(work) == 1  # 36 events in one message
    assert counts[id(inline)] == counts[id(fanned)]
    assert counts[id(fanned)]["booking_system.get_event"] == 0
    for world in (inline, fanned):
        assert sorted(e.title for e in world.outlook.live(CALENDAR)) == sorted(
            f"Booking {n}" for n in range(40))
        assert [o for o in world.both() if o.status != "skipped"] == []


def test_work_handed_to_the_queue_costs_the_table_requests_inline_work_costs(
        azurite: Azurite, table_requests: TableRequests) -> None:
    requests = {}
    for inline in (300, 100):  # every write in the run, or 200 of them queued
        world = booked(azurite, 300, inline=inline)
        table_requests.reset()
        outcomes = world.to_outlook()
        for work in queued_work(world.storage, world.mapping.id):
            outcomes += sync.process_work(world.container, work)
        assert Counter(o.status for o in outcomes)["completed"] == 300
        requests[inline] = table_requests.total
        assert len(world.outlook.live(CALENDAR)) == 300
        assert [o for o in world.both() if o.status != "skipped"] == []
    assert requests[100] <= 1.1 * requests[300], requests


def test_queued_work_never_overwrites_a_newer_edit(azurite: Azurite) -> None:
    world = booked(azurite, 6, inline=1)
    world.to_outlook()
    work = queued_work(world.storage, world.mapping.id)
    # Before the queue is worked off, a booking is edited and its webhook syncs it.
    queued = work[0].events[-1]
    assert queued.id is not None
    world.booking.user_edit(ROOM, queued.id, "Edited since")
    world.engine.sync_event(world.fresh_mapping(), world.booking_end, queued.id, "webhook")
    for each in work:
        sync.process_work(world.container, each)
    assert sorted(e.title for e in world.outlook.live(CALENDAR)) == sorted(
        ["Edited since", *(f"Booking {n}" for n in range(5))])
    assert [o for o in world.both() if o.status != "skipped"] == []


def test_queued_work_reads_its_own_links_however_many_the_mapping_holds(
        azurite: Azurite, table_requests: TableRequests) -> None:
    reads = []
    for earlier in (0, 1200):
        world = booked(azurite, 50, inline=10)
        world.to_outlook()
        # The other 40 bookings, in one message.
        [work] = queued_work(world.storage, world.mapping.id)
        earlier_pairs(world, earlier)
        table_requests.reset()
        outcomes = sync.process_work(world.container, work)
        reads.append(table_requests.reads)
        assert Counter(o.status for o in outcomes) == {"completed": 40}
        assert sorted(e.title for e in world.outlook.live(CALENDAR)) == sorted(
            f"Booking {n}" for n in range(50))
        # Delivered again: nothing more is written.
        assert {o.status for o in sync.process_work(world.container, work)} == {"skipped"}
    # The mapping, read once: nothing is looked up for pairs that were new when queued.
    assert reads == [1, 1], reads


def test_queued_work_that_failed_after_storing_its_links_converges_when_delivered_again(
        azurite: Azurite, monkeypatch: pytest.MonkeyPatch) -> None:
    world = booked(azurite, 30, inline=10)
    world.to_outlook()
    [work] = queued_work(world.storage, world.mapping.id)
    dies_after_the_pending_links(world.storage, monkeypatch)
    with pytest.raises(StorageUnavailable):
        sync.process_work(world.container, work)
    monkeypatch.undo()

    again = sync.process_work(world.container, work, redelivered=True)
    assert Counter(o.status for o in again) == {"completed": 20}
    copies = world.outlook.live(CALENDAR)
    assert sorted(c.title for c in copies) == sorted(f"Booking {n}" for n in range(30))
    assert all(link.status is SyncStatus.SYNCED
               for link in world.storage.links.list(world.mapping.id))
    assert [o for o in world.both() if o.status != "skipped"] == []


@pytest.mark.parametrize("nth", [1, 2])  # the pending links, then their flush
def test_a_table_transaction_whose_answer_is_lost_is_applied_once(
        azurite: Azurite, nth: int) -> None:
    world = booked(azurite, 30)
    with losing_table_answers(azurite.ports[2], nth) as lost:
        outcomes = world.to_outlook()
    assert lost.lost == 1
    assert Counter(o.status for o in outcomes) == {"completed": 30}
    copies = world.outlook.live(CALENDAR)
    assert sorted(c.title for c in copies) == sorted(f"Booking {n}" for n in range(30))
    links = world.storage.links.list(world.mapping.id)
    assert len(links) == 30 and all(link.status is SyncStatus.SYNCED for link in links)
    assert {world.storage.links.find(world.mapping.id, End.B, c.id).id  # type: ignore[union-attr]
            for c in copies} == {link.id for link in links}
    assert world.storage.operations.counts() == {("create", "completed"): 30}
    assert [o for o in world.both() if o.status != "skipped"] == []


def test_a_log_transaction_whose_answer_is_lost_logs_each_operation_once(
        azurite: Azurite, storage: Storage, table_requests: TableRequests) -> None:
    done = [Operation(source_system="booking_system", target_system="outlook",
                      operation=OperationKind.CREATE, status="completed") for _ in range(30)]
    table_requests.reset()
    with losing_table_answers(azurite.ports[2], 1) as lost:
        storage.operations.record_all(done)
    assert lost.lost == 1
    assert storage.operations.counts() == {("create", "completed"): 30}
    assert table_requests.writes == 0, table_requests  # never row by row


def test_a_lost_answer_is_not_taken_for_a_write_another_worker_made(
        azurite: Azurite) -> None:
    world = booked(azurite, 3)
    world.to_outlook()
    links = world.storage.links
    [stored, *_] = links.list(world.mapping.id)
    mine = stored.model_copy(update={"last_error": "mine"})

    def another_worker_writes() -> None:
        current = links.get(stored.mapping_id, stored.id)
        links.update(current.model_copy(update={"last_error": "theirs"}), current)

    # My write is applied, its answer lost, and another worker writes the link after it.
    with losing_table_answers(azurite.ports[2], 1, meanwhile=another_worker_writes):
        [outcome] = links.write([LinkWrite(mine, stored)])
    assert isinstance(outcome, EtagConflict)
    assert links.get(stored.mapping_id, stored.id).last_error == "theirs"
