"""What the engine and the services use of storage, as protocols.

Two implementations pass the same contract suite (tests/contract/store_contract.py):
the Table Storage repositories beside this module, and the in-memory ones in
`calbridge.store.memory`. Every write of a row read earlier carries its ETag and fails
with `EtagConflict` when someone wrote it since; reads return copies.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from pydantic import BaseModel

from calbridge.errors import CalbridgeError
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
)
from calbridge.store.deliveries import DeliveryRecord
from calbridge.store.queues import Sent


class MappingStore(Protocol):
    """Resource mappings; two mappings of the same pair of calendars never both exist."""

    def add(self, mapping: ResourceMapping) -> ResourceMapping:
        """Store a new mapping; `AlreadyExists` when its pair is mapped already."""
        ...

    def get(self, mapping_id: str) -> ResourceMapping:
        """Raises `NotFound`."""
        ...

    def find_pair(self, mapping: ResourceMapping) -> ResourceMapping | None:
        ...

    def list(self, *, active: bool | None = None, calendar_id: str | None = None,
             bridge: str | None = None) -> list[ResourceMapping]:
        """In creation order; `calendar_id` and `bridge` match either end."""
        ...

    def update(self, mapping: ResourceMapping, previous: ResourceMapping) -> ResourceMapping:
        """Replace `previous` (`EtagConflict` if it changed since it was read); moves the
        pair (`AlreadyExists` if the new pair is taken)."""
        ...

    def save_state(self, mapping: ResourceMapping) -> ResourceMapping:
        """Store what calbridge learnt about a mapping without moving `updated_at`."""
        ...

    def delete(self, mapping: ResourceMapping) -> None:
        """`EtagConflict` if it changed since it was read."""
        ...

    def count(self) -> dict[str, int]:
        ...


@dataclass(frozen=True)
class LinkWrite:
    """One link for `LinkStore.write`: a new one (`previous` None), or one read earlier,
    `previous` being it as read (its ETag, and the event ids its index rows hold)."""

    link: EventLink
    previous: EventLink | None = None


class LinkStore(Protocol):
    """Event links, found from either end: an end's event id belongs to one link of a
    mapping at a time."""

    def add(self, link: EventLink) -> EventLink:
        """`AlreadyExists` when one of its ends' event ids is linked already."""
        ...

    def get(self, mapping_id: str, link_id: str) -> EventLink:
        """Raises `NotFound`."""
        ...

    def find(self, mapping_id: str, end: End, event_id: str) -> EventLink | None:
        ...

    def find_many(self, mapping_id: str, event_ids: Iterable[tuple[End, str]],
                  link_ids: Iterable[str] = ()) -> list[EventLink]:
        """The links of a mapping holding any of `event_ids` (end, id) or with one of
        `link_ids`, each once, in a few reads however many links the mapping has."""
        ...

    def of_series(self, mapping_id: str, series_ids: Iterable[str] = (),
                  series_links: Iterable[str] = ()) -> list[EventLink]:
        """The links of a mapping naming one of `series_ids` (at the series' end) or one of
        the series pairs `series_links`, each once, without reading the mapping's other
        links."""
        ...

    def find_by_id(self, link_id: str) -> EventLink:
        """Raises `NotFound`."""
        ...

    def list(self, mapping_id: str | None = None, *,
             status: SyncStatus | None = None) -> list[EventLink]:
        ...

    def each(self, mapping_id: str) -> Iterator[EventLink]:
        """A mapping's links one at a time, as they are read: a pass over many thousands
        holds one page of them."""
        ...

    def update(self, link: EventLink, previous: EventLink | None = None) -> EventLink:
        """Replace a link read earlier (`EtagConflict` if it changed since); the index
        follows event ids set, changed or cleared (`AlreadyExists` if one is taken)."""
        ...

    def write(self, writes: Sequence[LinkWrite]) -> list[EventLink | CalbridgeError]:
        """Many `add`s and `update`s at once, each all or nothing with its index rows, a
        mapping's in entity-group transactions of up to 100 rows. One write refused (an
        ETag conflict, an event id taken) leaves the others done: per write, the stored
        link or the `EtagConflict` / `AlreadyExists` / `NotFound` it met, in order.
        `StorageUnavailable` is raised."""
        ...

    def delete(self, link: EventLink) -> None:
        ...

    def counts(self) -> tuple[Counter[str], dict[str, Counter[str]]]:
        """Links by status, and by item type then status (see `tally_links`)."""
        ...

    def counts_by_mapping(self) -> dict[str, Counter[str]]:
        """Links by mapping id, then status (the status page's row per mapping)."""
        ...


class CursorStore(Protocol):
    """Change-tracking cursors per mapping end (and the older ones per calendar)."""

    def get(self, bridge: str, calendar_id: str, mapping_id: str | None = None
            ) -> Cursor | None:
        ...

    def for_end(self, bridge: str, calendar_id: str, mapping_id: str) -> Cursor | None:
        """The mapping's own cursor, or the calendar's older shared one."""
        ...

    def save(self, cursor: Cursor) -> Cursor:
        """Create or replace; one read earlier (with an ETag) must not have changed."""
        ...

    def list(self, bridge: str | None = None) -> list[Cursor]:
        ...


class SubscriptionStore(Protocol):
    def add(self, subscription: Subscription) -> Subscription:
        """`AlreadyExists` for a second subscription of one bridge with the same id."""
        ...

    def get(self, bridge: str, subscription_id: str) -> Subscription:
        """Raises `NotFound`."""
        ...

    def list(self, bridge: str | None = None, *,
             calendar_id: str | None = None) -> list[Subscription]:
        """Soonest expiry first."""
        ...

    def update(self, subscription: Subscription) -> Subscription:
        ...

    def delete(self, bridge: str, subscription_id: str) -> None:
        """Forgetting one that is gone already is fine."""
        ...


class OperationLog(Protocol):
    def record(self, operation: Operation) -> None:
        ...

    def record_all(self, operations: Sequence[Operation]) -> None:
        """Log many operations in entity-group transactions of up to 100 rows; one logged
        already (a flush repeated after a failure) is left as it is."""
        ...

    def page(self, *, status: str | None = None, operation: str | None = None,
             limit: int = 50, continuation: str | None = None
             ) -> tuple[list[Operation], str | None]:
        """Newest first, and the token of the next page (`BadRequest` for a bad one)."""
        ...

    def counts(self) -> Counter[tuple[str, str]]:
        """(operation, status) → count."""
        ...


class HoldStore(Protocol):
    def add(self, hold: DeletionHold) -> DeletionHold:
        ...

    def get(self, hold_id: str) -> DeletionHold:
        """Raises `NotFound`."""
        ...

    def list(self, status: HoldStatus | None = None) -> list[DeletionHold]:
        """Oldest first."""
        ...

    def update(self, hold: DeletionHold) -> DeletionHold:
        """`EtagConflict` when someone decided or grew it meanwhile."""
        ...


class DeliveryStore(Protocol):
    def claim(self, record: DeliveryRecord) -> bool:
        """True for exactly one of the workers given the same new delivery."""
        ...

    def release(self, bridge: str, delivery_id: str) -> None:
        ...

    def forget_expired(self, now: datetime | None = None) -> int:
        ...


class MessageQueue(Protocol):
    def send(self, message: BaseModel, *, delay_seconds: int = 0) -> Sent:
        """`ValueError` for a message over the size limit."""
        ...

    def send_all(self, messages: Sequence[BaseModel], *, delay_seconds: int = 0) -> list[Sent]:
        ...

    def withdraw(self, sent: Sent) -> bool:
        """Delete a message not yet taken by a worker; False when one took it."""
        ...

    def release(self, sent: Sent) -> bool:
        """Make a delayed message visible now; False when a worker took it."""
        ...

    def depth(self) -> int:
        ...

    def oldest_waiting(self) -> datetime | None:
        """When the message at the head of the queue was sent (None: nothing visible)."""
        ...


class Stores(Protocol):
    """Every store and queue of one storage account."""

    @property
    def mappings(self) -> MappingStore: ...

    @property
    def links(self) -> LinkStore: ...

    @property
    def cursors(self) -> CursorStore: ...

    @property
    def subscriptions(self) -> SubscriptionStore: ...

    @property
    def operations(self) -> OperationLog: ...

    @property
    def holds(self) -> HoldStore: ...

    @property
    def deliveries(self) -> DeliveryStore: ...

    def queue(self, name: str) -> MessageQueue:
        ...

    def ensure(self) -> None:
        """Create what the stores need, once (idempotent): until then they refuse."""
        ...

    def ping(self) -> None:
        """`StorageUnavailable` when storage cannot be reached."""
        ...


def tally_links(rows: Iterable[tuple[str, str, str | None, str | None]]
                ) -> tuple[Counter[str], dict[str, Counter[str]]]:
    """Counts of links given as (status, item type, mapping id, series id): by status, and
    by item type then status. Each series of a mapping counts once per status of its pairs
    under `series` (a series some of whose occurrences are cancelled counts under both),
    whether it went across as a series or one occurrence at a time."""
    by_status: Counter[str] = Counter()
    by_type: dict[str, Counter[str]] = {}
    series: set[tuple[str, str | None, str]] = set()
    for status, item_type, mapping_id, series_id in rows:
        by_status[status] += 1
        if item_type != "series":  # a series pair is counted with its series below
            by_type.setdefault(item_type, Counter())[status] += 1
        if series_id:
            series.add((status, mapping_id, series_id))
    for status, _mapping, _series in series:
        by_type.setdefault("series", Counter())[status] += 1
    return by_status, by_type
