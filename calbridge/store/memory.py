"""The stores of `calbridge.store.protocols` held in memory, with the Table Storage
repositories' semantics (the same contract suite runs over both): ETags and
`EtagConflict`, `AlreadyExists` and `NotFound`, the same orderings, copies in and out,
and nothing usable before `ensure()`. One lock per storage makes every call atomic, as
an entity-group transaction is, and safe from the engine's worker threads.

For fast, deterministic runs of the engine and the services; production uses
`calbridge.store.Storage`.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import TypeVar

from pydantic import BaseModel

from calbridge.errors import AlreadyExists, CalbridgeError, EtagConflict, NotFound
from calbridge.model import (
    Cursor,
    DeletionHold,
    End,
    EventLink,
    HoldStatus,
    Operation,
    ResourceMapping,
    Subscription,
    SyncStatus,
    utcnow,
)
from calbridge.store.deliveries import DeliveryRecord
from calbridge.store.entities import is_generated_id
from calbridge.store.operations import PARTITION, decode_page_token, encode_page_token, row_key
from calbridge.store.protocols import LinkWrite, tally_links
from calbridge.store.queues import QUEUES, Sent, message_body, poison_queue_name

M = TypeVar("M", bound=BaseModel)


class _Account:
    """What one in-memory storage account shares: its lock, ETags, and whether it is
    set up."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.ready = False
        # Each queue's messages with when they were sent, oldest first.
        self.queues: dict[str, list[tuple[datetime, bytes]]] = {}
        self._etags = itertools.count(1)

    def check(self, what: str) -> None:
        # Table Storage answers 404 for a table that was never created.
        if not self.ready:
            raise NotFound(f"{what} not found (storage is not set up)")

    def stored(self, model: M) -> M:
        """A private copy of `model` with a fresh ETag."""
        return model.model_copy(deep=True, update={"etag": f'W/"{next(self._etags)}"'})


def _copy(model: M) -> M:
    return model.model_copy(deep=True)


def _etag_of(model: BaseModel, what: str) -> str:
    etag = getattr(model, "etag", None)
    if not etag:  # as the Table SDK: a conditional write without an ETag is a bug
        raise ValueError(f"{what}: a conditional write needs the ETag it was read with")
    return etag


def _match(stored: BaseModel | None, etag: str, what: str) -> None:
    if stored is None:
        raise NotFound(f"{what} not found")
    if getattr(stored, "etag", None) != etag:
        raise EtagConflict(f"{what} was changed by someone else; read it again")


class _Store:
    def __init__(self, account: _Account) -> None:
        self._account = account

    def _ready(self, what: str) -> threading.RLock:
        self._account.check(what)
        return self._account.lock


class MemoryMappingStore(_Store):
    def __init__(self, account: _Account) -> None:
        super().__init__(account)
        self._rows: dict[str, ResourceMapping] = {}
        self._pairs: dict[tuple[str, str, str, str], str] = {}

    def add(self, mapping: ResourceMapping) -> ResourceMapping:
        with self._ready("resource mappings"):
            if mapping.pair_key() in self._pairs or mapping.id in self._rows:
                raise AlreadyExists(
                    f"mapping of {mapping.a.bridge}:{mapping.a.calendar_id!r} to "
                    f"{mapping.b.bridge}:{mapping.b.calendar_id!r} already exists")
            self._rows[mapping.id] = self._account.stored(mapping)
            self._pairs[mapping.pair_key()] = mapping.id
            return _copy(self._rows[mapping.id])

    def get(self, mapping_id: str) -> ResourceMapping:
        with self._ready("resource mappings"):
            stored = self._rows.get(mapping_id) if is_generated_id(mapping_id) else None
            if stored is None:
                raise NotFound(f"resource mapping {mapping_id!r} not found")
            return _copy(stored)

    def find_pair(self, mapping: ResourceMapping) -> ResourceMapping | None:
        with self._ready("resource mappings"):
            found = self._pairs.get(mapping.pair_key())
            return self.get(found) if found else None

    def list(self, *, active: bool | None = None, calendar_id: str | None = None,
             bridge: str | None = None) -> list[ResourceMapping]:
        with self._ready("resource mappings"):
            found = [_copy(m) for m in self._rows.values()
                     if (active is None or m.active is active)
                     and (calendar_id is None or calendar_id in (m.a.calendar_id,
                                                                 m.b.calendar_id))
                     and (bridge is None or bridge in (m.a.bridge, m.b.bridge))]
        return sorted(found, key=lambda m: (m.created_at, m.id))

    def update(self, mapping: ResourceMapping, previous: ResourceMapping) -> ResourceMapping:
        mapping.updated_at = utcnow()
        what = f"resource mapping {mapping.id!r}"
        etag = _etag_of(previous, what)
        with self._ready("resource mappings"):
            _match(self._rows.get(mapping.id), etag, what)
            moved = mapping.pair_key() != previous.pair_key()
            if moved and mapping.pair_key() in self._pairs:
                raise AlreadyExists(f"{what} already exists")
            if moved:
                self._pairs.pop(previous.pair_key(), None)
                self._pairs[mapping.pair_key()] = mapping.id
            self._rows[mapping.id] = self._account.stored(mapping)
            return _copy(self._rows[mapping.id])

    def save_state(self, mapping: ResourceMapping) -> ResourceMapping:
        what = f"resource mapping {mapping.id!r}"
        etag = _etag_of(mapping, what)
        with self._ready("resource mappings"):
            _match(self._rows.get(mapping.id), etag, what)
            self._rows[mapping.id] = self._account.stored(mapping)
            return mapping.model_copy(update={"etag": self._rows[mapping.id].etag})

    def delete(self, mapping: ResourceMapping) -> None:
        what = f"resource mapping {mapping.id!r}"
        etag = _etag_of(mapping, what)
        with self._ready("resource mappings"):
            _match(self._rows.get(mapping.id), etag, what)
            del self._rows[mapping.id]
            self._pairs.pop(mapping.pair_key(), None)

    def count(self) -> dict[str, int]:
        mappings = self.list()
        return {"total": len(mappings), "active": sum(m.active for m in mappings)}


def _event_ids(link: EventLink) -> dict[End, str]:
    return {end: value for end in End if (value := link.event_id(end))}


class MemoryLinkStore(_Store):
    def __init__(self, account: _Account) -> None:
        super().__init__(account)
        self._rows: dict[tuple[str, str], EventLink] = {}
        # (mapping id, end, event id) → link id: the Table repository's index rows.
        self._index: dict[tuple[str, End, str], str] = {}

    def _index_keys(self, link: EventLink) -> list[tuple[str, End, str]]:
        return [(link.mapping_id, end, value) for end, value in _event_ids(link).items()]

    def add(self, link: EventLink) -> EventLink:
        with self._ready("event links"):
            keys = self._index_keys(link)
            if (link.mapping_id, link.id) in self._rows or any(k in self._index for k in keys):
                raise AlreadyExists(f"event link {link.id!r} already exists")
            self._rows[(link.mapping_id, link.id)] = self._account.stored(link)
            self._index.update(dict.fromkeys(keys, link.id))
            return _copy(self._rows[(link.mapping_id, link.id)])

    def get(self, mapping_id: str, link_id: str) -> EventLink:
        with self._ready("event links"):
            stored = (self._rows.get((mapping_id, link_id))
                      if is_generated_id(mapping_id) and is_generated_id(link_id) else None)
            if stored is None:
                raise NotFound(f"event link {link_id!r} not found")
            return _copy(stored)

    def find(self, mapping_id: str, end: End, event_id: str) -> EventLink | None:
        with self._ready("event link index"):
            link_id = self._index.get((mapping_id, end, event_id))
            stored = self._rows.get((mapping_id, link_id)) if link_id else None
            return _copy(stored) if stored else None

    def find_many(self, mapping_id: str, event_ids: Iterable[tuple[End, str]],
                  link_ids: Iterable[str] = ()) -> list[EventLink]:
        with self._ready("event link index"):
            found = {self._index.get((mapping_id, end, event_id)) for end, event_id in event_ids}
            wanted = sorted(i for i in found | set(link_ids) if i)
            return [_copy(self._rows[(mapping_id, i)]) for i in wanted
                    if (mapping_id, i) in self._rows]

    def of_series(self, mapping_id: str, series_ids: Iterable[str] = (),
                  series_links: Iterable[str] = ()) -> list[EventLink]:
        ids, pairs = set(series_ids) - {None, ""}, set(series_links) - {None, ""}
        with self._ready("event links"):
            return [_copy(link) for key, link in sorted(self._rows.items())
                    if key[0] == mapping_id
                    and (link.series_id in ids or link.series_link in pairs)]

    def find_by_id(self, link_id: str) -> EventLink:
        with self._ready("event links"):
            found = sorted(key for key in self._rows if key[1] == link_id)
            if not found or not is_generated_id(link_id):
                raise NotFound(f"event link {link_id!r} not found")
            return _copy(self._rows[found[0]])

    def list(self, mapping_id: str | None = None, *,
             status: SyncStatus | None = None) -> list[EventLink]:
        with self._ready("event links"):
            return [_copy(link) for key, link in sorted(self._rows.items())
                    if (mapping_id is None or key[0] == mapping_id)
                    and (status is None or link.status is status)]

    def each(self, mapping_id: str) -> Iterator[EventLink]:
        return iter(self.list(mapping_id))

    def update(self, link: EventLink, previous: EventLink | None = None) -> EventLink:
        what = f"event link {link.id!r}"
        with self._ready("event links"):
            before = previous or self.get(link.mapping_id, link.id)
            etag = link.etag or _etag_of(before, what)
            link.updated_at = utcnow()
            _match(self._rows.get((link.mapping_id, link.id)), etag, what)
            old, new = set(self._index_keys(before)), set(self._index_keys(link))
            # All or nothing, as the Table repository's one transaction.
            if any(key not in self._index for key in old - new):
                raise NotFound(f"{what} not found")
            if any(key in self._index for key in new - old):
                raise AlreadyExists(f"{what} already exists")
            for key in old - new:
                del self._index[key]
            self._index.update(dict.fromkeys(new - old, link.id))
            self._rows[(link.mapping_id, link.id)] = self._account.stored(link)
            return _copy(self._rows[(link.mapping_id, link.id)])

    def write(self, writes: Sequence[LinkWrite]) -> list[EventLink | CalbridgeError]:
        results: list[EventLink | CalbridgeError] = []
        with self._ready("event links"):
            for each in writes:
                try:
                    results.append(self.add(each.link) if each.previous is None
                                   else self.update(each.link, each.previous))
                except (AlreadyExists, EtagConflict, NotFound) as exc:
                    results.append(exc)
        return results

    def delete(self, link: EventLink) -> None:
        what = f"event link {link.id!r}"
        with self._ready("event links"):
            keys = self._index_keys(link)
            if (link.mapping_id, link.id) not in self._rows or any(
                    key not in self._index for key in keys):
                raise NotFound(f"{what} not found")
            del self._rows[(link.mapping_id, link.id)]
            for key in keys:
                del self._index[key]

    def counts(self) -> tuple[Counter[str], dict[str, Counter[str]]]:
        return tally_links((link.status.value, link.item_type, link.mapping_id,
                            link.series_id) for link in self.list())

    def counts_by_mapping(self) -> dict[str, Counter[str]]:
        found: dict[str, Counter[str]] = {}
        for link in self.list():
            found.setdefault(link.mapping_id, Counter())[link.status.value] += 1
        return found


class MemoryCursorStore(_Store):
    def __init__(self, account: _Account) -> None:
        super().__init__(account)
        self._rows: dict[tuple[str, str, str], Cursor] = {}

    def get(self, bridge: str, calendar_id: str, mapping_id: str | None = None
            ) -> Cursor | None:
        with self._ready("cursor"):
            stored = self._rows.get((bridge, calendar_id, mapping_id or ""))
            return _copy(stored) if stored else None

    def for_end(self, bridge: str, calendar_id: str, mapping_id: str) -> Cursor | None:
        return self.get(bridge, calendar_id, mapping_id) or self.get(bridge, calendar_id)

    def save(self, cursor: Cursor) -> Cursor:
        key = (cursor.bridge, cursor.calendar_id, cursor.mapping_id or "")
        with self._ready(f"cursor of {cursor.bridge}"):
            if cursor.etag:
                _match(self._rows.get(key), cursor.etag, f"cursor of {cursor.bridge}")
            self._rows[key] = self._account.stored(cursor)
            return _copy(self._rows[key])

    def list(self, bridge: str | None = None) -> list[Cursor]:
        with self._ready("cursors"):
            return [_copy(cursor) for key, cursor in sorted(self._rows.items())
                    if bridge is None or key[0] == bridge]


class MemorySubscriptionStore(_Store):
    def __init__(self, account: _Account) -> None:
        super().__init__(account)
        self._rows: dict[tuple[str, str], Subscription] = {}

    def add(self, subscription: Subscription) -> Subscription:
        key = (subscription.bridge, subscription.id)
        with self._ready(f"subscription {subscription.id!r}"):
            if key in self._rows:
                raise AlreadyExists(f"subscription {subscription.id!r} already exists")
            self._rows[key] = self._account.stored(subscription)
            return _copy(self._rows[key])

    def get(self, bridge: str, subscription_id: str) -> Subscription:
        with self._ready(f"subscription {subscription_id!r}"):
            stored = self._rows.get((bridge, subscription_id))
            if stored is None:
                raise NotFound(f"subscription {subscription_id!r} not found")
            return _copy(stored)

    def list(self, bridge: str | None = None, *,
             calendar_id: str | None = None) -> list[Subscription]:
        with self._ready("subscriptions"):
            found = [_copy(s) for s in self._rows.values()
                     if (not bridge or s.bridge == bridge)
                     and (not calendar_id or s.calendar_id == calendar_id)]
        return sorted(found, key=lambda s: s.expires_at)

    def update(self, subscription: Subscription) -> Subscription:
        key = (subscription.bridge, subscription.id)
        what = f"subscription {subscription.id!r}"
        etag = _etag_of(subscription, what)
        with self._ready(what):
            _match(self._rows.get(key), etag, what)
            self._rows[key] = self._account.stored(subscription)
            return _copy(self._rows[key])

    def delete(self, bridge: str, subscription_id: str) -> None:
        with self._ready(f"subscription {subscription_id!r}"):
            self._rows.pop((bridge, subscription_id), None)


class MemoryOperationLog(_Store):
    def __init__(self, account: _Account) -> None:
        super().__init__(account)
        self._rows: dict[str, Operation] = {}

    def record(self, operation: Operation) -> None:
        key = row_key(operation)
        with self._ready("operation log"):
            if key in self._rows:
                raise AlreadyExists("operation log already exists")
            self._rows[key] = _copy(operation)

    def record_all(self, operations: Sequence[Operation]) -> None:
        with self._ready("operation log"):
            for operation in operations:
                self._rows.setdefault(row_key(operation), _copy(operation))

    def page(self, *, status: str | None = None, operation: str | None = None,
             limit: int = 50, continuation: str | None = None
             ) -> tuple[list[Operation], str | None]:
        start = (decode_page_token(continuation) or {}).get("RowKey", "")
        with self._ready("operation log"):
            keys = [key for key in sorted(self._rows) if key >= start
                    and (not status or self._rows[key].status == status)
                    and (not operation or self._rows[key].operation == operation)]
            found = [_copy(self._rows[key]) for key in keys[:limit]]
        following = keys[limit] if len(keys) > limit else None
        token = {"PartitionKey": PARTITION, "RowKey": following} if following else None
        return found, encode_page_token(token)

    def counts(self) -> Counter[tuple[str, str]]:
        with self._ready("operation log"):
            return Counter((str(op.operation.value), str(op.status))
                           for op in self._rows.values())


class MemoryHoldStore(_Store):
    def __init__(self, account: _Account) -> None:
        super().__init__(account)
        self._rows: dict[str, DeletionHold] = {}

    def add(self, hold: DeletionHold) -> DeletionHold:
        with self._ready(f"deletion hold {hold.id!r}"):
            if hold.id in self._rows:
                raise AlreadyExists(f"deletion hold {hold.id!r} already exists")
            self._rows[hold.id] = self._account.stored(hold)
            return _copy(self._rows[hold.id])

    def get(self, hold_id: str) -> DeletionHold:
        with self._ready(f"deletion hold {hold_id!r}"):
            stored = self._rows.get(hold_id) if is_generated_id(hold_id) else None
            if stored is None:
                raise NotFound(f"deletion hold {hold_id!r} not found")
            return _copy(stored)

    def list(self, status: HoldStatus | None = None) -> list[DeletionHold]:
        with self._ready("deletion holds"):
            found = [_copy(h) for h in self._rows.values()
                     if status is None or h.status is status]
        return sorted(found, key=lambda h: h.created_at)

    def update(self, hold: DeletionHold) -> DeletionHold:
        what = f"deletion hold {hold.id!r}"
        etag = _etag_of(hold, what)
        with self._ready(what):
            _match(self._rows.get(hold.id), etag, what)
            self._rows[hold.id] = self._account.stored(hold)
            return _copy(self._rows[hold.id])


class MemoryDeliveryStore(_Store):
    def __init__(self, account: _Account) -> None:
        super().__init__(account)
        self._rows: dict[tuple[str, str], DeliveryRecord] = {}

    def claim(self, record: DeliveryRecord) -> bool:
        key = (record.bridge, record.delivery_id)
        with self._ready("webhook delivery"):
            earlier = self._rows.get(key)
            if earlier is not None and earlier.expires_at > record.received_at:
                return False
            self._rows[key] = _copy(record)
            return True

    def release(self, bridge: str, delivery_id: str) -> None:
        with self._ready("webhook delivery"):
            self._rows.pop((bridge, delivery_id), None)

    def forget_expired(self, now: datetime | None = None) -> int:
        moment = now or utcnow()
        with self._ready("webhook deliveries"):
            expired = [key for key, row in self._rows.items() if row.expires_at < moment]
            for key in expired:
                del self._rows[key]
            return len(expired)


class MemoryQueue:
    """One queue of an in-memory storage account; sending to one never created is
    `NotFound`, as it is in Storage Queues."""

    def __init__(self, account: _Account, name: str) -> None:
        self._account = account
        self.name = name

    def _messages(self) -> list[tuple[datetime, bytes]]:
        messages = self._account.queues.get(self.name)
        if messages is None:
            raise NotFound(f"queue {self.name} not found")
        return messages

    def send(self, message: BaseModel, *, delay_seconds: int = 0) -> Sent:
        body = message_body(message)
        with self._account.lock:
            entry = (utcnow(), body)
            self._messages().append(entry)
        # The entry object itself identifies the message while it waits.
        return Sent(id=str(id(entry)), pop_receipt=uuid.uuid4().hex)

    def send_all(self, messages: Sequence[BaseModel], *, delay_seconds: int = 0) -> list[Sent]:
        """Every message is tried; the first failure is raised after all of them."""
        failure: Exception | None = None
        sent: list[Sent] = []
        for message in messages:
            try:
                sent.append(self.send(message))
            except (ValueError, NotFound) as exc:
                failure = failure or exc
        if failure is not None:
            raise failure
        return sent

    def withdraw(self, sent: Sent) -> bool:
        with self._account.lock:
            messages = self._messages()
            for index, entry in enumerate(messages):
                if str(id(entry)) == sent.id:
                    del messages[index]
                    return True
        return False

    def release(self, sent: Sent) -> bool:
        """Messages in memory are always visible."""
        with self._account.lock:
            return any(str(id(entry)) == sent.id for entry in self._messages())

    def depth(self) -> int:
        with self._account.lock:
            return len(self._messages())

    def oldest_waiting(self) -> datetime | None:
        with self._account.lock:
            messages = self._messages()
            return messages[0][0] if messages else None


class MemoryStorage:
    """Every store and queue of `calbridge.store.Storage`, in memory."""

    def __init__(self) -> None:
        account = _Account()
        self._account = account
        self.mappings = MemoryMappingStore(account)
        self.links = MemoryLinkStore(account)
        self.cursors = MemoryCursorStore(account)
        self.subscriptions = MemorySubscriptionStore(account)
        self.operations = MemoryOperationLog(account)
        self.holds = MemoryHoldStore(account)
        self.deliveries = MemoryDeliveryStore(account)

    def queue(self, name: str) -> MemoryQueue:
        return MemoryQueue(self._account, name)

    def create_queue(self, name: str) -> None:
        """Create a queue and its poison queue (idempotent)."""
        with self._account.lock:
            for queue in (name, poison_queue_name(name)):
                self._account.queues.setdefault(queue, [])

    def ensure(self) -> None:
        with self._account.lock:
            self._account.ready = True
            for name in QUEUES:
                self.create_queue(name)

    def ping(self) -> None:
        """Memory is always reachable."""
