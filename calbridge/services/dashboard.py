"""The operator's status page as data: bridges, mappings with their state, push
subscriptions, queues, failed operations and the last day's activity, gathered from the
same services and stores the JSON API reads."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from calbridge.bootstrap import Container
from calbridge.errors import CalbridgeError, ValidationFailed
from calbridge.model import (
    ConflictPolicy,
    DeletionHold,
    Direction,
    EventLink,
    HoldStatus,
    ResourceMapping,
    StoredEnd,
    SyncStatus,
    utcnow,
)
from calbridge.services import health
from calbridge.services import subscriptions as push
from calbridge.store.queues import QUEUES, poison_queue_name
from calbridge.sync.outcome import OutcomeStatus

# The activity plot covers this much, in hourly bars.
ACTIVITY_HOURS = 24
# Operations read for the plot at most: a busy day is drawn from its newest ones.
ACTIVITY_READ_LIMIT = 5000
FAILED_SHOWN = 20
HOLD_TITLES_SHOWN = 50
HOLD_TITLES_ON_PAGE = 5


def mapping_label(a: StoredEnd, b: StoredEnd) -> str:
    """How the page names a mapping: its ends' names, or their calendar ids."""
    return f"{a.name or a.calendar_id} ↔ {b.name or b.calendar_id}"


class BridgeRow(BaseModel):
    name: str
    status: str
    latency_ms: float | None = None
    error: str | None = None
    last_sync: str | None = None
    unsyncable_mappings: list[str] = Field(default_factory=list)


class MappingRow(BaseModel):
    id: str
    a: StoredEnd
    b: StoredEnd
    active: bool
    direction: Direction
    conflict_policy: ConflictPolicy
    last_sync: datetime | None = None
    in_step: int = 0
    pending: int = 0
    errors: int = 0
    conflicts: int = 0
    holds: int = 0
    # Why it cannot be synced (a calendar missing, runs failing), as health reports it.
    problem: str | None = None

    @property
    def label(self) -> str:
        return mapping_label(self.a, self.b)


class QueueRow(BaseModel):
    name: str
    depth: int
    oldest_waiting: datetime | None = None


class FailedOperation(BaseModel):
    at: datetime
    operation: str
    source_system: str
    target_system: str
    mapping_id: str | None = None
    link_id: str | None = None
    error: str | None = None


class ActivityHour(BaseModel):
    start: datetime
    operations: int = 0
    failed: int = 0


class HeldDeletion(BaseModel):
    hold: DeletionHold
    mapping: str
    # A few of the events it would delete, so the page says what is at stake.
    titles: list[str] = Field(default_factory=list)


class StatusView(BaseModel):
    """Everything the status page shows, as of `generated_at`."""

    generated_at: datetime
    status: str
    storage: dict[str, Any]
    bridges: list[BridgeRow]
    mappings: list[MappingRow] = Field(default_factory=list)
    subscriptions: list[dict[str, Any]] = Field(default_factory=list)
    queues: list[QueueRow] = Field(default_factory=list)
    failed: list[FailedOperation] = Field(default_factory=list)
    activity: list[ActivityHour] = Field(default_factory=list)
    holds: list[HeldDeletion] = Field(default_factory=list)
    conflicts: list[EventLink] = Field(default_factory=list)
    # Links with work left (pending or failed): what "retry now" would try.
    retryable: int = 0


class MappingSort(StrEnum):
    """Columns the mapping table sorts by."""

    NAME = "name"
    LAST_SYNC = "last_sync"
    IN_STEP = "in_step"
    PENDING = "pending"
    ERRORS = "errors"
    CONFLICTS = "conflicts"
    HOLDS = "holds"


def mapping_sort(value: str | None) -> MappingSort:
    """A sort column from a query parameter; 422 naming the ones there are."""
    try:
        return MappingSort(value or MappingSort.NAME.value)
    except ValueError:
        known = ", ".join(s.value for s in MappingSort)
        raise ValidationFailed(f"sort must be one of {known}", details={"fields": [
            {"field": "sort", "message": "unknown column"}]}) from None


def select_mappings(rows: list[MappingRow], *, text: str = "", sort: MappingSort,
                    descending: bool = False) -> list[MappingRow]:
    """Rows whose ends, bridges, direction or problem contain `text` (any case), sorted;
    mappings with a problem first when sorting by name, so they are not missed."""
    needle = text.strip().casefold()
    chosen = [row for row in rows if not needle or needle in " ".join(
        [row.a.bridge, row.a.calendar_id, row.a.name or "", row.b.bridge, row.b.calendar_id,
         row.b.name or "", row.direction.value, row.problem or "", row.id]).casefold()]

    def key(row: MappingRow) -> Any:
        if sort is MappingSort.NAME:
            return (row.problem is None, row.label.casefold())
        if sort is MappingSort.LAST_SYNC:
            return row.last_sync.timestamp() if row.last_sync else 0.0
        return getattr(row, sort.value)

    return sorted(chosen, key=key, reverse=descending)


def status_view(container: Container, *, now: datetime | None = None) -> StatusView:
    """The status page's data. With storage unreachable, only bridges and storage."""
    moment = now or utcnow()
    report, storage_ok = health.bridge_health(container)
    bridges = [BridgeRow(name=name, status=row["status"], latency_ms=row["latency_ms"],
                         error=row["error"], last_sync=row["last_sync"],
                         unsyncable_mappings=row.get("unsyncable_mappings", []))
               for name, row in report["bridges"].items()]
    view = StatusView(generated_at=moment, status=report["status"], storage=report["storage"],
                      bridges=bridges)
    if not storage_ok:
        return view
    try:
        problems = {p["resource_mapping_id"]: _problem_text(p)
                    for p in report["unsyncable_mappings"]}
        holds = container.storage.holds.list(HoldStatus.HELD)
        view.mappings = _mapping_rows(container, problems, holds)
        labels = {row.id: row.label for row in view.mappings}
        view.holds = [HeldDeletion(hold=h, mapping=labels.get(h.mapping_id, h.mapping_id),
                                   titles=hold_titles(container, h, HOLD_TITLES_ON_PAGE))
                      for h in holds]
        view.conflicts = container.storage.links.list(status=SyncStatus.CONFLICT)
        view.retryable = sum(row.pending + row.errors for row in view.mappings)
        view.subscriptions = [push.public(container, s, moment)
                              for s in push.list_subscriptions(container)]
        view.queues = queue_rows(container)
        view.failed = failed_operations(container)
        view.activity = activity(container, moment)
    except CalbridgeError as exc:
        # Storage went away half-way: show what was read, and say so.
        view.status, view.storage = "unhealthy", {"status": "unhealthy", "error": exc.message}
    return view


def _problem_text(problem: dict[str, Any]) -> str:
    what = ("calendar missing" if problem["reason"] == "calendar_missing"
            else f"failing ({problem.get('failed_runs')} runs)")
    return f"{what} at end {problem['end']} ({problem['bridge']} {problem['calendar_id']}): " \
           f"{problem.get('error') or 'no detail'}"


def _mapping_rows(container: Container, problems: dict[str, str],
                  holds: list[DeletionHold]) -> list[MappingRow]:
    counts = container.storage.links.counts_by_mapping()
    held = Counter(h.mapping_id for h in holds)
    last_sync: dict[str, datetime] = {}
    for cursor in container.storage.cursors.list():
        if cursor.mapping_id and cursor.last_poll_at:
            last_sync[cursor.mapping_id] = max(cursor.last_poll_at,
                                               last_sync.get(cursor.mapping_id,
                                                             cursor.last_poll_at))
    return [_mapping_row(m, counts.get(m.id, Counter()), held[m.id], last_sync.get(m.id),
                         problems.get(m.id))
            for m in container.storage.mappings.list()]


def _mapping_row(mapping: ResourceMapping, counts: Counter[str], holds: int,
                 last_sync: datetime | None, problem: str | None) -> MappingRow:
    return MappingRow(
        id=mapping.id, a=mapping.a, b=mapping.b, active=mapping.active,
        direction=mapping.direction, conflict_policy=mapping.conflict_policy,
        last_sync=last_sync, in_step=counts[SyncStatus.SYNCED.value],
        pending=counts[SyncStatus.PENDING.value], errors=counts[SyncStatus.ERROR.value],
        conflicts=counts[SyncStatus.CONFLICT.value], holds=holds, problem=problem)


def queue_rows(container: Container) -> list[QueueRow]:
    """Each work queue and its poison queue: messages waiting and the oldest one's age."""
    rows = []
    for name in QUEUES:
        for queue_name in (name, poison_queue_name(name)):
            queue = container.storage.queue(queue_name)
            rows.append(QueueRow(name=queue_name, depth=queue.depth(),
                                 oldest_waiting=queue.oldest_waiting()))
    return rows


def failed_operations(container: Container, limit: int = FAILED_SHOWN
                      ) -> list[FailedOperation]:
    """The newest failed operations with what failed."""
    page, _ = container.storage.operations.page(status=OutcomeStatus.FAILED.value, limit=limit)
    return [FailedOperation(at=op.at, operation=op.operation.value,
                            source_system=op.source_system, target_system=op.target_system,
                            mapping_id=op.mapping_id, link_id=op.link_id, error=op.error)
            for op in page]


def activity(container: Container, now: datetime) -> list[ActivityHour]:
    """Operations and failed ones per hour over the last day, oldest hour first."""
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=ACTIVITY_HOURS - 1)
    hours = [ActivityHour(start=start + timedelta(hours=n)) for n in range(ACTIVITY_HOURS)]
    read, token = 0, None
    while read < ACTIVITY_READ_LIMIT:
        page, token = container.storage.operations.page(
            limit=min(500, ACTIVITY_READ_LIMIT - read), continuation=token)
        read += len(page)
        for op in page:
            if op.at < start:
                return hours
            slot = int((op.at - start).total_seconds() // 3600)
            if 0 <= slot < ACTIVITY_HOURS:
                hours[slot].operations += 1
                hours[slot].failed += op.status == OutcomeStatus.FAILED.value
        if not token:
            break
    return hours


def hold_titles(container: Container, hold: DeletionHold,
                limit: int = HOLD_TITLES_SHOWN) -> list[str]:
    """Titles of the events a hold would delete (the first `limit`), for its confirm page."""
    titles = []
    for link_id in hold.link_ids[:limit]:
        try:
            titles.append(container.storage.links.get(hold.mapping_id, link_id).title or link_id)
        except CalbridgeError:
            titles.append(link_id)
    return titles
