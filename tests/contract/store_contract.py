"""The contract every implementation of the stores passes (`calbridge.store.protocols`).

A test module subclasses `StoreContract` and provides one fixture, `new_storage`: a
callable giving fresh, empty storage that is not set up yet. The suite covers every
store method calbridge uses: round trips, uniqueness, look-ups from either end, ETag
concurrency (also between threads, as the engine applies operations several at a time),
orderings, and copies in and out.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import pytest
from pydantic import BaseModel

from calbridge.errors import AlreadyExists, BadRequest, EtagConflict, NotFound
from calbridge.model import (
    ConflictPolicy,
    Cursor,
    DeletionHold,
    End,
    EventLink,
    HoldStatus,
    LinkEnd,
    Operation,
    OperationKind,
    ResourceMapping,
    StoredEnd,
    Subscription,
    SyncStatus,
    SyncWork,
    new_id,
    utcnow,
)
from calbridge.store.deliveries import DeliveryRecord
from calbridge.store.protocols import LinkWrite, Stores
from calbridge.store.queues import MAX_MESSAGE_BYTES, QUEUES
from calbridge.sync.link_index import LinkIndex

BASE = datetime(2031, 1, 1, tzinfo=UTC)
M1, M2 = new_id(), new_id()


def mapping(a: str = "room_1", b: str = "room-a@example.org", *, a_bridge: str = "booking_system",
            b_bridge: str = "outlook", **fields: Any) -> ResourceMapping:
    return ResourceMapping(a=StoredEnd(bridge=a_bridge, calendar_id=a),
                           b=StoredEnd(bridge=b_bridge, calendar_id=b), **fields)


def link(a: str | None = None, b: str | None = None, *, mapping_id: str = M1,
         origin: End = End.A, **fields: Any) -> EventLink:
    return EventLink(mapping_id=mapping_id, origin=origin, a=LinkEnd(event_id=a),
                     b=LinkEnd(event_id=b), **fields)


def hold(mapping_id: str = M1, *, at: datetime = BASE, **fields: Any) -> DeletionHold:
    return DeletionHold(**{"mapping_id": mapping_id, "source": End.B, "link_ids": [new_id()],
                           "active_links": 40, "reason": "12 of 40 would be deleted",
                           "created_at": at, **fields})


def subscription(sid: str = "sub/1", *, bridge: str = "outlook", calendar_id: str = "a@x",
                 expires: datetime = BASE) -> Subscription:
    return Subscription(id=sid, bridge=bridge, calendar_id=calendar_id,
                        resource=f"users/{calendar_id}/events", expires_at=expires,
                        client_state_hash="hmac-sha256:00ff")


def operation(i: int, *, kind: OperationKind = OperationKind.CREATE,
              status: str = "completed") -> Operation:
    return Operation(source_system="booking_system", target_system="outlook", operation=kind,
                     status=status, at=BASE + timedelta(seconds=i), internal_id=str(i))


def page_token(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


def race(times: int, action: Callable[[int], object]) -> list[object]:
    """Run `action(i)` for each i from as many threads at once; each result or the error
    it raised."""
    start = threading.Barrier(times)

    def attempt(i: int) -> object:
        start.wait()
        try:
            return action(i)
        except (AlreadyExists, EtagConflict) as exc:
            return exc

    with ThreadPoolExecutor(max_workers=times) as pool:
        return list(pool.map(attempt, range(times)))


class Big(BaseModel):
    text: str


class ContractStorage(Stores, Protocol):
    def create_queue(self, name: str) -> None: ...


class StoreContract:
    @pytest.fixture
    def storage(self, new_storage: Callable[[], ContractStorage]) -> ContractStorage:
        fresh = new_storage()
        fresh.ensure()
        return fresh

    # ------------------------------------------------------------------ set-up

    def test_nothing_works_before_set_up(self, new_storage: Callable[[], ContractStorage]) -> None:
        fresh = new_storage()
        with pytest.raises(NotFound):
            fresh.mappings.list()
        with pytest.raises(NotFound):
            fresh.links.add(link("1"))
        fresh.ensure()
        fresh.ensure()  # once more changes nothing
        assert fresh.mappings.list() == [] and fresh.links.add(link("1")).a.event_id == "1"
        for name in QUEUES:
            fresh.queue(name).depth()  # created (other tests may have left messages)
        fresh.ping()


class MappingContract(StoreContract):
    def test_round_trip(self, storage: ContractStorage) -> None:
        given = mapping(conflict_policy=ConflictPolicy.MANUAL)
        given.b.name = "Conference Room A"
        stored = storage.mappings.add(given)
        read = storage.mappings.get(stored.id)
        assert (read.a.bridge, read.a.calendar_id) == ("booking_system", "room_1")
        assert (read.b.bridge, read.b.name) == ("outlook", "Conference Room A")
        assert read.conflict_policy is ConflictPolicy.MANUAL
        assert read.created_at.tzinfo is not None and read.etag == stored.etag

    def test_the_same_pair_cannot_be_mapped_twice(self, storage: ContractStorage) -> None:
        first = storage.mappings.add(mapping())
        with pytest.raises(AlreadyExists):
            storage.mappings.add(mapping())
        assert [m.id for m in storage.mappings.list()] == [first.id]
        assert storage.mappings.find_pair(mapping()).id == first.id
        # The same calendars the other way round are another mapping.
        swapped = storage.mappings.add(mapping("room-a@example.org", "room_1",
                                               a_bridge="outlook", b_bridge="booking_system"))
        assert storage.mappings.find_pair(swapped).id == swapped.id
        assert storage.mappings.find_pair(mapping("room_9")) is None

    def test_two_workers_adding_one_pair_make_one_mapping(self, storage: ContractStorage) -> None:
        results = race(4, lambda _: storage.mappings.add(mapping()))
        assert sum(isinstance(r, ResourceMapping) for r in results) == 1
        assert all(isinstance(r, ResourceMapping | AlreadyExists) for r in results)
        assert len(storage.mappings.list()) == 1

    def test_filters_match_either_end_in_creation_order(self, storage: ContractStorage) -> None:
        first = storage.mappings.add(mapping("room_1", "a@example.org",
                                             created_at=BASE + timedelta(seconds=2)))
        storage.mappings.add(mapping("room_2", "b@example.org", active=False,
                                     created_at=BASE + timedelta(seconds=3)))
        earliest = storage.mappings.add(mapping("c@example.org", "room_1", a_bridge="google",
                                                b_bridge="booking_system", created_at=BASE))
        assert [m.id for m in storage.mappings.list(calendar_id="room_1")] == [earliest.id,
                                                                               first.id]
        assert len(storage.mappings.list(calendar_id="b@example.org")) == 1
        assert len(storage.mappings.list(bridge="outlook")) == 2
        assert len(storage.mappings.list(bridge="google")) == 1
        assert [m.a.calendar_id for m in storage.mappings.list(active=False)] == ["room_2"]
        assert len(storage.mappings.list(active=True)) == 2
        assert storage.mappings.list(calendar_id="x' or true or 'x") == []
        assert storage.mappings.count() == {"total": 3, "active": 2}

    def test_stale_etag_is_refused(self, storage: ContractStorage) -> None:
        stored = storage.mappings.add(mapping())
        first, second = storage.mappings.get(stored.id), storage.mappings.get(stored.id)
        first.active = False
        storage.mappings.update(first, previous=storage.mappings.get(stored.id))
        second.b.name = "Lost update"
        with pytest.raises(EtagConflict):
            storage.mappings.update(second, previous=second)
        read = storage.mappings.get(stored.id)
        assert read.b.name is None and read.active is False

    def test_changing_the_pair_moves_uniqueness(self, storage: ContractStorage) -> None:
        stored = storage.mappings.add(mapping("room_1"))
        other = storage.mappings.add(mapping("room_2"))
        moved = stored.model_copy(update={"a": stored.a.model_copy(
            update={"calendar_id": "room_3"})})
        storage.mappings.update(moved, previous=stored)
        assert storage.mappings.find_pair(mapping("room_3")).id == stored.id
        storage.mappings.add(mapping("room_1"))  # the old pair is free again
        taken = other.model_copy(update={"a": other.a.model_copy(
            update={"calendar_id": "room_3"})})
        with pytest.raises(AlreadyExists):
            storage.mappings.update(taken, previous=other)
        assert storage.mappings.get(other.id).a.calendar_id == "room_2"

    def test_saving_state_keeps_updated_at_and_needs_a_fresh_etag(
            self, storage: ContractStorage) -> None:
        stored = storage.mappings.add(mapping())
        checked = storage.mappings.save_state(stored.model_copy(update={
            "verified": True, "failed_runs": 2}))
        assert checked.etag and checked.etag != stored.etag
        read = storage.mappings.get(stored.id)
        assert (read.verified, read.failed_runs) == (True, 2)
        assert read.updated_at == stored.updated_at
        with pytest.raises(EtagConflict):
            storage.mappings.save_state(stored.model_copy(update={"verified": False}))
        storage.mappings.save_state(checked.model_copy(update={"failed_runs": 0}))
        assert storage.mappings.get(stored.id).failed_runs == 0

    def test_ids_calbridge_never_made_are_simply_not_found(self, storage: ContractStorage) -> None:
        for odd in ("a/b", "a#b", "..", "x" * 2000, "bad'quote", "é", new_id()):
            with pytest.raises(NotFound):
                storage.mappings.get(odd)
            with pytest.raises(NotFound):
                storage.links.get(odd, odd)
            with pytest.raises(NotFound):
                storage.links.find_by_id(odd)
            with pytest.raises(NotFound):
                storage.holds.get(odd)

    def test_delete(self, storage: ContractStorage) -> None:
        stored = storage.mappings.add(mapping())
        stale = storage.mappings.get(stored.id)
        storage.mappings.save_state(storage.mappings.get(stored.id))
        with pytest.raises(EtagConflict):
            storage.mappings.delete(stale)
        storage.mappings.delete(storage.mappings.get(stored.id))
        with pytest.raises(NotFound):
            storage.mappings.get(stored.id)
        assert storage.mappings.find_pair(mapping()) is None
        storage.mappings.add(mapping())

    def test_what_is_handed_in_or_out_is_a_copy(self, storage: ContractStorage) -> None:
        given = mapping()
        stored = storage.mappings.add(given)
        given.b.name, stored.b.name = "changed after add", "changed after read"
        assert storage.mappings.get(stored.id).b.name is None
        assert storage.mappings.list()[0].b.name is None


class LinkContract(StoreContract):
    def test_found_from_either_end(self, storage: ContractStorage) -> None:
        stored = storage.links.add(link("78268", "AAMk/a+b=="))
        assert storage.links.find(M1, End.A, "78268").id == stored.id
        assert storage.links.find(M1, End.B, "AAMk/a+b==").id == stored.id
        assert storage.links.find(M1, End.A, "AAMk/a+b==") is None
        assert storage.links.find(M1, End.B, "other") is None
        assert storage.links.find(M2, End.A, "78268") is None
        assert storage.links.find_by_id(stored.id).a.event_id == "78268"
        assert storage.links.get(M1, stored.id).etag

    def test_an_end_event_id_belongs_to_one_link(self, storage: ContractStorage) -> None:
        storage.links.add(link("1"))
        with pytest.raises(AlreadyExists):
            storage.links.add(link("1", "2"))
        assert storage.links.find(M1, End.B, "2") is None  # nothing of the refused link
        # The same id at the other end, or in another mapping, is another event.
        storage.links.add(link(None, "1", origin=End.B))
        storage.links.add(link("1", mapping_id=M2))
        assert len(storage.links.list()) == 3

    def test_two_workers_linking_one_event_make_one_link(self, storage: ContractStorage) -> None:
        results = race(4, lambda _: storage.links.add(link("same")))
        assert sum(isinstance(r, EventLink) for r in results) == 1
        assert len(storage.links.list(M1)) == 1

    def test_index_follows_updates(self, storage: ContractStorage) -> None:
        stored = storage.links.add(link("1", "old"))
        stored.b.event_id = None
        stored.status = SyncStatus.CANCELLED
        stored = storage.links.update(stored)
        assert storage.links.find(M1, End.B, "old") is None
        stored.b.event_id = "new"
        stored.status = SyncStatus.PENDING
        storage.links.update(stored)
        assert storage.links.find(M1, End.B, "new").status is SyncStatus.PENDING
        assert storage.links.find(M1, End.A, "1").b.event_id == "new"

    def test_an_update_to_an_id_another_link_holds_changes_nothing(
            self, storage: ContractStorage) -> None:
        storage.links.add(link("1", "taken"))
        mine = storage.links.add(link("2", "mine"))
        mine.b.event_id, mine.status = "taken", SyncStatus.SYNCED
        with pytest.raises(AlreadyExists):
            storage.links.update(mine)
        read = storage.links.get(M1, mine.id)
        assert (read.b.event_id, read.status) == ("mine", SyncStatus.PENDING)
        assert storage.links.find(M1, End.B, "mine").id == mine.id

    def test_stale_etag_is_refused(self, storage: ContractStorage) -> None:
        stored = storage.links.add(link(None, "c1", origin=End.B))
        first, second = storage.links.get(M1, stored.id), storage.links.get(M1, stored.id)
        first.status = SyncStatus.SYNCED
        updated = storage.links.update(first)
        assert updated.etag != stored.etag and updated.updated_at >= stored.updated_at
        second.status = SyncStatus.ERROR
        with pytest.raises(EtagConflict):
            storage.links.update(second, previous=second)
        assert storage.links.get(M1, stored.id).status is SyncStatus.SYNCED

    def test_of_workers_updating_one_read_exactly_one_wins(self, storage: ContractStorage) -> None:
        stored = storage.links.add(link("1"))

        def write(i: int) -> EventLink:
            mine = stored.model_copy(deep=True)
            mine.b.event_id, mine.attempts = f"copy-{i}", i
            return storage.links.update(mine)

        results = race(4, write)
        [winner] = [r for r in results if isinstance(r, EventLink)]
        assert all(isinstance(r, EventLink | EtagConflict) for r in results)
        read = storage.links.get(M1, stored.id)
        assert read.b.event_id == winner.b.event_id
        # The index holds the winner's id alone.
        assert [i for i in range(4) if storage.links.find(M1, End.B, f"copy-{i}")] == [
            read.attempts]

    def test_counts_and_listing(self, storage: ContractStorage) -> None:
        for i, status in enumerate([SyncStatus.SYNCED, SyncStatus.SYNCED, SyncStatus.ERROR]):
            storage.links.add(link(str(i), status=status,
                                   item_type="booking" if i else "event"))
        storage.links.add(link("x", mapping_id=M2, status=SyncStatus.CONFLICT))
        by_status, by_type = storage.links.counts()
        assert by_status == {"synced": 2, "error": 1, "conflict": 1}
        assert by_type == {"event": {"synced": 1, "conflict": 1},
                           "booking": {"synced": 1, "error": 1}}
        assert storage.links.counts_by_mapping() == {M1: {"synced": 2, "error": 1},
                                                     M2: {"conflict": 1}}
        assert len(storage.links.list(M1, status=SyncStatus.SYNCED)) == 2
        assert len(storage.links.list(M1)) == 3 and len(storage.links.list()) == 4
        assert [x.a.event_id for x in storage.links.list(status=SyncStatus.CONFLICT)] == ["x"]
        errored = storage.links.list(M1, status=SyncStatus.ERROR)[0]
        storage.links.delete(errored)
        assert storage.links.find(M1, End.A, errored.a.event_id) is None
        with pytest.raises(NotFound):
            storage.links.get(M1, errored.id)
        storage.links.add(link(errored.a.event_id))  # its id is free again

    def test_many_links_are_written_at_once_past_one_transaction(
            self, storage: ContractStorage) -> None:
        # 130 links of three rows each (link, two index rows): several transactions.
        written = storage.links.write([LinkWrite(link(f"b{i}", f"o{i}")) for i in range(130)]
                                      + [LinkWrite(link("other", mapping_id=M2))])
        assert all(isinstance(each, EventLink) and each.etag for each in written)
        assert len(storage.links.list(M1)) == 130 and len(storage.links.list(M2)) == 1
        assert storage.links.find(M1, End.B, "o129").a.event_id == "b129"
        # Updates of what was written (ids moved, cleared) beside new links, at once.
        changes = []
        for i, stored in enumerate(written[:120]):
            mine = stored.model_copy(deep=True)
            mine.b.event_id = f"n{i}" if i % 2 else None
            mine.status = SyncStatus.SYNCED
            changes.append(LinkWrite(mine, previous=stored))
        again = storage.links.write(changes + [LinkWrite(link(f"new{i}")) for i in range(10)])
        assert all(isinstance(each, EventLink) for each in again)
        assert again[0].etag != written[0].etag
        assert storage.links.find(M1, End.B, "o0") is None
        assert storage.links.find(M1, End.B, "o1") is None
        assert storage.links.find(M1, End.B, "n1").a.event_id == "b1"
        assert storage.links.find(M1, End.B, "o125").a.event_id == "b125"  # untouched
        assert storage.links.find(M1, End.A, "new9") is not None
        assert len(storage.links.list(M1, status=SyncStatus.SYNCED)) == 120
        # What `write` handed back carries the stored ETag: it can be written again.
        assert isinstance(again[0], EventLink)
        again[0].title = "once more"
        assert storage.links.update(again[0], previous=again[0]).title == "once more"

    def test_many_found_at_once_from_either_end_or_by_id(self, storage: ContractStorage) -> None:
        written = storage.links.write([LinkWrite(link(f"b{i}", f"o{i}")) for i in range(40)]
                                      + [LinkWrite(link("b0", "o0", mapping_id=M2))])
        wanted = [(End.A, f"b{i}") for i in range(0, 40, 2)] + [(End.B, "o1"), (End.B, "o2"),
                                                               (End.A, "unknown")]
        found = storage.links.find_many(M1, wanted, link_ids=[written[3].id, new_id()])
        assert sorted(each.a.event_id for each in found) == sorted(
            [f"b{i}" for i in range(0, 40, 2)] + ["b1", "b3"])
        assert {each.mapping_id for each in found} == {M1} and all(e.etag for e in found)
        assert storage.links.find_many(M1, []) == []

    def test_the_links_of_a_few_series_found_without_the_others(
            self, storage: ContractStorage) -> None:
        # 20 series (a series pair and its three occurrence pairs each), 15 occurrences
        # synced one by one, and events of no series, in two mappings.
        series = [storage.links.add(link(f"s{n}", f"t{n}", item_type="series",
                                         series_end=End.A, series_id=f"s{n}"))
                  for n in range(20)]
        storage.links.write([LinkWrite(link(f"s{n}-{k}", f"t{n}-{k}", item_type="occurrence",
                                            series_end=End.A, series_id=f"s{n}",
                                            series_link=series[n].id))
                             for n in range(20) for k in range(3)]
                            + [LinkWrite(link(f"x-{k}", f"y-{k}", item_type="occurrence",
                                              series_end=End.A, series_id="expanded"))
                               for k in range(15)]
                            + [LinkWrite(link(f"e{n}", f"f{n}")) for n in range(10)]
                            + [LinkWrite(link("s1", "t1", mapping_id=M2, series_id="s1"))])
        found = storage.links.of_series(M1, ["s1", "expanded"], [series[n].id
                                                                  for n in range(2, 16)])
        assert sorted(each.a.event_id or "" for each in found) == sorted(
            ["s1", *(f"s1-{k}" for k in range(3)), *(f"x-{k}" for k in range(15)),
             *(f"s{n}-{k}" for n in range(2, 16) for k in range(3))])
        assert {each.mapping_id for each in found} == {M1} and all(e.etag for e in found)
        assert storage.links.of_series(M1) == []

    def test_a_mappings_links_read_one_by_one_and_indexed_answer_as_the_store_does(
            self, storage: ContractStorage) -> None:
        # How a complete listing is planned: the mapping's links read once, held compactly.
        series = storage.links.add(link("s0", "t0", item_type="series", series_end=End.A,
                                        series_id="s0"))
        storage.links.write([LinkWrite(link(f"s0-{k}", f"t0-{k}", item_type="occurrence",
                                            series_end=End.A, series_id="s0",
                                            series_link=series.id)) for k in range(3)]
                            + [LinkWrite(link(f"b{i}", f"o{i}")) for i in range(30)]
                            + [LinkWrite(link("b0", "o0", mapping_id=M2))])
        assert sorted(x.id for x in storage.links.each(M1)) == sorted(
            x.id for x in storage.links.list(M1))
        index = LinkIndex(storage.links.each(M1))
        assert len(index) == 34

        def ids(links: list[EventLink]) -> list[str]:
            return sorted(x.id for x in links)

        wanted = [(End.A, "b3"), (End.B, "o7"), (End.A, "s0-1"), (End.A, "unknown")]
        assert ids(index.find_many(M1, wanted, [series.id, new_id()])) == ids(
            storage.links.find_many(M1, wanted, [series.id, new_id()]))
        assert ids(index.of_series(M1, ["s0"], [series.id])) == ids(
            storage.links.of_series(M1, ["s0"], [series.id]))
        assert ids(index.of_series(M1, [], [series.id])) == ids(
            storage.links.of_series(M1, [], [series.id]))
        # Only those whose event no part of a listing named are candidates for deletion.
        listed = {f"b{i}" for i in range(30)} | {"s0", "s0-1"}
        assert sorted(x.a.event_id or "" for x in index.unlisted(End.A, listed)) == [
            "s0-0", "s0-2"]
        # A link from the index is the link as stored, ETag and all: a write of it goes
        # through, and one of a link changed since it was read is refused.
        [found] = index.find_many(M1, [(End.A, "b5")])
        assert found == storage.links.get(M1, found.id) and found.etag
        found.status = SyncStatus.SYNCED
        storage.links.update(found, previous=found)
        [stale] = index.find_many(M1, [(End.A, "b5")])
        stale.title = "stale"
        with pytest.raises(EtagConflict):
            storage.links.update(stale, previous=stale)

    def test_a_write_refused_in_a_batch_fails_alone(self, storage: ContractStorage) -> None:
        stale = storage.links.add(link("s"))
        storage.links.update(storage.links.get(M1, stale.id))  # someone wrote it since
        taken = storage.links.add(link("t"))
        good = storage.links.add(link("g"))
        before = good.model_copy(deep=True)
        stale.status = good.status = SyncStatus.SYNCED
        good.b.event_id = "g-copy"
        results = storage.links.write([
            LinkWrite(link(f"before{i}")) for i in range(3)] + [
            LinkWrite(stale, previous=stale),
            LinkWrite(link("t", "t-copy")),  # its event id is another link's
            LinkWrite(good, previous=before),
        ] + [LinkWrite(link(f"after{i}")) for i in range(3)])
        assert [type(each).__name__ for each in results] == (
            ["EventLink"] * 3 + ["EtagConflict", "AlreadyExists"] + ["EventLink"] * 4)
        assert storage.links.get(M1, stale.id).status is SyncStatus.PENDING
        assert storage.links.find(M1, End.A, "t").id == taken.id
        assert storage.links.find(M1, End.B, "t-copy") is None
        assert storage.links.find(M1, End.B, "g-copy").status is SyncStatus.SYNCED
        assert storage.links.find(M1, End.A, "after2") is not None

    def test_what_is_handed_in_or_out_is_a_copy(self, storage: ContractStorage) -> None:
        given = link("1")
        stored = storage.links.add(given)
        given.title, stored.title = "changed after add", "changed after read"
        stored.a.fields = {"title": "x"}
        assert storage.links.get(M1, stored.id).title is None
        assert storage.links.find(M1, End.A, "1").a.fields is None


class CursorContract(StoreContract):
    def test_a_cursor_read_earlier_must_not_have_changed(self, storage: ContractStorage) -> None:
        assert storage.cursors.get("outlook", "room-a@example.org") is None
        saved = storage.cursors.save(Cursor(bridge="outlook", calendar_id="room-a@example.org",
                                            cursor="https://graph/delta?$deltatoken=abc"))
        assert saved.etag
        stale = saved.model_copy()
        saved.cursor = "next"
        storage.cursors.save(saved)
        with pytest.raises(EtagConflict):
            storage.cursors.save(stale)
        assert storage.cursors.get("outlook", "room-a@example.org").cursor == "next"
        # Without an ETag a save replaces whatever is there.
        storage.cursors.save(Cursor(bridge="outlook", calendar_id="room-a@example.org",
                                    cursor="fresh"))
        assert storage.cursors.get("outlook", "room-a@example.org").cursor == "fresh"

    def test_each_mapping_end_has_its_own_starting_from_the_shared_one(
            self, storage: ContractStorage) -> None:
        storage.cursors.save(Cursor(bridge="outlook", calendar_id="cal", cursor="shared",
                                    last_poll_at=BASE))
        assert storage.cursors.for_end("outlook", "cal", M1).cursor == "shared"
        assert storage.cursors.get("outlook", "cal", M1) is None
        storage.cursors.save(Cursor(bridge="outlook", calendar_id="cal", mapping_id=M1,
                                    cursor="own"))
        assert storage.cursors.for_end("outlook", "cal", M1).cursor == "own"
        assert storage.cursors.for_end("outlook", "cal", M2).cursor == "shared"
        assert storage.cursors.get("outlook", "cal").last_poll_at == BASE
        assert storage.cursors.for_end("google", "cal", M1) is None

    def test_listing_by_bridge(self, storage: ContractStorage) -> None:
        for bridge, calendar in (("outlook", "a"), ("outlook", "b"), ("google", "a")):
            storage.cursors.save(Cursor(bridge=bridge, calendar_id=calendar, mapping_id=M1,
                                        cursor="c"))
        assert sorted(c.calendar_id for c in storage.cursors.list("outlook")) == ["a", "b"]
        assert {(c.bridge, c.mapping_id) for c in storage.cursors.list()} == {
            ("outlook", M1), ("google", M1)}
        assert len(storage.cursors.list()) == 3


class SubscriptionContract(StoreContract):
    def test_round_trip_renewal_and_removal(self, storage: ContractStorage) -> None:
        storage.subscriptions.add(subscription())
        sub = storage.subscriptions.get("outlook", "sub/1")
        assert sub.client_state_hash == "hmac-sha256:00ff" and sub.expires_at == BASE and sub.etag
        sub.expires_at = BASE + timedelta(days=3)
        storage.subscriptions.update(sub)
        assert storage.subscriptions.list(calendar_id="a@x")[0].expires_at == sub.expires_at
        storage.subscriptions.delete("outlook", "sub/1")
        storage.subscriptions.delete("outlook", "sub/1")  # gone already: fine
        assert storage.subscriptions.list() == []
        with pytest.raises(NotFound):
            storage.subscriptions.get("outlook", "sub/1")

    def test_one_id_per_bridge(self, storage: ContractStorage) -> None:
        storage.subscriptions.add(subscription())
        with pytest.raises(AlreadyExists):
            storage.subscriptions.add(subscription())
        storage.subscriptions.add(subscription(bridge="google"))
        assert len(storage.subscriptions.list()) == 2

    def test_stale_etag_is_refused(self, storage: ContractStorage) -> None:
        stored = storage.subscriptions.add(subscription())
        renewed = stored.model_copy(update={"expires_at": BASE + timedelta(days=1)})
        storage.subscriptions.update(renewed)
        with pytest.raises(EtagConflict):
            storage.subscriptions.update(stored.model_copy(update={"last_error": "x"}))
        assert storage.subscriptions.get("outlook", "sub/1").last_error is None

    def test_listed_soonest_expiry_first_and_filtered(self, storage: ContractStorage) -> None:
        storage.subscriptions.add(subscription("late", expires=BASE + timedelta(days=2)))
        storage.subscriptions.add(subscription("soon", calendar_id="b@x"))
        storage.subscriptions.add(subscription("mid", bridge="google",
                                               expires=BASE + timedelta(days=1)))
        assert [s.id for s in storage.subscriptions.list()] == ["soon", "mid", "late"]
        assert [s.id for s in storage.subscriptions.list("outlook")] == ["soon", "late"]
        assert [s.id for s in storage.subscriptions.list(calendar_id="b@x")] == ["soon"]
        assert storage.subscriptions.list("outlook", calendar_id="nope") == []


class OperationContract(StoreContract):
    def test_paged_newest_first(self, storage: ContractStorage) -> None:
        for i in range(5):
            storage.operations.record(operation(i))
        first, token = storage.operations.page(limit=3)
        assert [op.internal_id for op in first] == ["4", "3", "2"] and token
        rest, token = storage.operations.page(limit=3, continuation=token)
        assert [op.internal_id for op in rest] == ["1", "0"] and token is None
        assert storage.operations.counts() == {("create", "completed"): 5}

    def test_filtered_by_status_and_kind(self, storage: ContractStorage) -> None:
        storage.operations.record(operation(0))
        storage.operations.record(operation(1, status="failed"))
        storage.operations.record(operation(2, kind=OperationKind.CONFLICT, status="resolved"))
        storage.operations.record(operation(3, kind=OperationKind.DELETE))
        failed, _ = storage.operations.page(status="failed")
        assert [op.internal_id for op in failed] == ["1"]
        conflicts, _ = storage.operations.page(operation="conflict")
        assert [op.internal_id for op in conflicts] == ["2"]
        completed, token = storage.operations.page(status="completed", limit=1)
        assert [op.internal_id for op in completed] == ["3"]
        completed, token = storage.operations.page(status="completed", limit=1,
                                                   continuation=token)
        assert [op.internal_id for op in completed] == ["0"]
        assert storage.operations.counts() == {
            ("create", "completed"): 1, ("create", "failed"): 1, ("conflict", "resolved"): 1,
            ("delete", "completed"): 1}

    def test_many_logged_at_once(self, storage: ContractStorage) -> None:
        operations = [operation(i, status="failed" if i % 10 == 0 else "completed")
                      for i in range(150)]
        storage.operations.record_all(operations)
        storage.operations.record_all(operations[140:])  # a flush repeated: logged once
        newest, _ = storage.operations.page(limit=2)
        assert [op.internal_id for op in newest] == ["149", "148"]
        assert storage.operations.counts() == {("create", "completed"): 135,
                                               ("create", "failed"): 15}

    @pytest.mark.parametrize("token", ["not base64!", page_token([]), page_token({"a": "1"}),
                                       page_token({"RowKey": 5}),
                                       page_token({"RowKey": "x\r\nInjected: 1"})])
    def test_a_bad_page_token_is_a_bad_request(self, storage: ContractStorage, token: str) -> None:
        storage.operations.record(operation(0))
        with pytest.raises(BadRequest):
            storage.operations.page(continuation=token)


class HoldContract(StoreContract):
    def test_round_trip_oldest_first_by_status(self, storage: ContractStorage) -> None:
        late = storage.holds.add(hold(at=BASE + timedelta(minutes=1)))
        early = storage.holds.add(hold(M2))
        assert storage.holds.get(late.id).link_ids == late.link_ids and late.etag
        assert [h.id for h in storage.holds.list()] == [early.id, late.id]
        early.status, early.decided_at = HoldStatus.CONFIRMED, BASE + timedelta(hours=1)
        storage.holds.update(early)
        assert [h.id for h in storage.holds.list(HoldStatus.HELD)] == [late.id]
        assert [h.id for h in storage.holds.list(HoldStatus.CONFIRMED)] == [early.id]

    def test_a_hold_of_ten_thousand_deletions_is_kept_whole(
            self, storage: ContractStorage) -> None:
        many = [new_id() for _ in range(10_000)]  # a room emptied by a bulk cancellation
        stored = storage.holds.add(hold(link_ids=many, active_links=10_000))
        assert storage.holds.get(stored.id).link_ids == many
        stored.status = HoldStatus.REJECTED
        storage.holds.update(stored)
        [listed] = storage.holds.list(HoldStatus.REJECTED)
        assert listed.link_ids == many

    def test_a_decision_taken_meanwhile_is_not_overwritten(self, storage: ContractStorage) -> None:
        stored = storage.holds.add(hold())
        rejected = stored.model_copy(update={"status": HoldStatus.REJECTED})
        confirmed = stored.model_copy(update={"status": HoldStatus.CONFIRMED})
        results = race(2, lambda i: storage.holds.update([rejected, confirmed][i]))
        [decided] = [r for r in results if isinstance(r, DeletionHold)]
        assert storage.holds.get(stored.id).status is decided.status
        grown = storage.holds.get(stored.id)
        grown.link_ids.append(new_id())
        storage.holds.update(grown)
        assert len(storage.holds.get(stored.id).link_ids) == 2


class DeliveryContract(StoreContract):
    def record(self, delivery_id: str = "d-1", *, at: datetime = BASE,
               expires: timedelta = timedelta(minutes=5)) -> DeliveryRecord:
        return DeliveryRecord(bridge="booking_system", delivery_id=delivery_id,
                              received_at=at, expires_at=at + expires)

    def test_a_delivery_is_claimed_once_within_its_window(self, storage: ContractStorage) -> None:
        results = race(4, lambda _: storage.deliveries.claim(self.record()))
        assert results.count(True) == 1 and results.count(False) == 3
        assert storage.deliveries.claim(self.record("d-2")) is True
        later = self.record(at=BASE + timedelta(minutes=10))
        assert storage.deliveries.claim(later) is True  # its earlier claim expired
        assert storage.deliveries.claim(later) is False

    def test_released_claims_and_expired_ones_are_forgotten(self, storage: ContractStorage) -> None:
        storage.deliveries.claim(self.record("kept", expires=timedelta(days=1)))
        storage.deliveries.claim(self.record("old-1"))
        storage.deliveries.claim(self.record("old-2"))
        storage.deliveries.claim(self.record("released"))
        storage.deliveries.release("booking_system", "released")
        storage.deliveries.release("booking_system", "never-claimed")
        assert storage.deliveries.claim(self.record("released")) is True
        assert storage.deliveries.forget_expired(BASE + timedelta(hours=1)) == 3
        assert storage.deliveries.claim(self.record("old-1")) is True
        assert storage.deliveries.claim(self.record("kept")) is False


class QueueContract(StoreContract):
    def test_sent_messages_wait_in_the_queue(self, storage: ContractStorage) -> None:
        name = "t" + new_id()[:20]
        queue = storage.queue(name)
        with pytest.raises(NotFound):
            queue.send(SyncWork(mapping_id=M1, source=End.A, source_id="1"))
        storage.create_queue(name)
        assert queue.oldest_waiting() is None
        before = utcnow() - timedelta(seconds=5)  # Azurite's clock and ours may differ a little
        queue.send(SyncWork(mapping_id=M1, source=End.A, source_id="1"))
        queue.send(SyncWork(mapping_id=M1, source=End.B, source_id="2"), delay_seconds=30)
        queue.send_all([SyncWork(mapping_id=M1, source=End.A, source_id=str(i))
                        for i in range(3)])
        assert queue.depth() == 5 and storage.queue(name).depth() == 5
        oldest = queue.oldest_waiting()
        assert oldest is not None and before <= oldest <= utcnow() + timedelta(seconds=5)
        assert storage.queue(name + "-poison").depth() == 0

    def test_a_sent_message_can_be_withdrawn_until_taken(self, storage: ContractStorage) -> None:
        name = "t" + new_id()[:20]
        storage.create_queue(name)
        queue = storage.queue(name)
        kept, withdrawn = queue.send_all([SyncWork(mapping_id=M1, source=End.A, source_id=str(i))
                                          for i in range(2)], delay_seconds=30)
        assert queue.depth() == 2
        assert queue.withdraw(withdrawn) is True
        assert queue.depth() == 1
        assert queue.withdraw(withdrawn) is False  # gone already: nothing else is touched
        assert queue.release(withdrawn) is False
        assert queue.release(kept) is True
        assert queue.depth() == 1

    def test_a_message_over_the_limit_is_refused_the_others_sent(
            self, storage: ContractStorage) -> None:
        name = "t" + new_id()[:20]
        storage.create_queue(name)
        queue = storage.queue(name)
        with pytest.raises(ValueError, match="limit"):
            queue.send(Big(text="x" * MAX_MESSAGE_BYTES))
        with pytest.raises(ValueError, match="limit"):
            queue.send_all([Big(text="small"), Big(text="x" * MAX_MESSAGE_BYTES),
                            Big(text="small too")])
        assert queue.depth() == 2


class StorageContract(MappingContract, LinkContract, CursorContract, SubscriptionContract,
                      OperationContract, HoldContract, DeliveryContract, QueueContract):
    """The whole contract: subclass this with a `new_storage` fixture."""
