"""Every repository against Azurite: round trips, uniqueness, ETag concurrency."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from calbridge.errors import AlreadyExists, EtagConflict, NotFound
from calbridge.model import (
    ConflictPolicy,
    Cursor,
    End,
    EventLink,
    Operation,
    OperationKind,
    ResourceMapping,
    Subscription,
    SyncStatus,
    new_id,
)
from calbridge.store import Storage

M1 = new_id()


def room_mapping(resource: str = "room_123", calendar: str = "room-a@example.org",
                 **fields: object) -> ResourceMapping:
    return ResourceMapping(booking_system_resource_id=resource, calendar_system="outlook",
                           calendar_resource_id=calendar, **fields)


class TestMappings:
    def test_round_trip(self, storage: Storage) -> None:
        stored = storage.mappings.add(room_mapping(calendar_resource_name="Conference Room A",
                                                   conflict_policy=ConflictPolicy.MANUAL))
        read = storage.mappings.get(stored.id)
        assert read.b.name == "Conference Room A"
        assert read.conflict_policy is ConflictPolicy.MANUAL
        assert read.created_at.tzinfo is not None and read.etag

    def test_the_same_pair_cannot_be_mapped_twice(self, storage: Storage) -> None:
        storage.mappings.add(room_mapping())
        with pytest.raises(AlreadyExists):
            storage.mappings.add(room_mapping())
        assert len(storage.mappings.list()) == 1

    def test_filters(self, storage: Storage) -> None:
        storage.mappings.add(room_mapping("room_1", "a@example.org"))
        storage.mappings.add(room_mapping("room_2", "b@example.org", active=False))
        storage.mappings.add(room_mapping("room_1", "c@example.org"))
        assert len(storage.mappings.list(calendar_id="room_1")) == 2
        assert len(storage.mappings.list(calendar_id="b@example.org")) == 1
        assert len(storage.mappings.list(bridge="outlook")) == 3
        assert [m.a.calendar_id for m in storage.mappings.list(active=False)] == [
            "room_2"]
        assert storage.mappings.list(calendar_id="x' or true or 'x") == []

    def test_stale_etag_is_refused(self, storage: Storage) -> None:
        stored = storage.mappings.add(room_mapping())
        first, second = storage.mappings.get(stored.id), storage.mappings.get(stored.id)
        first.active = False
        storage.mappings.update(first, previous=storage.mappings.get(stored.id))
        second.b.name = "Lost update"
        with pytest.raises(EtagConflict):
            storage.mappings.update(second, previous=second)
        assert storage.mappings.get(stored.id).b.name is None

    def test_changing_the_pair_moves_uniqueness(self, storage: Storage) -> None:
        stored = storage.mappings.add(room_mapping("room_1"))
        other = storage.mappings.add(room_mapping("room_2"))
        moved = stored.model_copy(update={"a": stored.a.model_copy(
            update={"calendar_id": "room_3"})})
        storage.mappings.update(moved, previous=stored)
        storage.mappings.add(room_mapping("room_1"))  # the old pair is free again
        taken = other.model_copy(update={"a": other.a.model_copy(
            update={"calendar_id": "room_3"})})
        with pytest.raises(AlreadyExists):
            storage.mappings.update(taken, previous=other)

    def test_ids_calbridge_never_made_are_simply_not_found(self, storage: Storage) -> None:
        for odd in ("a/b", "a#b", "..", "x" * 2000, "bad'quote", "é"):
            with pytest.raises(NotFound):
                storage.mappings.get(odd)
            with pytest.raises(NotFound):
                storage.links.get(odd, odd)

    def test_delete(self, storage: Storage) -> None:
        stored = storage.mappings.add(room_mapping())
        storage.mappings.delete(stored)
        with pytest.raises(NotFound):
            storage.mappings.get(stored.id)
        storage.mappings.add(room_mapping())


class TestLinks:
    def test_found_from_either_side(self, storage: Storage) -> None:
        link = storage.links.add(EventLink(mapping_id=M1, origin=End.A,
                                           booking_id="78268", calendar_event_id="AAMk/a+b=="))
        assert storage.links.find(M1, End.A, "78268").id == link.id
        assert storage.links.find(M1, End.B, "AAMk/a+b==").id == link.id
        assert storage.links.find(M1, End.B, "other") is None

    def test_a_side_id_belongs_to_one_link(self, storage: Storage) -> None:
        storage.links.add(EventLink(mapping_id=M1, origin=End.A, booking_id="1"))
        with pytest.raises(AlreadyExists):
            storage.links.add(EventLink(mapping_id=M1, origin=End.A, booking_id="1"))

    def test_index_follows_updates(self, storage: Storage) -> None:
        link = storage.links.add(EventLink(mapping_id=M1, origin=End.A,
                                           booking_id="1", calendar_event_id="old"))
        link.b.event_id = None
        link.status = SyncStatus.CANCELLED
        link = storage.links.update(link)
        assert storage.links.find(M1, End.B, "old") is None
        link.b.event_id = "new"
        link.status = SyncStatus.PENDING
        storage.links.update(link)
        assert storage.links.find(M1, End.B, "new").status is SyncStatus.PENDING

    def test_stale_etag_is_refused(self, storage: Storage) -> None:
        link = storage.links.add(EventLink(mapping_id=M1, origin=End.B,
                                           calendar_event_id="c1"))
        a, b = storage.links.get(M1, link.id), storage.links.get(M1, link.id)
        a.status = SyncStatus.SYNCED
        storage.links.update(a)
        b.status = SyncStatus.ERROR
        with pytest.raises(EtagConflict):
            storage.links.update(b, previous=b)
        assert storage.links.get(M1, link.id).status is SyncStatus.SYNCED

    def test_counts_and_listing(self, storage: Storage) -> None:
        for i, status in enumerate([SyncStatus.SYNCED, SyncStatus.SYNCED, SyncStatus.ERROR]):
            storage.links.add(EventLink(mapping_id=M1, origin=End.A, booking_id=str(i),
                                        status=status, item_type="booking" if i else "event"))
        by_status, by_type = storage.links.counts()
        assert by_status == {"synced": 2, "error": 1}
        assert by_type == {"event": {"synced": 1}, "booking": {"synced": 1, "error": 1}}
        assert len(storage.links.list(M1, status=SyncStatus.SYNCED)) == 2
        link = storage.links.list(M1, status=SyncStatus.ERROR)[0]
        storage.links.delete(link)
        assert storage.links.find(M1, End.A, link.a.event_id) is None


def test_cursors(storage: Storage) -> None:
    assert storage.cursors.get("outlook", "room-a@example.org") is None
    saved = storage.cursors.save(Cursor(bridge="outlook", calendar_id="room-a@example.org",
                                        cursor="https://graph/delta?$deltatoken=abc"))
    stale = saved.model_copy()
    saved.cursor = "next"
    storage.cursors.save(saved)
    with pytest.raises(EtagConflict):
        storage.cursors.save(stale)
    assert storage.cursors.get("outlook", "room-a@example.org").cursor == "next"
    assert [c.calendar_id for c in storage.cursors.list("outlook")] == ["room-a@example.org"]


def test_subscriptions(storage: Storage) -> None:
    expires = datetime(2031, 1, 1, tzinfo=UTC)
    storage.subscriptions.add(Subscription(id="sub/1", bridge="outlook", calendar_id="a@x",
                                           resource="users/a@x/events", expires_at=expires,
                                           client_state="s3cret"))
    sub = storage.subscriptions.get("outlook", "sub/1")
    assert sub.client_state == "s3cret" and sub.expires_at == expires
    sub.expires_at = expires + timedelta(days=3)
    storage.subscriptions.update(sub)
    assert storage.subscriptions.list(calendar_id="a@x")[0].expires_at == sub.expires_at
    storage.subscriptions.delete("outlook", "sub/1")
    assert storage.subscriptions.list() == []


def test_operations_are_paged_newest_first(storage: Storage) -> None:
    base = datetime(2031, 1, 1, tzinfo=UTC)
    storage.operations.record_many([
        Operation(source_system="booking_system", target_system="outlook",
                  operation=OperationKind.CREATE, status="completed",
                  at=base + timedelta(seconds=i), internal_id=str(i))
        for i in range(5)])
    first, token = storage.operations.page(limit=3)
    assert [op.internal_id for op in first] == ["4", "3", "2"] and token
    rest, token = storage.operations.page(limit=3, continuation=token)
    assert [op.internal_id for op in rest] == ["1", "0"] and token is None
    assert storage.operations.counts() == {("create", "completed"): 5}
