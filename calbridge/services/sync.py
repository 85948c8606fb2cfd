"""Sync use cases: bridge-to-bridge runs, retries of pending work, deletion detection,
and orphan clean-up — all through the one engine."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from time import monotonic
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from calbridge.bootstrap import Container
from calbridge.bridges.base import TimeWindow
from calbridge.errors import (
    CalbridgeError,
    CalendarNotFound,
    NotFound,
    StorageUnavailable,
)
from calbridge.model import (
    End,
    EndFailure,
    EventLink,
    EventStatus,
    Identifier,
    OperationKind,
    ResourceMapping,
    SyncStatus,
    SyncWork,
    utcnow,
)
from calbridge.services import mappings as mapping_state
from calbridge.sync.engine import SyncEngine
from calbridge.sync.outcome import Outcome
from calbridge.sync.plan import PlannedOperation

log = logging.getLogger(__name__)

MAX_WINDOW_DAYS = 3 * 366
# Windows are for bookings people make: years the engine's date arithmetic and every
# calendar system's date format handle (strftime writes year 1 as "1", not "0001").
EARLIEST_YEAR, LATEST_YEAR = 1900, 2199


class SyncRequest(BaseModel):
    """The optional body of `POST /bridges/sync/{source}/{target}`."""

    model_config = ConfigDict(extra="forbid")

    from_date: date | datetime | None = None
    to_date: date | datetime | None = None
    resource_ids: Annotated[list[Identifier], Field(max_length=1000)] | None = None
    dry_run: bool = False

    @field_validator("from_date", "to_date")
    @classmethod
    def _plausible_year(cls, value: date | datetime | None) -> date | datetime | None:
        if value is not None and not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
            raise ValueError(f"must lie between {EARLIEST_YEAR}-01-01 and {LATEST_YEAR}-12-31")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> SyncRequest:
        if (self.from_date is None) != (self.to_date is None):
            raise ValueError("from_date and to_date go together")
        if self.from_date is not None and self.to_date is not None:
            start, end = _instant(self.from_date), _instant(self.to_date)
            if end <= start:
                raise ValueError("to_date must be after from_date")
            if (end - start).days > MAX_WINDOW_DAYS:
                raise ValueError(f"the window may span at most {MAX_WINDOW_DAYS} days")
        return self

    def window(self) -> TimeWindow | None:
        if self.from_date is None or self.to_date is None:
            return None
        return TimeWindow(start=_instant(self.from_date), end=_instant(self.to_date))


def _instant(value: date | datetime) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.combine(value, time(0), tzinfo=UTC)


# ------------------------------------------------------------------ mapping by mapping

T = TypeVar("T")


@dataclass(frozen=True)
class MappingFailure:
    """A mapping that could not be run: which one, at which end, what that system said."""

    mapping: ResourceMapping
    end: EndFailure

    def as_dict(self) -> dict[str, Any]:
        # The guide's names beside the ends: its booking end is `a`, its calendar `b`.
        return {"resource_mapping_id": self.mapping.id,
                "resource_id": self.mapping.a.calendar_id,
                "calendar_system": self.mapping.b.bridge,
                "calendar_resource_id": self.mapping.b.calendar_id,
                "end": self.end.side.value, "bridge": self.end.bridge,
                "calendar_id": self.end.calendar_id, "error": self.end.error,
                "code": self.end.code}

    def outcome(self) -> Outcome:
        """The failure as a row of the guide's `operations[]`."""
        end = self.end.side
        return Outcome.failed(
            f"mapping not synced: its {end.value} end ({self.end.bridge}) failed",
            self.mapping.end(end).bridge, self.mapping.end(end.other).bridge, self.end.error,
            mapping_id=self.mapping.id)


@dataclass
class MappingRuns(Generic[T]):
    """What running something mapping by mapping gave: the good mappings' results, the
    failed mappings, and the mappings tried (by id). A sync service returns this; the
    functions layer shapes it into the guide's answer."""

    results: list[T] = field(default_factory=list)
    failures: list[MappingFailure] = field(default_factory=list)
    tried: dict[str, ResourceMapping] = field(default_factory=dict)
    dry_run: bool = False

    @property
    def mappings(self) -> int:
        return len(self.tried)

    def failed_mappings(self) -> list[dict[str, Any]]:
        return [failure.as_dict() for failure in self.failures]

    def with_results(self, results: list[T]) -> MappingRuns[T]:
        """The same runs with more results (retries done after them)."""
        return MappingRuns([*self.results, *results], self.failures, self.tried,
                           self.dry_run)


RunReport = MappingRuns[Outcome]


def _end_failure(mapping: ResourceMapping, end: End, exc: CalbridgeError) -> EndFailure:
    """The end a failure belongs to: the calendar a `CalendarNotFound` names, else the
    end the work was reading."""
    if isinstance(exc, CalendarNotFound):
        end = next(iter(mapping.ends_on(exc.bridge, exc.calendar_id)), end)
    return EndFailure(side=end, bridge=mapping.end(end).bridge,
                      calendar_id=mapping.end(end).calendar_id, error=exc.message,
                      code=exc.code)


def each_mapping(container: Container, units: Iterable[tuple[ResourceMapping, End]],
                 work: Callable[[ResourceMapping, End], Iterable[T]]) -> MappingRuns[T]:
    """Run `work(mapping, end)` for every unit, mapping by mapping. A mapping not verified
    yet is checked first; one whose calendar is missing, or whose work raises, is reported
    with the end and what its system said (a fault of calbridge's own as `internal_error`),
    and every other mapping goes on. Storage failing is nobody's mapping: it stops the run."""
    runs: MappingRuns[T] = MappingRuns()
    grouped: dict[str, tuple[ResourceMapping, list[End]]] = {}
    for mapping, end in units:
        grouped.setdefault(mapping.id, (mapping, []))[1].append(end)
    for mapping, ends in grouped.values():
        runs.tried[mapping.id] = mapping
        if mapping.verified is not True:
            mapping = mapping_state.recheck(container, mapping)
            if mapping.missing_end is not None:
                missing_end = mapping.end(mapping.missing_end)
                runs.failures.append(MappingFailure(mapping, EndFailure(
                    side=mapping.missing_end, bridge=missing_end.bridge,
                    calendar_id=missing_end.calendar_id,
                    error=mapping.verification_error or "calendar does not exist",
                    code=CalendarNotFound.code)))
                continue
        failure: EndFailure | None = None
        missing = False
        for end in ends:
            try:
                # Item by item: what a mapping did before it failed is reported too.
                for item in work(mapping, end):
                    runs.results.append(item)
            except StorageUnavailable:
                raise
            except Exception as exc:  # one mapping's failure stays its own
                if not isinstance(exc, CalbridgeError):
                    # A fault of calbridge's, not of a calendar: logged with its trace, and
                    # reported without its text (it may quote an event).
                    log.exception("a mapping's run failed", extra={
                        "mapping_id": mapping.id, "end": end.value})
                    exc = CalbridgeError("calbridge failed on this mapping; the log has why")
                failure = _end_failure(mapping, end, exc)
                runs.failures.append(MappingFailure(mapping, failure))
                if isinstance(exc, CalendarNotFound):
                    # Unverified until the calendar is back; the other direction needs it too.
                    mapping_state.record_missing(container, mapping, failure.side, exc.message)
                    missing = True
                    break
        if not missing:
            mapping_state.record_run(container, mapping, failure)
    return runs


def _mappings(container: Container, resource_ids: list[str] | None = None
              ) -> list[ResourceMapping]:
    """Active mappings whose two bridges are configured; with `resource_ids`, only those
    with an end on one of these calendars."""
    mappings = container.storage.mappings.list(active=True)
    if resource_ids is not None:
        wanted = set(resource_ids)
        mappings = [m for m in mappings if {m.a.calendar_id, m.b.calendar_id} & wanted]
    return [m for m in mappings if m.a.bridge in container.bridges
            and m.b.bridge in container.bridges]


def request_deadline(container: Container) -> float:
    """When a sync request (or the queued rest of one) stops reading and writing and
    queues the rest (a `time.monotonic()` value): `CALBRIDGE_SYNC_BUDGET_SECONDS` from
    now, well inside Azure's limit on an HTTP call."""
    return monotonic() + container.settings.sync_budget_seconds


def within_budget(deadline: float) -> bool:
    return monotonic() < deadline


def sync_bridges(container: Container, source_bridge: str, target_bridge: str,
                 request: SyncRequest) -> RunReport:
    """`POST /bridges/sync/{source}/{target}`: every active mapping with an end on each, in
    that direction (a mapping of two calendars of one bridge, both ways), then those
    mappings' pending and failed links in that direction, retried at once (after a crash
    they hold the copies a dead worker left half made, which the run's changes no longer
    name). Writes not begun within the request's time budget continue through the
    `sync-work` queue; retries not begun stay due for the next run."""
    container.bridge(source_bridge)
    container.bridge(target_bridge)
    deadline = request_deadline(container)
    engine = SyncEngine.for_container(container)
    units = [(mapping, source) for mapping in _mappings(container, request.resource_ids)
             for source in End
             if (mapping.end(source).bridge, mapping.end(source.other).bridge)
             == (source_bridge, target_bridge) and mapping.allows(source)]
    runs = each_mapping(container, units, lambda mapping, source: engine.run(
        mapping, source, window=request.window(), dry_run=request.dry_run, deadline=deadline))
    runs.dry_run = request.dry_run
    failed = {failure.mapping.id for failure in runs.failures}
    ran = {(mapping.id, source) for mapping, source in units if mapping.id not in failed}
    if request.dry_run or not ran or not within_budget(deadline):
        return runs
    return runs.with_results(process_pending(
        container, manual=True, exclude=frozenset(o.link_id for o in runs.results if o.link_id),
        where=lambda mapping, source: (mapping.id, source) in ran, deadline=deadline))


def both_directions(mappings: Iterable[ResourceMapping]) -> list[tuple[ResourceMapping, End]]:
    """Each mapping with every source end its direction allows."""
    return [(mapping, source) for mapping in mappings for source in End
            if mapping.allows(source)]


def sync_everything(container: Container) -> RunReport:
    """Both directions of every active mapping, then due retries (the sync timer). The
    runs share a request's time budget (a timer invocation has a time limit too, host.json's
    `functionTimeout`): writes not begun by then, and the rest of a read still going on,
    continue through the `sync-work` queue."""
    deadline = request_deadline(container)
    engine = SyncEngine.for_container(container)
    runs = each_mapping(container, both_directions(_mappings(container)),
                        lambda mapping, source: engine.run(mapping, source, deadline=deadline))
    return runs.with_results(process_pending(container, deadline=deadline))


def process_work(container: Container, work: SyncWork, *,
                 redelivered: bool = False) -> list[Outcome]:
    """One queued unit of work (the `sync-work` queue trigger): an event or a series by
    its id, a batch a run handed over, or the rest of a run's read (`continue_read`). A
    `redelivered` batch (an earlier attempt failed) may have linked some of its events
    already."""
    if work.read_from or work.read_all:
        return continue_read(container, work)
    mapping = container.storage.mappings.get(work.mapping_id)
    engine = SyncEngine.for_container(container)
    if work.events or work.deleted:
        # Within a request's time budget (a queue invocation has a time limit too).
        return engine.apply_work(mapping, work, redelivered=redelivered,
                                 deadline=request_deadline(container))
    return engine.sync_item(mapping, work.source, work.source_id, work.reason)


def continue_read(container: Container, work: SyncWork) -> list[Outcome]:
    """The rest of a read a run's time budget stopped, taken up where it stopped, with a
    budget of its own (a queue trigger has a time limit too): what is left then is queued
    again. A write that fails is recorded on its link and retried like any run's; what
    this returns is the failure of the run itself, for the message to be tried again.
    A mapping removed, paused or turned one-way meanwhile ends the read."""
    try:
        mapping = container.storage.mappings.get(work.mapping_id)
    except NotFound:
        return []
    if not (mapping.active and mapping.allows(work.source)):
        return []
    window = (TimeWindow(start=work.window_start, end=work.window_end)
              if work.window_start and work.window_end else None)
    engine = SyncEngine.for_container(container)
    deadline = request_deadline(container)
    runs = each_mapping(container, [(mapping, work.source)], lambda mapping, source: engine.run(
        mapping, source, window=window, resume=work.read_from, deadline=deadline))
    return [failure.outcome() for failure in runs.failures]


def _systems(mapping: ResourceMapping, source: End) -> tuple[str, str]:
    """A mapping's bridges as (source, target) for changes flowing from `source`."""
    return mapping.end(source).bridge, mapping.end(source.other).bridge


def retry_candidates(container: Container, *, now: datetime | None = None,
                     ignore_backoff: bool = False, force: bool = False
                     ) -> Iterator[tuple[ResourceMapping, End, EventLink, Outcome | None]]:
    """Links with work left, with their mappings and the end whose state is owed, and
    for each either None (due now) or a `waiting` outcome saying until when and why.
    The timer keeps the backoff; an operator's call ignores it (`ignore_backoff`);
    `force` also retries links that used up their attempts."""
    moment = now or utcnow()
    mappings = {m.id: m for m in _mappings(container)}
    limit = container.settings.max_attempts
    for status in (SyncStatus.PENDING, SyncStatus.ERROR):
        for link in container.storage.links.list(status=status):
            mapping = mappings.get(link.mapping_id)
            end = link.pending_end or link.origin
            if mapping is None or link.event_id(end) is None:
                continue
            waiting = None
            if link.attempts >= limit and not force:
                waiting = (f"gave up after {link.attempts} attempts; "
                           "POST /bridge/process-pending?force=true retries it", None)
            elif (not (ignore_backoff or force) and link.next_attempt_at is not None
                    and link.next_attempt_at > moment):
                waiting = ("retry waits for its backoff", link.next_attempt_at)
            if waiting is None:
                yield mapping, end, link, None
                continue
            source_system, target_system = _systems(mapping, end)
            yield mapping, end, link, Outcome.waiting(
                waiting[0], source_system, target_system, link.event_id(end) or "",
                waiting[1], target_id=link.event_id(end.other), link_id=link.id,
                mapping_id=mapping.id, title=link.title, error=link.last_error, source=end)


def due_links(container: Container, *, now: datetime | None = None, force: bool = False
              ) -> Iterator[tuple[ResourceMapping, End, EventLink]]:
    """Links whose retry is due now (the timer's view; `force` ignores the backoff)."""
    for mapping, end, link, waiting in retry_candidates(container, now=now,
                                                        ignore_backoff=force):
        if waiting is None:
            yield mapping, end, link


def process_pending(container: Container, *, now: datetime | None = None,
                    manual: bool = False, force: bool = False,
                    where: Callable[[ResourceMapping, End], bool] | None = None,
                    exclude: frozenset[str] = frozenset(),
                    deadline: float | None = None) -> list[Outcome]:
    """Retry links with pending work and report the ones still waiting. The timer keeps
    each link's backoff; an operator's call (`manual`) retries at once; `force` also
    retries links that gave up. `where` narrows it to some mappings and source ends;
    `exclude` skips links the same request has just tried. Retries not begun by
    `deadline` stay due, for the next run (reported as waiting)."""
    engine = SyncEngine.for_container(container, clock=utcnow if now is None else lambda: now)
    outcomes = []
    candidates = list(retry_candidates(container, now=now, ignore_backoff=manual,
                                       force=force))
    for mapping, end, link, waiting in candidates:
        if link.id in exclude or (where is not None and not where(mapping, end)):
            continue
        if waiting is not None:
            outcomes.append(waiting)
            continue
        if deadline is not None and not within_budget(deadline):
            source_system, target_system = _systems(mapping, end)
            outcomes.append(Outcome.waiting(
                "the run's time budget is spent: retried by the next run", source_system,
                target_system, link.event_id(end) or "", None, link_id=link.id,
                mapping_id=mapping.id, source=end))
            continue
        try:
            outcomes += engine.sync_item(mapping, end, link.event_id(end) or "", "retry")
        except CalbridgeError as exc:
            source_system, target_system = _systems(mapping, end)
            outcomes.append(Outcome.failed("retry failed", source_system, target_system,
                                           exc.message, source_id=link.event_id(end) or "",
                                           link_id=link.id, mapping_id=mapping.id,
                                           source=end))
    return outcomes


def pending_items(container: Container) -> list[dict]:
    """Links not yet in step (`GET /bridge/pending`), failed ones included."""
    limit = container.settings.max_attempts
    rows = []
    for status in (SyncStatus.PENDING, SyncStatus.ERROR, SyncStatus.CONFLICT):
        for link in container.storage.links.list(status=status):
            rows.append({**link.model_dump(mode="json"),
                         "gave_up": link.status is SyncStatus.ERROR and link.attempts >= limit})
    return sorted(rows, key=lambda r: r["updated_at"])


def _deletion_related(op: PlannedOperation) -> bool:
    return op.kind is OperationKind.DELETE or op.reenable


def sync_deletions(container: Container, deadline: float | None = None) -> RunReport:
    """Complete listings of both ends of every mapping: deletions, cancellations and
    re-enables found there are applied (`POST /bridges/sync-deletions`, the timer); those
    not begun by `deadline` are queued."""
    engine = SyncEngine.for_container(container)
    runs = each_mapping(container, both_directions(_mappings(container)),
                        lambda mapping, source: engine.run(mapping, source, full=True,
                                                           only=_deletion_related,
                                                           deadline=deadline))
    return runs


def process_deletion_queue(container: Container) -> RunReport:
    """Retry deletions that are still owed: pending or failed links whose source event
    is gone or cancelled (`POST /bridges/process-deletion-queue`)."""
    engine = SyncEngine.for_container(container)
    owed: dict[tuple[str, End], list[EventLink]] = {}
    units: list[tuple[ResourceMapping, End]] = []
    for mapping, end, link in list(due_links(container)):
        if (mapping.id, end) not in owed:
            units.append((mapping, end))
        owed.setdefault((mapping.id, end), []).append(link)

    def retry(mapping: ResourceMapping, end: End) -> Iterator[Outcome]:
        ends = engine.ends(mapping)
        for link in owed[(mapping.id, end)]:
            event_id = link.event_id(end) or ""
            try:
                event = ends.bridges[end].get_event(ends.calendar(end), event_id)
                if event is None or event.status is EventStatus.CANCELLED:
                    yield engine.sync_event(mapping, end, event_id, "queued deletion")
            except CalendarNotFound:
                raise  # the mapping's calendar, not this link: reported once, for the mapping
            except CalbridgeError as exc:
                yield Outcome.failed("queued deletion", ends.system(end),
                                     ends.system(end.other), exc.message,
                                     operation=OperationKind.DELETE, source_id=event_id,
                                     link_id=link.id, mapping_id=mapping.id, source=end)

    return each_mapping(container, units, retry)


def cleanup_orphaned(container: Container) -> dict:
    """Remove links whose events are gone on both ends (`DELETE /bridge/cleanup-orphaned`).
    A mapping whose calendar cannot be read keeps its links and is reported."""
    engine = SyncEngine.for_container(container)
    mappings = {m.id: m for m in container.storage.mappings.list()}
    removed: list[dict[str, Any]] = []
    by_mapping: dict[str, list[EventLink]] = {}
    for link in container.storage.links.list():
        if link.status is SyncStatus.SYNCED:
            continue
        if link.mapping_id not in mappings:
            removed.append(_remove_link(container, link, "mapping removed"))
        else:
            by_mapping.setdefault(link.mapping_id, []).append(link)
    unchecked = 0

    def sweep(mapping: ResourceMapping, end: End) -> Iterator[dict[str, Any]]:
        nonlocal unchecked
        for link in by_mapping[mapping.id]:
            try:
                gone = all(_gone(engine, mapping, end, link.event_id(end)) for end in End)
            except CalendarNotFound:
                raise  # the mapping's calendar: its links are kept, the mapping reported
            except CalbridgeError:
                unchecked += 1
                continue
            if gone:
                yield _remove_link(container, link, "gone on both ends")

    runs = each_mapping(container, [(mappings[m], End.B) for m in by_mapping], sweep)
    removed += runs.results
    return {"removed": len(removed), "removed_links": removed, "unchecked": unchecked,
            "failed_mappings": runs.failed_mappings()}


def _remove_link(container: Container, link: EventLink, reason: str) -> dict[str, Any]:
    container.storage.links.delete(link)
    return {"bridge_mapping_id": link.id, "resource_mapping_id": link.mapping_id,
            "status": link.status.value, "title": link.title, "reason": reason}


def _gone(engine: SyncEngine, mapping: ResourceMapping, end: End, event_id: str | None) -> bool:
    if event_id is None:
        return True
    ends = engine.ends(mapping)
    try:
        event = ends.bridges[end].get_event(ends.calendar(end), event_id)
    except CalendarNotFound:
        raise  # a missing calendar says nothing about its events
    except NotFound:
        return True
    return event is None or event.status is EventStatus.CANCELLED

