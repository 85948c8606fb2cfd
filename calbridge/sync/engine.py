"""Applying plans: writes through the target adapter, outcomes recorded on event links,
the operations log and cursors. Every step is safe to repeat, so a crash anywhere
converges on the next run (sync rule 3)."""

from __future__ import annotations

import itertools
import json
import logging
import math
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING

from calbridge.bridges.base import (
    CalendarBridge,
    ChangeSet,
    ReadResult,
    TimeWindow,
    WriteOp,
    WriteResult,
)
from calbridge.config import Settings
from calbridge.errors import AlreadyExists, CalbridgeError, EtagConflict, NotFound, SyncStateExpired
from calbridge.model import (
    ConflictRecord,
    Cursor,
    DeletionHold,
    End,
    Event,
    EventField,
    EventKind,
    EventLink,
    EventOrigin,
    EventStatus,
    HoldStatus,
    LinkEnd,
    Operation,
    OperationKind,
    ResourceMapping,
    SyncStatus,
    SyncWork,
    utcnow,
)
from calbridge.store.protocols import (
    CursorStore,
    HoldStore,
    LinkStore,
    LinkWrite,
    MessageQueue,
    OperationLog,
)
from calbridge.store.queues import MAX_MESSAGE_BYTES, SYNC_WORK, batches
from calbridge.sync.fields import describe, merged_hashes, read_older, record
from calbridge.sync.link_index import LinkIndex
from calbridge.sync.made import MadeCopies, gone_since
from calbridge.sync.outcome import Outcome, OutcomeStatus
from calbridge.sync.plan import (
    GONE,
    DeletionBaseline,
    FieldChange,
    PlannedOperation,
    conflict_winner,
    crosses_share,
    deleting,
    deletion_baseline,
    instant,
    is_copy_from,
    mass_deletion,
    overlaps,
    plan_changes,
    plan_event,
    plan_fields,
)
from calbridge.sync.series import SeriesPass
from calbridge.sync.writes import LOST_RACE, ChunkFlushes, PendingWrites, logged_operation
from calbridge.telemetry import SYNC_DURATION, SYNC_ERRORS, SYNC_OPERATIONS, record_metric

if TYPE_CHECKING:
    from calbridge.bootstrap import Container

log = logging.getLogger(__name__)
MAX_BACKOFF = timedelta(hours=1)
# How long an unchanged calendar may keep reusing its stored cursor (delta links and
# sync tokens expire; refreshing them now and then avoids a full listing later).
CURSOR_REFRESH = timedelta(hours=1)
# A copy changed less than CONFLICT_RECENT ago may be another worker's write of the same
# pair whose link is not stored yet; a conflict looks for that link again every
# CONFLICT_SETTLE until the copy's change is CONFLICT_RECENT old.
CONFLICT_RECENT = timedelta(seconds=5)
CONFLICT_SETTLE = timedelta(seconds=1)
# A cursor keeps the window it was opened with (Graph's delta links do): once the sync
# window has moved on by this much, a fresh listing opens the current one, so events and
# occurrences that came into the window (a series with no end) are read.
WINDOW_ROLL = timedelta(days=1)
OVER_BUDGET = "the request's time budget is spent: continues through the sync-work queue"
QUOTA_SPENT = ("the calendar system's request budget is spent for longer than the request "
               "has: continues through the sync-work queue once it allows")
# Operations applied between two flushes of their link writes (the links of a chunk's new
# pairs are stored before it, in one or two transactions; what it did, after it).
CHUNK = 100
# Source events one `sync-work` message carries at most (fewer when they are large: a
# message holds 64 KiB). `CHUNK`, as a run applies them: queued creates fill their Graph
# `$batch`es (20 writes) and their links' transactions (100 rows) as a run's do, so work
# handed to the queue costs the requests it would have cost inline.
WORK_BATCH = CHUNK
# Links read again by their ids (a query per 14) rather than in a listing of the mapping.
_FEW_LINKS = 140


@dataclass(frozen=True)
class SyncStores:
    """The state the engine reads and writes."""

    links: LinkStore
    cursors: CursorStore
    holds: HoldStore
    operations: OperationLog
    # Operations beyond a run's inline share wait here (the `sync-work` queue).
    work: MessageQueue


@dataclass(frozen=True)
class SyncOptions:
    """The settings the engine runs by (see `Settings` for what each means)."""

    past_days: int
    future_days: int
    max_attempts: int
    mass_delete_share: float
    mass_delete_min: int
    mass_delete_window: timedelta
    inline_operations: int
    workers: int
    horizon_days: int = 365

    @classmethod
    def from_settings(cls, settings: Settings) -> SyncOptions:
        return cls(past_days=settings.sync_past_days, future_days=settings.sync_future_days,
                   max_attempts=settings.max_attempts,
                   mass_delete_share=settings.mass_delete_share,
                   mass_delete_min=settings.mass_delete_min,
                   mass_delete_window=timedelta(minutes=settings.mass_delete_window_minutes),
                   inline_operations=settings.inline_operations,
                   workers=settings.sync_workers,
                   horizon_days=settings.recurrence_horizon_days)


@dataclass
class Streamed:
    """What the parts of a read before its last did (`SyncEngine._write_parts`)."""

    outcomes: list[Outcome] = field(default_factory=list)
    # The ids of the events they named: only their ids stay, for the complete listing's
    # deletions.
    listed: set[str] = field(default_factory=set)
    deleted: list[str] = field(default_factory=list)
    # Cancelled events: planned with the last part, so the deletion guard sees them all.
    cancelled: list[Event] = field(default_factory=list)
    # Events a later page named again (rare).
    again: list[Event] = field(default_factory=list)
    writes: int = 0
    # Where the read stopped when the time budget ran out (its rest is queued).
    stopped_at: str | None = None

    @property
    def read(self) -> bool:
        return bool(self.listed or self.deleted)


@dataclass
class Ends:
    """The two ends of a mapping as bridges and calendar ids."""

    mapping: ResourceMapping
    bridges: dict[End, CalendarBridge] = field(default_factory=dict)

    def calendar(self, end: End) -> str:
        return self.mapping.end(end).calendar_id

    def system(self, end: End) -> str:
        return self.bridges[end].name

    def new_link(self, origin: End) -> EventLink:
        """A pending link born at `origin`, each end naming its bridge and calendar."""
        ends = {end.value: LinkEnd(bridge=self.system(end), calendar_id=self.calendar(end))
                for end in End}
        return EventLink(mapping_id=self.mapping.id, origin=origin, status=SyncStatus.PENDING,
                         pending_end=origin, **ends)


def copy_for(event: Event, link: EventLink, origin_system: str) -> Event:
    """The event as calbridge writes it on the other side: its content plus the marker
    and the origin (the bridge and id it was copied from)."""
    origin = EventOrigin(system=origin_system, id=event.id) if event.id else None
    # A series goes across as a series; one occurrence of a series becomes an event of
    # its own in the other calendar.
    kind = EventKind.SERIES if event.kind is EventKind.SERIES else EventKind.SINGLE
    return event.model_copy(update={"id": None, "etag": None, "calendar_id": None,
                                    "last_modified": None, "marker": link.id,
                                    "origin": origin, "native_zone": None,
                                    "kind": kind, "series_id": None,
                                    "original_start": None})


def item_type(event: Event | None, link: EventLink | None) -> str:
    """What a pair is: an `event`, a `series`, or one `occurrence` of a series."""
    if link is not None and link.item_type != "event":
        return link.item_type
    if event is not None and event.kind is EventKind.SERIES:
        return "series"
    return "occurrence" if event is not None and event.kind.in_series else "event"


def in_own_zone(copy: Event, current: Event) -> Event:
    """A copy whose times are written in the zone the target event already has (its own
    name for it, a Windows name in Graph), so an update never swaps the zone."""
    return copy.model_copy(update={"timezone": current.timezone,
                                   "native_zone": current.native_zone})


@dataclass(frozen=True)
class FieldUpdate:
    """An update decided once the target's copy was read (`SyncEngine._plan_update`): the
    copy as read, the fields to send and those owed back, a conflict decided by policy,
    and the write (None: nothing to send)."""

    current: Event
    change: FieldChange
    was_synced: bool
    conflict: ConflictRecord | None
    write: WriteOp | None


def written_by(result: WriteResult) -> Event:
    """The event a create or update left, or the error it met, raised."""
    if result.error is not None:
        raise result.error
    assert result.event is not None
    return result.event


def copy_id(op: PlannedOperation) -> str:
    """The id of the copy an update or delete of a pair writes."""
    target_id = op.link.event_id(op.target) if op.link is not None else None
    assert target_id is not None  # planned only for pairs with a copy
    return target_id


def still_there(source: Event | None) -> bool:
    """Whether the source event of a tombstone, read again, is still live (Graph's windowed
    delta also reports events moved out of its window as removed): then it is synced."""
    return source is not None and source.status is not EventStatus.CANCELLED


def _as_outcome(step: Outcome | CalbridgeError) -> Outcome:
    """A step decided before its operation was settled: its outcome, or its error raised
    (for `SyncEngine._settle` to record)."""
    if isinstance(step, CalbridgeError):
        raise step
    return step


def backoff(attempts: int) -> timedelta:
    return min(timedelta(seconds=30 * 2 ** max(attempts - 1, 0)), MAX_BACKOFF)


def _fitting(work: SyncWork) -> list[SyncWork]:
    """`work` as messages the queue takes: a batch over the size limit (the ids of its new
    pairs and of gone events count too, not only its events) is halved until each part
    fits. One event too large alone still raises when sent."""
    if len(work.model_dump_json().encode()) <= MAX_MESSAGE_BYTES:
        return [work]
    if work.events and work.deleted:
        return (_fitting(work.model_copy(update={"deleted": []}))
                + _fitting(work.model_copy(update={"events": [], "unlinked": []})))
    if len(work.events) > 1:
        half = len(work.events) // 2
        parts = [work.events[:half], work.events[half:]]
        return [piece for events in parts for piece in _fitting(work.model_copy(update={
            "events": events,
            "unlinked": [i for i in work.unlinked if i in {e.id for e in events}]}))]
    if len(work.deleted) > 1:
        half = len(work.deleted) // 2
        return [piece for ids in (work.deleted[:half], work.deleted[half:])
                for piece in _fitting(work.model_copy(update={"deleted": ids}))]
    return [work]


class SyncEngine:
    """Runs sync for resource mappings: one code path for either direction of any two
    bridges. `bridge` finds a bridge by name (`NotFound` for an unknown one)."""

    def __init__(self, stores: SyncStores, bridge: Callable[[str], CalendarBridge],
                 options: SyncOptions, clock: Callable[[], datetime] = utcnow,
                 systems: frozenset[str] = frozenset()) -> None:
        self.stores = stores
        self.bridge = bridge
        self.options = options
        self.clock = clock
        self.pause: Callable[[float], None] = time.sleep
        # The configured bridges: an event copied from one of them by another mapping is
        # not copied on.
        self.systems = systems
        # The writes of the chunk `_apply_all` is applying, held for one flush; None when
        # the engine writes straight through (single events, series masters).
        self._pending: PendingWrites | None = None
        # Copies made where the change feed may not tell of their deletion, to be noted
        # on that end's cursor (`calbridge.sync.made`).
        self._made = MadeCopies()

    @classmethod
    def for_container(cls, container: Container,
                      clock: Callable[[], datetime] = utcnow) -> SyncEngine:
        """The engine over a container's storage, bridges and settings."""
        storage = container.storage
        stores = SyncStores(links=storage.links, cursors=storage.cursors, holds=storage.holds,
                            operations=storage.operations, work=storage.queue(SYNC_WORK))
        return cls(stores, container.bridge, SyncOptions.from_settings(container.settings),
                   clock, frozenset(container.bridges))

    # ------------------------------------------------------------------ set-up

    def ends(self, mapping: ResourceMapping) -> Ends:
        return Ends(mapping, {end: self.bridge(mapping.end(end).bridge) for end in End})

    def window(self) -> TimeWindow:
        now = self.clock()
        return TimeWindow(start=now - timedelta(days=self.options.past_days),
                          end=now + timedelta(days=self.options.future_days))

    def horizon(self, window: TimeWindow) -> TimeWindow:
        """The part of a window in which a series' occurrences are synced one by one."""
        end = min(window.end, self.clock() + timedelta(days=self.options.horizon_days))
        return TimeWindow(start=window.start, end=max(end, window.start))

    # ------------------------------------------------------------------ runs

    def run(self, mapping: ResourceMapping, source: End, *, window: TimeWindow | None = None,
            full: bool = False, dry_run: bool = False,
            only: Callable[[PlannedOperation], bool] | None = None,
            deadline: float | None = None, resume: str | None = None) -> list[Outcome]:
        """Sync one direction of one mapping: read the source's changes (its cursor, or a
        complete listing), plan, and apply. A custom window never moves the cursor. Writes
        not begun by `deadline` (a `time.monotonic()` value) go to the `sync-work` queue,
        and so does the rest of a read still going on then (`resume` takes it up)."""
        started = time.perf_counter()
        ends = self.ends(mapping)
        bridge, calendar = ends.bridges[source], ends.calendar(source)
        span = window or self.window()
        known = self.stores.cursors.for_end(bridge.name, calendar, mapping.id)
        stored = None if window else known
        cursor = None if (full or window or stored is None) else stored.cursor
        rolled = cursor is not None and self._window_moved(stored, span)
        if rolled:
            cursor = None
        read_at = self._last_read(known)
        if deadline is not None and only is None and not dry_run:
            wait = bridge.read_wait(calendar)
            if _waits_past(wait, deadline):
                # The calendar system's request budget is spent for longer than this run
                # has: the read goes to the queue, to start when the budget allows.
                return [self._continue(ends, source, resume, window, delay=wait,
                                       why=QUOTA_SPENT)]
        parts, whole = self._change_parts(bridge, calendar, cursor, span, resume)
        parts = iter(parts)
        first = next(parts, ChangeSet())
        if (stored is not None and stored.made and stored.mapping_id == mapping.id
                and cursor is not None and first.cursor and not first.complete):
            # Copies made here since the cursor, which the answer may leave out if deleted.
            first = gone_since(bridge, calendar, first, stored.made)
        # A quiet answer (nothing changed, and not a listing to diff) needs no links: the
        # cost of a quiet run stays flat however many pairs the mapping holds.
        quiet = bool(first.cursor) and not (first.changed or first.deleted or first.complete
                                            or first.unreadable)
        parts = itertools.chain([first], parts)
        # An answer to a cursor in one part names all that changed: its plan touches only
        # those events' links and their series', not every pair. A listing is diffed
        # against every link.
        incremental = cursor is not None and bool(first.cursor) and not first.complete
        # A listing is diffed against every link of the mapping, and planned a part at a
        # time (unless series are paired over it whole): the links are held as a compact
        # index, each part's looked up in it.
        index: LinkIndex | None = None
        links: list[EventLink] = []
        if quiet:
            changes, streamed = ChangeSet.joined(parts), Streamed()
        elif self.keeps_series(ends):
            # Series are paired over the whole listing at once.
            links = (self._links_of(ends, source, first) if incremental
                     else self.stores.links.list(mapping.id))
            changes, streamed = ChangeSet.joined(parts), Streamed()
        elif incremental:
            links = self._links_of(ends, source, first)
            changes, streamed = self._write_parts(ends, source, parts, links, span,
                                                  dry_run=dry_run, only=only, deadline=deadline)
        else:
            index = LinkIndex(self.stores.links.each(mapping.id))
            changes, streamed = self._write_parts(ends, source, parts, index, span,
                                                  dry_run=dry_run, only=only, deadline=deadline)
        # A read taken up from where an earlier run stopped lists only the rest of the
        # calendar: nothing is gone for not being in it.
        listing = changes if whole else changes.model_copy(update={"complete": False})
        if index is not None:
            links = self._listing_links(ends, source, listing, index, streamed.listed,
                                        current=bool(streamed.read and not dry_run))
        early, plan, links = (([], [], links) if quiet else
                              self._plan(ends, source, listing, links, span,
                                         listed=frozenset(streamed.listed)))
        if any(op.kind is OperationKind.DELETE for op in plan):
            held = self._held_link_ids(mapping.id, source)
            plan = [op for op in plan if not (op.link and op.link.id in held
                                              and op.kind is OperationKind.DELETE)]
        if only is not None:
            plan = [op for op in plan if only(op)]
        if dry_run:
            return streamed.outcomes + [self._outcome(ends, op, OutcomeStatus.PLANNED if op.writes
                                                      else OutcomeStatus.SKIPPED) for op in plan]
        outcomes: list[Outcome] = streamed.outcomes + early
        if len(deleting(plan)) >= self.options.mass_delete_min:
            # The guard weighs every pair (fewer deletions than its minimum never cross it).
            every: Iterable[EventLink] = (
                index.each() if index is not None
                else self.stores.links.each(mapping.id) if incremental else links)
            baseline = deletion_baseline(every, source, read_at)
            if mass_deletion(plan, baseline, self.options.mass_delete_share,
                             self.options.mass_delete_min):
                plan, held_outcomes = self._hold_deletions(ends, source, plan, baseline)
                outcomes += held_outcomes
        outcomes += self._apply_share(ends, plan, streamed, deadline)
        if streamed.stopped_at:
            outcomes.append(self._continue(ends, source, streamed.stopped_at, window))
        # A filtered run has not applied everything it read: its cursor must not move.
        if not window and only is None and changes.cursor and (rolled or self._cursor_worth_saving(
                stored, changes, plan, streamed)):
            own = stored is not None and stored.mapping_id == mapping.id
            self._save_cursor(mapping, Cursor(
                bridge=bridge.name, calendar_id=calendar, mapping_id=mapping.id,
                cursor=changes.cursor,
                window_end=span.end if changes.complete or stored is None
                else stored.window_end,
                last_poll_at=self.clock(),
                last_change_at=self.clock() if changes.changed or changes.deleted
                or streamed.read else (stored.last_change_at if stored else None),
                etag=stored.etag if own and stored else None))
        record_metric(SYNC_DURATION, time.perf_counter() - started, bridge=bridge.name,
                      direction=f"{source.value}_to_{source.other.value}")
        return outcomes

    def _save_cursor(self, mapping: ResourceMapping, cursor: Cursor) -> None:
        """Store where a run read up to. Another run of the mapping that stored its cursor
        since this one read it (an operator's sync beside the timer's) is no failure: each
        applied what it read, and the next run reads on from the cursor stored, seeing
        again at most what was applied already (and skipping it)."""
        try:
            self.stores.cursors.save(cursor)
        except EtagConflict:
            log.info("another run of the mapping stored its cursor meanwhile; kept", extra={
                "mapping_id": mapping.id, "bridge": cursor.bridge})

    def _apply_all(self, ends: Ends, plan: list[PlannedOperation],
                   deadline: float | None = None) -> list[Outcome]:
        """Apply a plan's operations chunk by chunk: the links of a chunk's new pairs are
        stored first (the next chunk's while this one's operations go), its operations
        applied `CALBRIDGE_SYNC_WORKERS` at a time (each touches its own link; adapters
        keep their own per-calendar limits; creates of new pairs go in batches where the
        target takes them, `_apply_chunk`), and their link writes and log rows stored
        together after it (`calbridge.sync.writes`), while the next chunk's operations
        go; all are stored before this returns. The writes of a chunk not begun by
        `deadline` are queued instead (a chunk whose links were stored ahead is done all
        the same). Outcomes keep plan order but for those."""
        outcomes: list[Outcome] = []
        chunks = [plan[start:start + CHUNK] for start in range(0, len(plan), CHUNK)]
        flushes = ChunkFlushes(background=len(chunks) > 1)
        ahead = (ThreadPoolExecutor(max_workers=1, thread_name_prefix="reserve")
                 if len(chunks) > 1 else None)
        reserved: Future[None] | None = None
        try:
            for number, chunk in enumerate(chunks):
                if reserved is not None:
                    reserved.result()
                    reserved = None
                else:
                    if deadline is not None and time.monotonic() >= deadline:
                        flushes.wait()  # the queued work finds the links stored
                        outcomes += self._enqueue(ends, [op for op in chunk if op.writes],
                                                  OVER_BUDGET)
                        chunk = [op for op in chunk if not op.writes]
                    self._reserve(ends, chunk)
                if (ahead is not None and number + 1 < len(chunks)
                        and (deadline is None or time.monotonic() < deadline)):
                    reserved = ahead.submit(self._reserve, ends, chunks[number + 1])
                pending = self._pending = PendingWrites(self.stores.links,
                                                        self.stores.operations)
                try:
                    done = self._apply_chunk(ends, chunk)
                finally:
                    self._pending = None
                    # Kept even for a chunk that failed: the next run redoes the rest.
                    flushes.add(pending)
                outcomes += done
        except BaseException:
            flushes.wait(quietly=True)
            raise
        else:
            flushes.wait()
        finally:
            if ahead is not None:
                # Links stored ahead for a chunk never begun stay pending: the next run
                # looks their copies up before making them, as after a crash.
                ahead.shutdown(wait=True)
            flushes.close()
            self._made.note(self.stores.cursors)
        return outcomes

    def _apply_chunk(self, ends: Ends, chunk: list[PlannedOperation]) -> list[Outcome]:
        """A chunk's operations, `CALBRIDGE_SYNC_WORKERS` at a time: into a calendar that
        takes batch writes, its creates, its updates and its deletes each in one
        `CalendarBridge.apply` call (`_create_all`, `_update_all`, `_delete_all`, with the
        reads they need batched before), every other operation on its own. Outcomes keep
        chunk order."""
        batched: dict[tuple[OperationKind, End], list[int]] = {}
        for index, op in enumerate(chunk):
            if self._batchable(ends, op):
                batched.setdefault((op.kind, op.target), []).append(index)
        in_batches = {index for indices in batched.values() for index in indices}
        by_kind = {OperationKind.CREATE: self._create_all,
                   OperationKind.UPDATE: self._update_all,
                   OperationKind.DELETE: self._delete_all}
        tasks: list[Callable[[], list[tuple[int, Outcome]]]] = [
            partial(by_kind[kind], ends, [(index, chunk[index]) for index in indices])
            for (kind, _), indices in batched.items()]
        tasks += [partial(self._apply_one, ends, index, op) for index, op in enumerate(chunk)
                  if index not in in_batches]
        writing = len(batched) + sum(op.writes for index, op in enumerate(chunk)
                                     if index not in in_batches)
        workers = min(self.options.workers, writing)
        if workers <= 1:
            done = [task() for task in tasks]
        else:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sync") as pool:
                done = list(pool.map(lambda task: task(), tasks))
        outcomes: list[Outcome | None] = [None] * len(chunk)
        for index, outcome in itertools.chain.from_iterable(done):
            outcomes[index] = outcome
        return [outcome for outcome in outcomes if outcome is not None]

    def _apply_one(self, ends: Ends, index: int, op: PlannedOperation
                   ) -> list[tuple[int, Outcome]]:
        return [(index, self.apply(ends, op))]

    @staticmethod
    def _batchable(ends: Ends, op: PlannedOperation) -> bool:
        """Whether an operation can join its target's batch: a write into a calendar system
        that writes in batches, whose reads can be batched too — the create of a pair (its
        copy looked up by marker first unless this run stored its link, `_create_all`), the
        update of a pair's copy, the delete of one."""
        link = op.link
        if (link is None or op.adopt or not op.writes
                or not ends.bridges[op.target].capabilities.batch):
            return False
        if op.kind is OperationKind.CREATE:
            return not op.reenable and op.event is not None
        if op.kind is OperationKind.UPDATE:
            return op.event is not None and link.event_id(op.target) is not None
        return op.kind is OperationKind.DELETE

    def _reserve(self, ends: Ends, chunk: list[PlannedOperation]) -> None:
        """Store, pending, the links of the new pairs a chunk creates — all at once, before
        any copy is made (sync rule 1: a copy whose link is lost in a crash is found again
        by its marker, the link's id). An event another worker linked meanwhile is
        skipped."""
        new = [op for op in chunk if op.kind is OperationKind.CREATE and op.link is None
               and op.event is not None]
        if not new:
            return
        links = []
        for op in new:
            assert op.event is not None
            link = ends.new_link(origin=op.source)
            link.set_event_id(op.source, op.source_id)
            self.describe(link, op.event, op.source)
            links.append(LinkWrite(link))
        for op, stored in zip(new, self.stores.links.write(links), strict=True):
            if isinstance(stored, EventLink):
                op.link, op.reserved = stored, True
            else:
                op.kind, op.reason = OperationKind.SKIP, "already linked by another worker"

    def _save(self, link: EventLink, previous: EventLink, outcome: Outcome | None) -> None:
        """Write a link read earlier (`previous`): held for the chunk's flush while one is
        open, else at once."""
        pending = self._pending
        if pending is not None:
            pending.link(link, previous, outcome)
        else:
            self.stores.links.update(link, previous)

    def _apply_share(self, ends: Ends, plan: list[PlannedOperation], streamed: Streamed,
                     deadline: float | None) -> list[Outcome]:
        """Apply a run's writes up to `CALBRIDGE_INLINE_OPERATIONS` (counting those of its
        earlier parts, `streamed`) and those begun by `deadline`; queue the rest."""
        inline, queued = [], []
        for op in plan:
            if op.writes and streamed.writes >= self.options.inline_operations:
                queued.append(op)
                continue
            streamed.writes += op.writes
            inline.append(op)
        return self._apply_all(ends, inline, deadline) + self._enqueue(ends, queued)

    def _write_parts(self, ends: Ends, source: End, parts: Iterator[ChangeSet],
                     links: list[EventLink] | LinkIndex, window: TimeWindow, *, dry_run: bool,
                     only: Callable[[PlannedOperation], bool] | None,
                     deadline: float | None) -> tuple[ChangeSet, Streamed]:
        """Plan and write every part of a read as it arrives, keeping only the ids it
        named, so a large listing is never held at once — up to the last part (the one with
        the cursor), which is returned with what the others left to it: their cancellations
        and deletions, which the deletion guard weighs together. A read of one part is
        returned as it is. `links` are the links the parts' plans may touch, or an index
        of the mapping's links in which each part looks its own up."""
        streamed = Streamed()
        last = ChangeSet()
        unreadable: dict[str, str] = {}
        for part in parts:
            unreadable |= part.unreadable
            if part.cursor or part.complete:
                last = part  # only a read's last part carries its cursor
                break
            fresh: list[Event] = []
            for event in part.changed:
                if event.status is EventStatus.CANCELLED:
                    streamed.cancelled.append(event)
                elif event.id in streamed.listed:
                    streamed.again.append(event)
                else:
                    fresh.append(event)
            streamed.listed.update(e.id for e in fresh if e.id)
            streamed.deleted += part.deleted
            named = ChangeSet(changed=fresh)
            _, plan, _ = self._plan(ends, source, named, links if isinstance(links, list)
                                    else self._links_of(ends, source, named, links), window)
            if only is not None:
                plan = [op for op in plan if only(op)]
            if dry_run:
                streamed.outcomes += [self._outcome(ends, op, OutcomeStatus.PLANNED if op.writes
                                                    else OutcomeStatus.SKIPPED) for op in plan]
            else:
                streamed.outcomes += self._apply_share(ends, plan, streamed, deadline)
                # Out of time where the read can be taken up later: it stops, unsaved
                # cursor and all — also when the next part would wait past the deadline
                # for the calendar system's request budget. A filtered run (deletions)
                # needs its whole listing.
                if (deadline is not None and only is None and part.resume
                        and time.monotonic() + ends.bridges[source].read_wait(
                            ends.calendar(source)) >= deadline):
                    streamed.stopped_at = part.resume
                    break
        if not dry_run:
            # Read again by a later page: its later state, against its link as it now is.
            streamed.outcomes += [self._sync_read(ends, source, event.id, event, None,
                                                  guard=True)
                                  for event in streamed.again if event.id]
        if not (streamed.read or streamed.cancelled or streamed.again):
            return last.model_copy(update={"unreadable": unreadable}), streamed
        return ChangeSet(changed=[*last.changed, *streamed.cancelled],
                         deleted=[*last.deleted, *streamed.deleted], cursor=last.cursor,
                         complete=last.complete, unreadable=unreadable), streamed

    def _listing_links(self, ends: Ends, source: End, listing: ChangeSet, index: LinkIndex,
                       listed: set[str], *, current: bool = False) -> list[EventLink]:
        """The links the plan of a read's last part can touch: those its events name, and,
        for a complete listing, those whose events no part of it named (they are gone).
        `current`: the earlier parts wrote, so the index (read before them) is out of date:
        the last part's links are read from the store, and the gone ones read again there
        (never the whole mapping again: the pairs the parts made are not gone)."""
        found = {link.id: link for link in self._links_of(
            ends, source, listing, None if current else index)}
        if listing.complete:
            named = listed | {event.id for event in listing.changed if event.id}
            named |= set(listing.deleted) | set(listing.unreadable)
            gone = [link for link in index.unlisted(source, named) if link.id not in found]
            if current:
                gone = self._links_now(ends.mapping.id, gone)
            found = {link.id: link for link in gone} | found
        return list(found.values())

    def _links_now(self, mapping_id: str, links: list[EventLink]) -> list[EventLink]:
        """`links` as they are stored now, those deleted since left out: by their ids when
        they are few, else from one listing of the mapping holding only them."""
        wanted = {link.id for link in links}
        if len(wanted) <= _FEW_LINKS:
            return self.stores.links.find_many(mapping_id, [], wanted) if wanted else []
        return [link for link in self.stores.links.each(mapping_id) if link.id in wanted]

    def _links_of(self, ends: Ends, source: End, changes: ChangeSet,
                  store: LinkStore | LinkIndex | None = None) -> list[EventLink]:
        """The links an incremental change set's plan can touch: those of its events and
        deletions, of the links its copies name (marker, origin), and every link of the
        series they belong to — a few reads, however many pairs the mapping holds (or
        none: looked up in a `store` read already)."""
        links = store if store is not None else self.stores.links
        mapping_id = ends.mapping.id
        event_ids = [(source, gone) for gone in changes.deleted]
        link_ids: list[str] = []
        series_ids: set[str] = set()
        occurrences: list[str] = []
        for event in changes.changed:
            if not event.id:
                continue
            if event.marker:
                link_ids.append(event.marker)
            if event.origin is not None:
                event_ids.append((source.other, event.origin.id))
            if event.kind is EventKind.SERIES:
                series_ids.add(event.id)
            elif event.series_id:
                # Found with its series' links, unless none of them names it.
                series_ids.add(event.series_id)
                event_ids.append((source, event.series_id))
                occurrences.append(event.id)
                continue
            event_ids.append((source, event.id))
        found = {link.id: link for link in
                 links.find_many(mapping_id, event_ids, link_ids)}
        linked = {link.event_id(source) for link in found.values()}
        # A deleted id no link holds may be a series synced occurrence by occurrence.
        series_ids |= {gone for gone in changes.deleted if gone not in linked}
        series_ids |= {link.series_id for link in found.values() if link.series_id}
        pairs = {link.id for link in found.values() if link.item_type == "series"}
        pairs |= {link.series_link for link in found.values() if link.series_link}
        if series_ids or pairs:
            found |= {link.id: link for link in
                      links.of_series(mapping_id, series_ids, pairs)}
        linked = {link.event_id(source) for link in found.values()}
        unfound = [(source, each) for each in occurrences if each not in linked]
        missing = pairs - found.keys()
        if unfound or missing:
            found |= {link.id: link for link in links.find_many(
                mapping_id, unfound, missing)}
        return list(found.values())

    def _cursor_worth_saving(self, stored: Cursor | None, changes: ChangeSet,
                             plan: list[PlannedOperation], streamed: Streamed) -> bool:
        """A quiet poll writes nothing: an unchanged calendar keeps its stored cursor
        (which yields the same empty answer) until it is `CURSOR_REFRESH` old."""
        if stored is None or not stored.cursor:
            return True
        if (changes.changed or changes.deleted or changes.unreadable or streamed.read
                or stored.made or any(op.writes for op in plan)):
            return True
        last = stored.last_poll_at
        return last is None or self.clock() - last > CURSOR_REFRESH

    def _plan(self, ends: Ends, source: End, changes: ChangeSet, links: list[EventLink],
              window: TimeWindow, listed: frozenset[str] = frozenset()
              ) -> tuple[list[Outcome], list[PlannedOperation], list[EventLink]]:
        """What a source's changes mean for the other end: series kept as series first
        (their masters written, occurrences paired; deletions of whole series planned),
        then every event and occurrence planned. Returns what the series pass already
        did, the plan, and the links as they now are."""
        early: list[Outcome] = []
        planned: list[PlannedOperation] = []
        if self.keeps_series(ends):
            series = SeriesPass(self, ends, source, links, self.horizon(window))
            changes = series.run(changes)
            early, planned = series.outcomes, series.planned
            links = series.links_now()
        changes = self._occurrences(ends, source, changes, links, window)
        plan = planned + plan_changes(source, changes, links, window,
                                      ends.system(source.other), self.systems, listed)
        return early, plan, links

    def keeps_series(self, ends: Ends) -> bool:
        """Whether series stay series between a mapping's ends (both have recurrence)."""
        return all(bridge.capabilities.recurrence for bridge in ends.bridges.values())

    def _window_moved(self, stored: Cursor | None, span: TimeWindow) -> bool:
        """Whether a stored cursor's window has fallen behind the sync window (or was
        opened before windows were recorded)."""
        if stored is None or not stored.cursor:
            return False
        return stored.window_end is None or span.end - stored.window_end > WINDOW_ROLL

    def _occurrences(self, ends: Ends, source: End, changes: ChangeSet,
                     links: list[EventLink], window: TimeWindow) -> ChangeSet:
        """A change set as one event per occurrence (sync rule 7): a series read as a whole
        (a webhook naming it) becomes its occurrences and exceptions inside the horizon,
        and its linked occurrences no longer among them are deletions; a series that is
        gone takes its occurrences' links with it; occurrences beyond the horizon wait
        until the window rolls forward to them."""
        horizon = self.horizon(window)
        bridge, calendar = ends.bridges[source], ends.calendar(source)
        by_series: dict[str, list[EventLink]] = {}
        for link in links:
            if link.series_id and link.series_end is source and link.status not in GONE:
                by_series.setdefault(link.series_id, []).append(link)
        changed: list[Event] = []
        deleted = list(changes.deleted)
        for event in changes.changed:
            if event.kind is EventKind.SERIES and event.id:
                found = bridge.instances(calendar, event.id, horizon)
                changed += found
                listed = {each.id for each in found}
                deleted += [sid for link in by_series.get(event.id, [])
                            if (sid := link.event_id(source)) and sid not in listed
                            and overlaps(link, horizon)]
            elif event.kind.in_series and instant(event.start) >= horizon.end:
                continue
            else:
                changed.append(event)
        for gone in changes.deleted:
            deleted += [sid for link in by_series.get(gone, [])
                        if (sid := link.event_id(source))]
        return ChangeSet(changed=changed, deleted=list(dict.fromkeys(deleted)),
                         cursor=changes.cursor, complete=changes.complete,
                         unreadable=changes.unreadable)

    def _last_read(self, stored: Cursor | None) -> datetime:
        """When a calendar was last read: its stored cursor's poll time (a write by the
        other direction makes the next read non-quiet, so the cursor is saved then), or
        now for a calendar never read with a cursor."""
        return stored.last_poll_at if stored and stored.last_poll_at else self.clock()

    def _change_parts(self, bridge: CalendarBridge, calendar: str, cursor: str | None,
                      window: TimeWindow, resume: str | None = None
                      ) -> tuple[Iterator[ChangeSet], bool]:
        """The parts of a read, and whether it reads from the start (False: taken up from
        `resume`). An expired cursor or position starts a complete listing."""
        parts = bridge.change_parts(calendar, cursor, window, resume)
        try:
            first = next(parts)
        except SyncStateExpired:
            log.info("cursor expired, listing again", extra={"bridge": bridge.name})
            parts, resume = bridge.change_parts(calendar, None, window), None
            first = next(parts)
        return itertools.chain([first], parts), resume is None

    def sync_event(self, mapping: ResourceMapping, source: End, source_id: str,
                   reason: str | None = None, *, guard: bool = True) -> Outcome:
        """Bring one source event's current state to the other side (webhooks, queued
        work, retries): read it, plan it as a one-event change set, apply. A deletion
        goes through the mass-deletion guard unless an operator confirmed it (`guard`)."""
        ends = self.ends(mapping)
        event = ends.bridges[source].get_event(ends.calendar(source), source_id)
        outcome = self._sync_read(ends, source, source_id, event, reason, guard=guard)
        if outcome.reason == LOST_RACE:  # as `sync_item`
            event = ends.bridges[source].get_event(ends.calendar(source), source_id)
            outcome = self._sync_read(ends, source, source_id, event, reason, guard=guard)
        return outcome

    def sync_item(self, mapping: ResourceMapping, source: End, source_id: str,
                  reason: str | None = None, *, guard: bool = True) -> list[Outcome]:
        """`sync_event` for whatever an id names (a webhook's, a queued message's): one
        event, or a whole recurring series — its occurrences one by one, and all of its
        linked occurrences when the series is gone. Work that lost a race with another
        worker on the same pair (that worker may have carried an older version) is read
        and planned once more: a webhook's change must not wait for the next poll."""
        outcomes = self._sync_item(mapping, source, source_id, reason, guard=guard)
        if any(outcome.reason == LOST_RACE for outcome in outcomes):
            outcomes = self._sync_item(mapping, source, source_id, reason, guard=guard)
        return outcomes

    def _sync_item(self, mapping: ResourceMapping, source: End, source_id: str,
                   reason: str | None, *, guard: bool) -> list[Outcome]:
        ends = self.ends(mapping)
        event = ends.bridges[source].get_event(ends.calendar(source), source_id)
        if event is None or event.kind is not EventKind.SERIES:
            linked = self.stores.links.find(mapping.id, source, source_id)
            links = ([] if (event is not None or linked)
                     else self.stores.links.of_series(mapping.id, [source_id]))
            series_gone = event is None and linked is not None and linked.item_type == "series"
            if not series_gone and not any(
                    link.series_id == source_id and link.series_end is source for link in links):
                return [self._sync_read(ends, source, source_id, event, reason, guard=guard)]
        changes = ChangeSet(changed=[event]) if event is not None else ChangeSet(
            deleted=[source_id])
        early, plan, links = self._plan(ends, source, changes,
                                        self._links_of(ends, source, changes), self.window())
        for op in plan:
            if reason and op.writes:
                op.reason = f"{op.reason} ({reason})"
        outcomes: list[Outcome] = early
        if guard and len(deleting(plan)) >= self.options.mass_delete_min:
            known = self.stores.cursors.for_end(ends.system(source), ends.calendar(source),
                                                 mapping.id)
            # The guard weighs every pair.
            baseline = deletion_baseline(self.stores.links.each(mapping.id), source,
                                         self._last_read(known))
            if mass_deletion(plan, baseline, self.options.mass_delete_share,
                             self.options.mass_delete_min):
                plan, outcomes = self._hold_deletions(ends, source, plan, baseline)
        return outcomes + self._apply_all(ends, plan)

    def _sync_read(self, ends: Ends, source: End, source_id: str, event: Event | None,
                   reason: str | None, *, guard: bool) -> Outcome:
        """`sync_event` once the source event has been read (None: it is gone)."""
        mapping = ends.mapping
        links = [link] if (link := self.stores.links.find(mapping.id, source, source_id)) else []
        other_system = ends.system(source.other)
        if not links and event is not None and event.marker:
            try:
                links = [self.stores.links.get(mapping.id, event.marker)]
            except NotFound:
                pass
        elif not links and event is not None and event.origin is not None \
                and is_copy_from(event, other_system):
            found = self.stores.links.find(mapping.id, source.other, event.origin.id)
            links = [found] if found else []
        changes = (ChangeSet(changed=[event]) if event is not None
                   else ChangeSet(deleted=[source_id]))
        plan = plan_changes(source, changes, links, self.window(), other_system, self.systems)
        if not plan:
            return Outcome(OperationKind.SKIP, OutcomeStatus.SKIPPED, "nothing to do",
                           ends.system(source), ends.system(source.other), source_id,
                           source=source)
        if reason and plan[0].writes:
            plan[0].reason = f"{plan[0].reason} ({reason})"
        if guard and plan[0].kind is OperationKind.DELETE and plan[0].link is not None:
            held = self._hold_if_burst(ends, plan[0])
            if held is not None:
                return held
        return self.apply(ends, plan[0])

    # ------------------------------------------------------------------ apply

    def apply(self, ends: Ends, op: PlannedOperation, *, force: bool = False) -> Outcome:
        """Carry out one planned operation; failures are recorded on the link, never lost."""
        if op.adopt and op.link is not None:
            return self._adopt(ends, op)
        if not op.writes:
            return self._outcome(ends, op, OutcomeStatus.SKIPPED)
        if op.kind is OperationKind.CREATE:
            return self._settle(ends, op, partial(self._create, ends, op))
        if op.kind is OperationKind.UPDATE:
            return self._settle(ends, op, partial(self._update, ends, op, force=force))
        return self._settle(ends, op, partial(self._delete, ends, op))

    def _settle(self, ends: Ends, op: PlannedOperation, write: Callable[[], Outcome]
                ) -> Outcome:
        """Carry out `write`, one operation's write, and record how it ended: a failure on
        the link (retried with backoff), a logged operation and its metrics."""
        link = op.link
        try:
            outcome = write()
        except EtagConflict:
            # Another worker changed the link meanwhile; the next run converges.
            outcome = self._outcome(ends, op, OutcomeStatus.SKIPPED, reason=LOST_RACE)
        except CalbridgeError as exc:
            outcome = self._fail(ends, op.link or link, op, exc)
        if outcome.status in (OutcomeStatus.COMPLETED, OutcomeStatus.FAILED,
                              OutcomeStatus.CONFLICT):
            self._log(outcome)
            record_metric(SYNC_OPERATIONS, 1, operation=outcome.operation.value,
                          status=outcome.status, bridge=outcome.target_system)
            if outcome.status == OutcomeStatus.FAILED:
                record_metric(SYNC_ERRORS, 1, operation=outcome.operation.value,
                              bridge=outcome.target_system)
        return outcome

    def _create(self, ends: Ends, op: PlannedOperation) -> Outcome:
        source, target = op.source, op.target
        assert op.event is not None
        link = op.link
        # A link stored for this run (`_reserve`) has no copy anywhere yet: nothing to
        # look up.
        looked_up = link is not None and not op.reenable and not op.reserved
        if link is None:
            link = ends.new_link(origin=source)
            link.set_event_id(source, op.source_id)
            self.describe(link, op.event, source)
            try:
                link = self.stores.links.add(link)
            except AlreadyExists:
                return self._outcome(ends, op, OutcomeStatus.SKIPPED,
                                     reason="already linked by another worker")
        elif op.reenable:
            link.set_event_id(target, None)
            link.end(target).fingerprint = link.end(target).fields = None
            link.status, link.pending_end = SyncStatus.PENDING, source
            link.attempts, link.generation = 0, link.generation + 1
            link.cancelled_by = None
            link = self.stores.links.update(link)
        op.link = link
        bridge, calendar = ends.bridges[target], ends.calendar(target)
        write = self._create_op(ends, op)
        assert write.event is not None
        existing = (bridge.find_by_marker(calendar, link.id, write.event.origin) if looked_up
                    else None)
        if existing is not None and existing.status is EventStatus.CANCELLED:
            existing = None
        if existing is not None and existing.id:
            written = bridge.update(calendar, existing.id, write.event)
        else:
            written = bridge.create(calendar, write.event,
                                    idempotency_key=write.idempotency_key or link.id)
        return self._succeed(ends, op, link, written)

    @staticmethod
    def _create_op(ends: Ends, op: PlannedOperation) -> WriteOp:
        """The create of a pair's copy: the event with the link's marker, under the link's
        idempotency key (a re-enabled pair's carries its generation, so it makes a fresh
        copy). A batched create and a single one send exactly this (sync rule 1)."""
        link = op.link
        assert link is not None and op.event is not None
        key = link.id if link.generation == 0 else f"{link.id}.{link.generation}"
        return WriteOp.create(copy_for(op.event, link, ends.system(op.source)), key)

    def _create_all(self, ends: Ends, ops: list[tuple[int, PlannedOperation]]
                    ) -> list[tuple[int, Outcome]]:
        """Pairs' creates in one target calendar through one `CalendarBridge.apply`
        (Graph: `$batch`, 20 writes a request), each result recorded as a single create's
        would be: `_succeed` for a written copy, the failure path for an error. An error
        every op shares (the calendar is gone, sign-in failed) fails each of them. A pair
        whose link an earlier attempt stored (a redelivered message, a retried pending
        link) may have its copy already: those are looked up by marker together first
        (`CalendarBridge.find_by_markers`), and a copy found is updated, as `_create`
        does."""
        if not ops:
            return []
        target = ops[0][1].target
        writes = [self._create_op(ends, op) for _, op in ops]
        found = self._copies(ends, target, [write for (_, op), write in zip(ops, writes,
                                                                             strict=True)
                                            if not op.reserved])
        results: dict[int, WriteResult] = {}
        for position, write in enumerate(writes):
            event = write.event
            copy = found.get(event.marker or "") if event is not None else None
            if isinstance(copy, CalbridgeError):
                results[position] = WriteResult.failed(write, copy)
            elif copy is not None and copy.id and event is not None:
                writes[position] = WriteOp.update(copy.id, event)
        sent = [position for position in range(len(writes)) if position not in results]
        for position, result in zip(sent, self._write_all(ends, target, [
                writes[position] for position in sent]), strict=True):
            results[position] = result
        return [(index, self._settle(ends, op, partial(self._created, ends, op,
                                                       results[position])))
                for position, (index, op) in enumerate(ops)]

    @staticmethod
    def _copies(ends: Ends, end: End, writes: list[WriteOp]
                ) -> dict[str, Event | CalbridgeError]:
        """The live copies these creates may have made already, by marker (a cancelled one
        is made again), or the error its look-up met."""
        markers = [(write.event.marker, write.event.origin) for write in writes
                   if write.event is not None and write.event.marker]
        if not markers:
            return {}
        try:
            results = ends.bridges[end].find_by_markers(ends.calendar(end), markers)
        except CalbridgeError as exc:
            return {marker: exc for marker, _ in markers}
        copies: dict[str, Event | CalbridgeError] = {}
        for result in results:
            if result.error is not None:
                copies[result.event_id] = result.error
            elif result.event is not None and result.event.status is not EventStatus.CANCELLED:
                copies[result.event_id] = result.event
        return copies

    def _created(self, ends: Ends, op: PlannedOperation, result: WriteResult) -> Outcome:
        """A batched create's result, as `_create` ends with it."""
        assert op.link is not None
        return self._succeed(ends, op, op.link, written_by(result))

    @staticmethod
    def _read_all(ends: Ends, end: End, event_ids: list[str]) -> list[ReadResult]:
        """Events of one end through one `CalendarBridge.get_events`; an error every read
        shares (the calendar is gone, sign-in failed) is each read's."""
        if not event_ids:
            return []
        try:
            return ends.bridges[end].get_events(ends.calendar(end), event_ids)
        except CalbridgeError as exc:
            return [ReadResult.failed(event_id, exc) for event_id in event_ids]

    @staticmethod
    def _write_all(ends: Ends, end: End, writes: list[WriteOp]) -> list[WriteResult]:
        """Writes into one end through one `CalendarBridge.apply`; an error every write
        shares is each write's."""
        if not writes:
            return []
        try:
            return ends.bridges[end].apply(ends.calendar(end), writes)
        except CalbridgeError as exc:
            return [WriteResult.failed(write, exc) for write in writes]

    def _update(self, ends: Ends, op: PlannedOperation, *, force: bool) -> Outcome:
        """Write the fields that changed at the source since the last sync, and only those
        (`_plan_update`), after reading the target's copy; record it (`_updated`)."""
        bridge, calendar = ends.bridges[op.target], ends.calendar(op.target)
        target_id = copy_id(op)
        step = self._plan_update(ends, op, bridge.get_event(calendar, target_id), force=force)
        if isinstance(step, Outcome):
            return step
        write = step.write
        if write is None:
            return self._updated(ends, op, step, step.current)
        assert write.event is not None
        return self._updated(ends, op, step, bridge.update(
            calendar, target_id, write.event, etag=write.etag, fields=write.fields))

    def _update_all(self, ends: Ends, ops: list[tuple[int, PlannedOperation]]
                    ) -> list[tuple[int, Outcome]]:
        """Updates of pairs' copies in one target calendar: the copies read in one
        `CalendarBridge.get_events`, each update planned as `_update` plans it, the writes
        sent in one `CalendarBridge.apply`, and each recorded as `_update` records it. What
        fails one update (its read, its conflict check, its write) fails it alone."""
        if not ops:
            return []
        target = ops[0][1].target
        reads = self._read_all(ends, target, [copy_id(op) for _, op in ops])
        steps: list[FieldUpdate | Outcome | CalbridgeError] = []
        for (_, op), read in zip(ops, reads, strict=True):
            try:
                steps.append(self._plan_update(ends, op, read.current(), force=False))
            except CalbridgeError as exc:
                steps.append(exc)
        results = iter(self._write_all(ends, target, [
            step.write for step in steps if isinstance(step, FieldUpdate) and step.write]))
        settled: list[tuple[int, Outcome]] = []
        for (index, op), step in zip(ops, steps, strict=True):
            if not isinstance(step, FieldUpdate):
                finish = partial(_as_outcome, step)
            elif step.write is None:
                finish = partial(self._updated, ends, op, step, step.current)
            else:
                finish = partial(self._updated_by, ends, op, step, next(results))
            settled.append((index, self._settle(ends, op, finish)))
        return settled

    def _plan_update(self, ends: Ends, op: PlannedOperation, current: Event | None, *,
                     force: bool) -> FieldUpdate | Outcome:
        """What an update writes once the target's copy (`current`) is read: the fields
        that changed at the source since the last sync, and only those. The same field
        changed on both ends is a conflict: the mapping's policy decides, and the losing
        values are logged; the target's other changes flow back after. An outcome when
        nothing is to be written: the copy is gone, or the conflict waits for an operator."""
        source = op.source
        link = op.link
        assert link is not None and op.event is not None
        if current is None or current.status is EventStatus.CANCELLED:
            # The copy's deletion has not come back from the target yet; when it does it
            # closes the pair. Until then the source's change is owed (retried with
            # backoff), so a copy that returns (a booking made active again) still gets it.
            reason = "the copy is gone from {target}; the deletion follows from there"
            link.status, link.pending_end = SyncStatus.PENDING, source
            link.attempts += 1
            link.next_attempt_at = self.clock() + backoff(link.attempts)
            link.last_error = reason.replace("{target}", ends.system(op.target))
            self.stores.links.update(link)
            return self._outcome(ends, op, OutcomeStatus.SKIPPED, reason=reason)
        if (stale := self._read_again_if_older(ends, op)) is not None:
            return stale
        change = plan_fields(link, source, op.event, current, force=force)
        if change.conflicting and (fresh := self._moved_on(link, current)) is not None:
            # Another worker recorded a write of this pair meanwhile: the target's
            # "change" may be that write. Plan again from what it recorded.
            if plan_event(source, op.event, fresh).kind is not OperationKind.UPDATE:
                return self._outcome(ends, op, OutcomeStatus.SKIPPED, reason=LOST_RACE)
            op.link = link = fresh
            # That worker may have written the source too, after it was read here.
            if (stale := self._read_again_if_older(ends, op, always=True)) is not None:
                return stale
            change = plan_fields(link, source, op.event, current, force=force)
        was_synced = link.status is SyncStatus.SYNCED
        conflict = None
        if change.conflicting:
            winner = conflict_winner(ends.mapping.conflict_policy, link.origin, source,
                                     op.event.last_modified, current.last_modified)
            if winner is None:
                link.status, link.last_error = SyncStatus.CONFLICT, (
                    "changed on both ends: " + ", ".join(sorted(change.conflicting)))
                self.stores.links.update(link)
                return self._outcome(ends, op, OutcomeStatus.CONFLICT,
                                     reason="changed on both ends; waiting for a decision")
            change = change.decided(winner is source)
            conflict = self._record_conflict(ends, link, op, winner, current, change.lost)
        write = None
        if change.send:
            payload = in_own_zone(copy_for(op.event, link, ends.system(source)), current)
            write = WriteOp.update(copy_id(op), payload, etag=current.etag, fields=change.send)
        return FieldUpdate(current=current, change=change, was_synced=was_synced,
                           conflict=conflict, write=write)

    def _updated_by(self, ends: Ends, op: PlannedOperation, step: FieldUpdate,
                    result: WriteResult) -> Outcome:
        """A batched update's result, as `_update` ends with it."""
        return self._updated(ends, op, step, written_by(result))

    def _updated(self, ends: Ends, op: PlannedOperation, step: FieldUpdate,
                 written: Event) -> Outcome:
        """Record an update: the copy as written (as read, when nothing was sent), and
        how a conflict was decided."""
        link = op.link
        assert link is not None
        change, conflict = step.change, step.conflict
        outcome = self._succeed(ends, op, link, written, sent=change.send,
                                owed=change.owed)
        if conflict is not None:
            outcome.conflict = conflict
            outcome.reason = (f"changed on both ends ({', '.join(sorted(conflict.fields))}); "
                              f"{conflict.winning_system} wins "
                              f"({ends.mapping.conflict_policy.value})")
        if not change.send and conflict is None:
            outcome.reason = f"{ends.system(op.target)} already has these values"
        if not change.send and step.was_synced:
            outcome.status = OutcomeStatus.SKIPPED  # nothing written, nothing newly in step
        return outcome

    def _read_again_if_older(self, ends: Ends, op: PlannedOperation, *,
                             always: bool = False) -> Outcome | None:
        """A source event read in an older state than calbridge has recorded of it (its
        read waited on a busy host while a later write of the pair was made and recorded)
        is read again, and planned from what its system holds now: skipped when that is
        what calbridge recorded, so a stale read never undoes a later edit. `always`: read
        again unless the read is the state recorded (another worker wrote the pair since
        it was read). None when the read is not older (the usual case, which costs
        nothing)."""
        link, event = op.link, op.event
        assert link is not None and event is not None
        known = link.end(op.source)
        if event.etag is not None and event.etag == known.etag:
            return None
        if not always and not read_older(known, event):
            return None
        now = ends.bridges[op.source].get_event(ends.calendar(op.source), op.source_id)
        if now is None:
            return self._outcome(ends, op, OutcomeStatus.SKIPPED,
                                 reason="gone from {source} since it was read; "
                                        "the deletion follows from there")
        op.event = now
        if plan_event(op.source, now, link).kind is not OperationKind.UPDATE:
            return self._outcome(ends, op, OutcomeStatus.SKIPPED,
                                 reason="an older read; read again, {source} holds what "
                                        "calbridge last recorded")
        return None

    def _moved_on(self, link: EventLink, current: Event) -> EventLink | None:
        """The pair's link as stored now when another worker has written it since `link`
        was read, else None. A copy written moments ago may be another worker's write
        whose link is not stored yet (a worker slowed down by a busy host may take seconds
        to store it): the link is read again every `CONFLICT_SETTLE` while the copy's change
        is less than `CONFLICT_RECENT` old. Conflicts are rare, so these reads (and waits)
        cost nothing in an ordinary run."""
        def recent() -> bool:
            return (current.last_modified is not None
                    and abs(self.clock() - current.last_modified) < CONFLICT_RECENT)

        for attempt in range(CONFLICT_RECENT // CONFLICT_SETTLE + 1):
            if attempt:
                if not recent():
                    return None
                self.pause(CONFLICT_SETTLE.total_seconds())
            try:
                fresh = self.stores.links.get(link.mapping_id, link.id)
            except NotFound:
                return None
            if fresh.etag != link.etag:
                return fresh
        return None

    def _record_conflict(self, ends: Ends, link: EventLink, op: PlannedOperation,
                         winner: End, current: Event,
                         fields: frozenset[EventField]) -> ConflictRecord:
        """Log a conflict decided by policy with both values of each field, so the losing
        edit can be found and restored (`GET /bridge/conflicts?status=resolved`)."""
        assert op.event is not None
        versions = {op.source: op.event, op.target: current}
        kept = describe(versions[winner], fields)
        lost = describe(versions[winner.other], fields)
        record = ConflictRecord(
            link_id=link.id, mapping_id=ends.mapping.id,
            policy=ends.mapping.conflict_policy.value, winner=winner,
            winning_system=ends.system(winner), losing_system=ends.system(winner.other),
            fields={name: {"kept": kept[name], "lost": lost[name]} for name in kept},
            title=link.title)
        internal, external = link.event_id(End.A), link.event_id(End.B)
        try:
            self.stores.operations.record(Operation(
                link_id=link.id, mapping_id=ends.mapping.id,
                source_system=ends.system(op.source), target_system=ends.system(op.target),
                operation=OperationKind.CONFLICT, status="resolved", external_id=external,
                internal_id=internal, conflict=record))
        except CalbridgeError:
            log.exception("could not log a conflict")
        log.info("conflict decided by policy", extra={
            "mapping_id": ends.mapping.id, "link_id": link.id, "winner": winner.value,
            "fields": sorted(fields)})
        return record

    def _delete(self, ends: Ends, op: PlannedOperation) -> Outcome:
        link = op.link
        assert link is not None
        if op.event is None:
            # A tombstone or an absence from a listing: make sure the event is really gone
            # (Graph's windowed delta also reports events moved out of its window).
            current = ends.bridges[op.source].get_event(ends.calendar(op.source),
                                                         op.source_id)
            if still_there(current):
                assert current is not None
                return self.apply(ends, plan_event(op.source, current, link))
        target_id = link.event_id(op.target)
        if target_id:
            ends.bridges[op.target].delete(ends.calendar(op.target), target_id)
        return self._deleted(ends, op)

    def _delete_all(self, ends: Ends, ops: list[tuple[int, PlannedOperation]]
                    ) -> list[tuple[int, Outcome]]:
        """Deletes of pairs' copies in one target calendar: the sources of tombstones read
        again in one `CalendarBridge.get_events` (one still there is synced instead, as
        `_delete` does), the copies deleted in one `CalendarBridge.apply`, and each pair
        closed as `_delete` closes it. What fails one delete fails it alone."""
        if not ops:
            return []
        source, target = ops[0][1].source, ops[0][1].target
        tombstones = [op for _, op in ops if op.event is None]
        reads = dict(zip(map(id, tombstones), self._read_all(
            ends, source, [op.source_id for op in tombstones]), strict=True))
        settled: dict[int, Outcome] = {}
        deleting: list[tuple[int, PlannedOperation]] = []
        for index, op in ops:
            read = reads.get(id(op))
            if read is not None and read.error is not None:
                settled[index] = self._settle(ends, op, partial(_as_outcome, read.error))
            elif read is not None and read.event is not None and still_there(read.event):
                settled[index] = self.apply(ends, plan_event(source, read.event, op.link))
            else:
                deleting.append((index, op))
        copies = [(index, op) for index, op in deleting
                  if op.link is not None and op.link.event_id(target)]
        results = dict(zip((index for index, _ in copies), self._write_all(
            ends, target, [WriteOp.delete(copy_id(op)) for _, op in copies]), strict=True))
        for index, op in deleting:
            settled[index] = self._settle(ends, op, partial(self._removed, ends, op,
                                                            results.get(index)))
        return [(index, settled[index]) for index, _ in ops]

    def _removed(self, ends: Ends, op: PlannedOperation, result: WriteResult | None
                 ) -> Outcome:
        """A batched delete's result (None: there was no copy to delete), as `_delete`
        ends with it."""
        if result is not None and result.error is not None:
            raise result.error
        return self._deleted(ends, op)

    def _deleted(self, ends: Ends, op: PlannedOperation) -> Outcome:
        """Close a pair whose copy is deleted (a series' copy: its occurrences' pairs too)."""
        link = op.link
        assert link is not None
        closing = [link]
        if link.item_type == "series":
            # The copy of the series is gone, and its occurrences with it.
            closing += [pair for pair in self.stores.links.of_series(link.mapping_id,
                                                                     series_links=[link.id])
                        if pair.series_link == link.id and pair.status not in GONE]
        outcome = self._outcome(ends, op, OutcomeStatus.COMPLETED)
        for each in closing:
            previous = each.model_copy(deep=True)
            each.status, each.pending_end = SyncStatus.CANCELLED, None
            each.attempts, each.last_error, each.next_attempt_at = 0, None, None
            each.synced_at, each.cancelled_by = self.clock(), op.source
            self._save(each, previous, outcome if each is link else None)
        return outcome

    def _adopt(self, ends: Ends, op: PlannedOperation) -> Outcome:
        link = op.link
        assert link is not None and op.event is not None
        link.set_event_id(op.source, op.source_id)
        record(link.end(op.source), op.event)
        try:
            self.stores.links.update(link)
        except (EtagConflict, AlreadyExists):
            pass
        return self._outcome(ends, op, OutcomeStatus.SKIPPED)

    def _succeed(self, ends: Ends, op: PlannedOperation, link: EventLink,
                 written: Event, *, sent: frozenset[EventField] | None = None,
                 owed: frozenset[EventField] = frozenset()) -> Outcome:
        """Record a write: both ends' fingerprints and field hashes as they now are, except
        the target's own changes still `owed` to the source, which stay visible as changes
        (the link stays pending from the target until they have flowed back)."""
        assert op.event is not None
        previous = link.model_copy(deep=True)
        link.set_event_id(op.target, written.id)
        if op.kind is OperationKind.CREATE:
            self._made_in(ends, op.target, written.id)
        target = link.end(op.target)
        kept = target.fields
        record(link.end(op.source), op.event)
        record(target, written)
        if sent is not None:  # only what was sent is as written; owed changes stay visible
            target.fields = merged_hashes(kept, written, sent, owed)
        link.status, link.pending_end = ((SyncStatus.PENDING, op.target) if owed
                                          else (SyncStatus.SYNCED, None))
        link.attempts, link.last_error, link.next_attempt_at = 0, None, None
        link.synced_at = self.clock()
        self.describe(link, op.event, op.source)
        outcome = self._outcome(ends, op, OutcomeStatus.COMPLETED, target_id=written.id)
        self._save(link, previous, outcome)
        return outcome

    def _made_in(self, ends: Ends, end: End, event_id: str) -> None:
        """Keep a copy just made at `end` for noting on that end's cursor, where its change
        feed may leave out its deletion and the end is read (`calbridge.sync.made`):
        at once for a write of its own, with its chunk's writes otherwise."""
        if not (ends.bridges[end].capabilities.omits_short_lived
                and ends.mapping.allows(end)):
            return
        self._made.add(ends.system(end), ends.calendar(end), ends.mapping.id, event_id)
        if self._pending is None:
            self._made.note(self.stores.cursors)

    def _fail(self, ends: Ends, link: EventLink | None, op: PlannedOperation,
              exc: CalbridgeError) -> Outcome:
        log.warning("sync operation failed", extra={
            "bridge": ends.system(op.target), "mapping_id": ends.mapping.id,
            "link_id": link.id if link else None, "code": exc.code})
        if link is not None:
            try:
                fresh = self.stores.links.get(link.mapping_id, link.id)
                fresh.status = SyncStatus.ERROR
                fresh.attempts += 1
                fresh.last_error = exc.message[:500]
                fresh.pending_end = op.source
                fresh.next_attempt_at = (self.clock() + backoff(fresh.attempts)
                                         if fresh.attempts < self.options.max_attempts
                                         else None)
                self.stores.links.update(fresh)
            except CalbridgeError:
                log.exception("could not record a failed operation")
        return self._outcome(ends, op, OutcomeStatus.FAILED, error=exc.message)

    # ------------------------------------------------------------------ helpers

    def describe(self, link: EventLink, event: Event, end: End) -> None:
        """What a link shows of its pair: title and times; for a series (at `end`) its id
        there, and for one occurrence of a series its series and original start."""
        link.title = event.title[:200] or None
        link.starts_at, link.ends_at = instant(event.start), instant(event.end)
        if event.kind is EventKind.SERIES and link.item_type == "event":
            link.item_type, link.series_end, link.series_id = "series", end, event.id
        elif event.kind.in_series and event.series_id and not link.series_link:
            link.item_type, link.series_end, link.series_id = "occurrence", end, event.series_id
            original = event.original_start or event.start
            link.occurrence_start = instant(original)

    def _outcome(self, ends: Ends, op: PlannedOperation, status: OutcomeStatus, *,
                 reason: str | None = None, target_id: str | None = None,
                 error: str | None = None) -> Outcome:
        link = op.link
        return Outcome(
            operation=op.kind, status=status,
            reason=(reason or op.reason).replace("{source}", ends.system(op.source))
            .replace("{target}", ends.system(op.target)),
            source_system=ends.system(op.source), target_system=ends.system(op.target),
            source_id=op.source_id,
            target_id=target_id or (link.event_id(op.target) if link else None),
            link_id=link.id if link else None, mapping_id=ends.mapping.id,
            title=(op.event.title if op.event else (link.title if link else None)),
            error=error, source=op.source,
            item_type=item_type(op.event, link))

    def _log(self, outcome: Outcome) -> None:
        pending = self._pending
        if pending is not None:
            pending.log(outcome)
            return
        try:
            self.stores.operations.record(logged_operation(outcome))
        except CalbridgeError:
            log.exception("could not log an operation")

    def _enqueue(self, ends: Ends, plan: list[PlannedOperation], why: str | None = None
                 ) -> list[Outcome]:
        """Hand a run's remaining operations to the `sync-work` queue, in batches that carry
        the source events as read (`apply_work` needs no read of its own); after the
        run's links are stored, so the worker finds them. `why` says why they were not
        done here (the request's time budget)."""
        if not plan:
            return []
        now = self.clock()
        mapping_id = ends.mapping.id
        source = plan[0].source  # one run reads one end
        # An event too large to share a message goes by its id, and is read when done.
        small: list[Event] = []
        alone: list[PlannedOperation] = []
        gone: list[str] = []
        for op in plan:
            if op.event is None:
                gone.append(op.source_id)
            elif len(op.event.model_dump_json()) <= MAX_MESSAGE_BYTES // 2:
                small.append(op.event)
            else:
                alone.append(op)
        unlinked = {op.source_id for op in plan
                    if op.kind is OperationKind.CREATE and op.link is None}

        def listed_unlinked(event: Event) -> int:
            return len(json.dumps(event.id)) + 1 if event.id in unlinked else 0

        # Packed by size, each new pair's id counted; `_fitting` parts what still
        # does not fit (500 ids of gone Outlook events, say).
        work = [part for run in batches(small, most=WORK_BATCH, beside=listed_unlinked)
                for part in _fitting(SyncWork(
                    mapping_id=mapping_id, source=source, events=run, queued_at=now,
                    unlinked=[e.id for e in run if e.id in unlinked]))]
        work += [part for i in range(0, len(gone), 500) for part in _fitting(
            SyncWork(mapping_id=mapping_id, source=source, deleted=gone[i:i + 500],
                     queued_at=now))]
        work += [SyncWork(mapping_id=mapping_id, source=source, source_id=op.source_id,
                          reason=op.reason) for op in alone]
        self.stores.work.send_all(work)
        return [self._outcome(ends, op, OutcomeStatus.QUEUED,
                              reason=f"{op.reason} ({why})" if why else None) for op in plan]

    def _continue(self, ends: Ends, source: End, position: str | None,
                  window: TimeWindow | None, delay: float = 0.0,
                  why: str = OVER_BUDGET) -> Outcome:
        """Hand the rest of a read its time budget stopped to the `sync-work` queue; a
        worker takes it up from `position` (None: the whole read) with a budget of its
        own, after `delay` seconds. Lost, it costs nothing: the cursor was not saved, so
        the next run reads the rest again."""
        self.stores.work.send(SyncWork(
            mapping_id=ends.mapping.id, source=source, read_from=position,
            read_all=position is None, reason=why, queued_at=self.clock(),
            window_start=window.start if window else None,
            window_end=window.end if window else None), delay_seconds=math.ceil(delay))
        what = "the rest of the read" if position else "the read"
        return _queued(ends, source, f"{what} of {ends.system(source)}: {why}", "read")

    def apply_work(self, mapping: ResourceMapping, work: SyncWork, *,
                   redelivered: bool = False, deadline: float | None = None
                   ) -> list[Outcome]:
        """A batch a run queued: its events planned and applied as the run would have,
        without reading them again. The run weighed its deletions against the
        mass-deletion guard already. An event whose pair was synced after it was queued
        (a webhook came first) is read again, so older content never overwrites newer.
        When the target's request budget would keep its writes waiting past `deadline`,
        the batch goes back to the queue, hidden until the budget allows it."""
        ends = self.ends(mapping)
        source = work.source
        if deadline is not None and (put_off := self._put_off(ends, work, deadline)):
            return [put_off]
        links = self._work_links(ends, work, redelivered)
        by_source = {sid: link for link in links if (sid := link.event_id(source))}
        changed, gone = [], list(work.deleted)
        for event in work.events:
            link = by_source.get(event.id or "")
            if (link is not None and work.queued_at is not None and link.synced_at is not None
                    and link.synced_at >= work.queued_at and event.id):
                fresh = ends.bridges[source].get_event(ends.calendar(source), event.id)
                if fresh is None:
                    gone.append(event.id)
                    continue
                event = fresh
            changed.append(event)
        early, plan, _ = self._plan(ends, source, ChangeSet(changed=changed, deleted=gone),
                                    links, self.window())
        for op in plan:
            if op.writes:
                op.reason = f"{op.reason} ({work.reason})"
        return early + self._apply_all(ends, plan)

    def _put_off(self, ends: Ends, work: SyncWork, deadline: float) -> Outcome | None:
        """Send a queued batch again, to be taken when the target's request budget has
        room for its writes, if waiting for that would outlast `deadline`; None when the
        batch can be done now."""
        target = work.source.other
        writes = len(work.events) + len(work.deleted)
        wait = ends.bridges[target].write_wait(ends.calendar(target), writes)
        if not _waits_past(wait, deadline):
            return None
        self.stores.work.send(work, delay_seconds=math.ceil(wait))
        return _queued(ends, work.source, f"{writes} writes to {ends.system(target)}: "
                                          f"{QUOTA_SPENT}", "batch")

    def _work_links(self, ends: Ends, work: SyncWork, redelivered: bool) -> list[EventLink]:
        """The links a queued batch's plan can touch: those of its events and deletions,
        of the links its copies name (marker, origin) — a few reads per batch, so a
        mapping of many thousand pairs fans out at the cost of a small one. Series need
        their occurrences' links (and series pairing all links): those read them all."""
        if self.keeps_series(ends) or any(event.kind is EventKind.SERIES
                                          for event in work.events):
            return self.stores.links.list(ends.mapping.id)
        source = work.source
        event_ids = [(source, event_id) for event_id in work.deleted]
        link_ids = []
        # An earlier attempt may have stored their links: then every event is looked up.
        unlinked = set() if redelivered else set(work.unlinked)
        for event in work.events:
            if event.id in unlinked:
                continue  # a new pair: `_reserve` refuses it if it was linked meanwhile
            if event.id:
                event_ids.append((source, event.id))
            if event.marker:
                link_ids.append(event.marker)
            if event.origin is not None:
                event_ids.append((source.other, event.origin.id))
        return self.stores.links.find_many(ends.mapping.id, event_ids, link_ids)

    # ------------------------------------------------------------------ holds

    def _open_holds(self, mapping_id: str, source: End) -> list[DeletionHold]:
        return [hold for hold in self.stores.holds.list(HoldStatus.HELD)
                if hold.mapping_id == mapping_id and hold.source is source]

    def _held_link_ids(self, mapping_id: str, source: End) -> set[str]:
        return {link_id for hold in self._open_holds(mapping_id, source)
                for link_id in hold.link_ids}

    def _hold_deletions(self, ends: Ends, source: End, plan: list[PlannedOperation],
                        baseline: DeletionBaseline
                        ) -> tuple[list[PlannedOperation], list[Outcome]]:
        deletions = [op for op in plan if op.kind is OperationKind.DELETE and op.link]
        hold = self._hold(ends, source, [op.link.id for op in deletions if op.link],
                          len(baseline.synced))
        outcomes = [self._outcome(ends, op, OutcomeStatus.HELD, reason=hold.reason)
                    for op in deletions]
        return [op for op in plan if op.kind is not OperationKind.DELETE], outcomes

    def _hold_if_burst(self, ends: Ends, op: PlannedOperation) -> Outcome | None:
        """A deletion arriving on its own joins an open hold of its mapping and source,
        or opens one when, with the same source's other deletions of the last
        `CALBRIDGE_MASS_DELETE_WINDOW_MINUTES`, it crosses the guard's share."""
        link = op.link
        assert link is not None
        mapping, source = ends.mapping, op.source
        held = self._held_link_ids(mapping.id, source)
        if link.id not in held:
            since = self.clock() - self.options.mass_delete_window
            decided = [hold for hold in self.stores.holds.list()
                       if hold.mapping_id == mapping.id and hold.source is source
                       and hold.decided_at is not None and hold.decided_at >= since]
            # An operator's decision closes a burst: count afresh from it, and never
            # count the deletions the operator confirmed.
            since = max([since, *(hold.decided_at for hold in decided if hold.decided_at)])
            confirmed = {link_id for hold in decided if hold.status is HoldStatus.CONFIRMED
                         for link_id in hold.link_ids}
            links = self.stores.links.list(mapping.id)
            recent = frozenset(
                other.id for other in links
                if other.status is SyncStatus.CANCELLED and other.cancelled_by is source
                and other.synced_at is not None and other.synced_at >= since
                and other.id not in confirmed)
            known = self.stores.cursors.for_end(ends.system(source), ends.calendar(source),
                                                 mapping.id)
            baseline = deletion_baseline(links, source, self._last_read(known), recent)
            unit = {each.id: each.unit for each in links}
            deleting = {unit.get(link_id, link_id) for link_id in recent | held | {link.id}}
            if not crosses_share(deleting, baseline,
                                 self.options.mass_delete_share,
                                 self.options.mass_delete_min):
                return None
            hold = self._hold(ends, source, [link.id], len(baseline.synced))
        else:
            hold = next(h for h in self._open_holds(mapping.id, source)
                        if link.id in h.link_ids)
        return self._outcome(ends, op, OutcomeStatus.HELD, reason=hold.reason)

    def _hold(self, ends: Ends, source: End, link_ids: list[str],
              baseline: int) -> DeletionHold:
        """Add deletions to the open hold of a mapping and source, or open one."""
        for _ in range(5):
            holds = self._open_holds(ends.mapping.id, source)
            hold = holds[-1] if holds else None
            ids = list(dict.fromkeys([*(hold.link_ids if hold else []), *link_ids]))
            reason = (f"{len(ids)} of {baseline} linked events would be deleted in "
                      f"{ends.system(source.other)} because they disappeared from "
                      f"{ends.system(source)}; confirm or reject the hold")
            try:
                if hold is None:
                    hold = self.stores.holds.add(DeletionHold(
                        mapping_id=ends.mapping.id, source=source, active_links=baseline,
                        reason=reason, link_ids=ids))
                else:
                    hold.link_ids, hold.reason = ids, reason
                    hold.active_links = max(hold.active_links, baseline)
                    hold = self.stores.holds.update(hold)
            except EtagConflict:
                continue  # decided or grown meanwhile: look again
            log.warning("mass deletion held", extra={"mapping_id": ends.mapping.id,
                                                     "count": len(ids)})
            return hold
        raise EtagConflict("the deletion hold kept changing; try again")


def _waits_past(wait: float, deadline: float) -> bool:
    """Whether a wait for the calendar system's request budget (0: none) would outlast
    `deadline` (a `time.monotonic()` value)."""
    return wait > 0 and time.monotonic() + wait >= deadline


def _queued(ends: Ends, source: End, reason: str, item_type: str) -> Outcome:
    """The row of work of the mapping from `source` handed to the `sync-work` queue as a
    whole (a read, a batch), not event by event."""
    return Outcome(OperationKind.SKIP, OutcomeStatus.QUEUED, reason, ends.system(source),
                   ends.system(source.other), "", mapping_id=ends.mapping.id, source=source,
                   item_type=item_type)
