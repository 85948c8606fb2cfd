"""Sync use cases: bridge-to-bridge runs, retries of pending work, deletion detection,
and orphan clean-up — all through the one engine."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from calbridge.bootstrap import Container
from calbridge.bridges.base import TimeWindow
from calbridge.errors import CalbridgeError, NotFound, ValidationFailed
from calbridge.model import (
    EventLink,
    EventStatus,
    Identifier,
    OperationKind,
    ResourceMapping,
    Side,
    SyncDirection,
    SyncStatus,
    SyncWork,
)
from calbridge.sync.engine import Outcome, SyncEngine
from calbridge.sync.plan import PlannedOperation

MAX_WINDOW_DAYS = 3 * 366


class SyncRequest(BaseModel):
    """The optional body of `POST /bridges/sync/{source}/{target}`."""

    model_config = ConfigDict(extra="forbid")

    from_date: date | datetime | None = None
    to_date: date | datetime | None = None
    resource_ids: Annotated[list[Identifier], Field(max_length=1000)] | None = None
    dry_run: bool = False

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


def allowed(mapping: ResourceMapping, source: Side) -> bool:
    """Whether a mapping's direction lets changes flow from `source`."""
    if mapping.sync_direction is SyncDirection.TO_CALENDAR:
        return source is Side.BOOKING
    if mapping.sync_direction is SyncDirection.FROM_CALENDAR:
        return source is Side.CALENDAR
    return True


def results_block(outcomes: list[Outcome]) -> dict:
    """The guide's results block for a list of outcomes."""
    done = [o for o in outcomes if o.status == "completed"]
    kinds = Counter(o.operation for o in done)
    failed = sum(o.status == "failed" for o in outcomes)
    attempted = len(done) + failed
    return {
        "processed": sum(o.status != "skipped" for o in outcomes),
        "successful": len(done),
        "created": kinds[OperationKind.CREATE],
        "updated": kinds[OperationKind.UPDATE],
        "deleted": kinds[OperationKind.DELETE],
        "skipped": sum(o.status == "skipped" for o in outcomes),
        "errors": failed,
        "conflicts": sum(o.status == "conflict" for o in outcomes),
        "queued": sum(o.status == "queued" for o in outcomes),
        "held": sum(o.status == "held" for o in outcomes),
        "planned": sum(o.status == "planned" for o in outcomes),
        "success_rate": f"{round(100 * len(done) / attempted) if attempted else 100}%",
        "operations": [o.as_dict() for o in outcomes],
    }


def _mappings(container: Container, resource_ids: list[str] | None = None
              ) -> list[ResourceMapping]:
    container.storage.ensure()
    mappings = container.storage.mappings.list(active=True)
    if resource_ids is not None:
        wanted = set(resource_ids)
        mappings = [m for m in mappings if m.booking_system_resource_id in wanted]
    return [m for m in mappings if m.calendar_system in container.bridges
            and m.booking_system in container.bridges]


def sync_bridges(container: Container, source_bridge: str, target_bridge: str,
                 request: SyncRequest) -> dict:
    """`POST /bridges/sync/{source}/{target}`: every active mapping between the two."""
    container.bridge(source_bridge)
    container.bridge(target_bridge)
    if source_bridge == target_bridge:
        raise ValidationFailed("source and target bridge must differ", details={"fields": [
            {"field": "target_bridge", "message": "same as source_bridge"}]})
    engine = SyncEngine(container)
    outcomes: list[Outcome] = []
    mappings = 0
    for mapping in _mappings(container, request.resource_ids):
        pair = (mapping.booking_system, mapping.calendar_system)
        if pair == (source_bridge, target_bridge):
            source = Side.BOOKING
        elif pair == (target_bridge, source_bridge):
            source = Side.CALENDAR
        else:
            continue
        if not allowed(mapping, source):
            continue
        mappings += 1
        outcomes += engine.run(mapping, source, window=request.window(),
                               dry_run=request.dry_run)
    return {"mappings": mappings, "dry_run": request.dry_run, **results_block(outcomes)}


def sync_everything(container: Container) -> dict:
    """Both directions of every active mapping, then due retries (the sync timer)."""
    engine = SyncEngine(container)
    outcomes: list[Outcome] = []
    for mapping in _mappings(container):
        for source in (Side.BOOKING, Side.CALENDAR):
            if allowed(mapping, source):
                try:
                    outcomes += engine.run(mapping, source)
                except CalbridgeError as exc:  # one unreachable calendar must not stop the rest
                    outcomes.append(Outcome(OperationKind.SKIP, "failed", "run failed",
                                            mapping.booking_system, mapping.calendar_system,
                                            "", mapping_id=mapping.id, error=exc.message))
    outcomes += process_pending(container)
    return results_block(outcomes)


def process_work(container: Container, work: SyncWork) -> Outcome:
    """One queued unit of work (the `sync-work` queue trigger)."""
    container.storage.ensure()
    mapping = container.storage.mappings.get(work.mapping_id)
    return SyncEngine(container).sync_event(mapping, work.source, work.source_id, work.reason)


def due_links(container: Container, *, now: datetime | None = None, force: bool = False
              ) -> Iterator[tuple[ResourceMapping, Side, EventLink]]:
    """Links with work left whose retry is due (or all of them, `force`), with their
    mappings. Links that used up their attempts are left for an operator."""
    container.storage.ensure()
    engine = SyncEngine(container)
    moment = now or engine.clock()
    mappings = {m.id: m for m in _mappings(container)}
    for status in (SyncStatus.PENDING, SyncStatus.ERROR):
        for link in container.storage.links.list(status=status):
            mapping = mappings.get(link.mapping_id)
            if mapping is None or link.attempts >= container.settings.max_attempts:
                continue
            if not force and link.next_attempt_at is not None and link.next_attempt_at > moment:
                continue
            side = link.pending_side or link.origin
            if link.side_id(side) is None:
                continue
            yield mapping, side, link


def process_pending(container: Container, *, now: datetime | None = None,
                    force: bool = False,
                    where: Callable[[ResourceMapping, Side], bool] | None = None
                    ) -> list[Outcome]:
    """Retry every link whose pending work is due, or all now with `force`
    (`POST /bridge/process-pending[?force=true]`); `where` narrows it to some mappings
    and source sides."""
    engine = SyncEngine(container) if now is None else SyncEngine(container, clock=lambda: now)
    outcomes = []
    for mapping, side, link in list(due_links(container, now=now, force=force)):
        if where is not None and not where(mapping, side):
            continue
        try:
            outcomes.append(engine.sync_event(mapping, side, link.side_id(side) or "", "retry"))
        except CalbridgeError as exc:
            outcomes.append(Outcome(OperationKind.SKIP, "failed", "retry failed",
                                    mapping.booking_system, mapping.calendar_system,
                                    link.side_id(side) or "", link_id=link.id,
                                    mapping_id=mapping.id, error=exc.message))
    return outcomes


def pending_items(container: Container) -> list[dict]:
    """Links not yet in step (`GET /bridge/pending`), failed ones included."""
    container.storage.ensure()
    limit = container.settings.max_attempts
    rows = []
    for status in (SyncStatus.PENDING, SyncStatus.ERROR, SyncStatus.CONFLICT):
        for link in container.storage.links.list(status=status):
            rows.append({**link.model_dump(mode="json"),
                         "gave_up": link.status is SyncStatus.ERROR and link.attempts >= limit})
    return sorted(rows, key=lambda r: r["updated_at"])


def _deletion_related(op: PlannedOperation) -> bool:
    return op.kind is OperationKind.DELETE or op.reenable


def deletion_report(outcomes: list[Outcome]) -> dict:
    """The guide's deletion results block."""
    deletions = [o for o in outcomes if o.operation is OperationKind.DELETE
                 and o.status != "skipped"]
    done = [o for o in deletions if o.status == "completed"]
    errors = sum(o.status == "failed" for o in deletions)
    summary: dict[str, int] = {}
    for outcome in done:
        key = f"{outcome.target_system}_deletions"
        summary[key] = summary.get(key, 0) + 1
    reenabled = [o for o in outcomes if o.operation is OperationKind.CREATE
                 and o.status == "completed"]
    return {
        "detected_deletions": len(deletions),
        "processed_deletions": len(done),
        "success_rate": f"{round(100 * len(done) / len(deletions)) if deletions else 100}%",
        "systems_affected": sorted({o.target_system for o in done}
                                   | {o.source_system for o in done}),
        "bridge_operations": [o.as_dict() for o in outcomes if o.status != "skipped"],
        "cancelled_events": [o.as_dict() for o in done],
        "reenabled_events": [o.as_dict() for o in reenabled],
        "held": sum(o.status == "held" for o in outcomes),
        "summary": {**summary, "errors": errors},
    }


def sync_deletions(container: Container) -> dict:
    """Complete listings of both sides of every mapping: deletions, cancellations and
    re-enables found there are applied (`POST /bridges/sync-deletions`, the timer)."""
    engine = SyncEngine(container)
    outcomes: list[Outcome] = []
    for mapping in _mappings(container):
        for source in (Side.BOOKING, Side.CALENDAR):
            if allowed(mapping, source):
                outcomes += engine.run(mapping, source, full=True, only=_deletion_related)
    return deletion_report(outcomes)


def process_deletion_queue(container: Container) -> dict:
    """Retry deletions that are still owed: pending or failed links whose source event
    is gone or cancelled (`POST /bridges/process-deletion-queue`)."""
    engine = SyncEngine(container)
    outcomes: list[Outcome] = []
    for mapping, side, link in list(due_links(container)):
        sides = engine.sides(mapping)
        try:
            event = sides.bridges[side].get_event(sides.calendar(side), link.side_id(side) or "")
            if event is None or event.status is EventStatus.CANCELLED:
                outcomes.append(engine.sync_event(mapping, side, link.side_id(side) or "",
                                                  "queued deletion"))
        except CalbridgeError as exc:
            outcomes.append(Outcome(OperationKind.DELETE, "failed", "queued deletion",
                                    sides.system(side), mapping.calendar_system,
                                    link.side_id(side) or "", link_id=link.id,
                                    mapping_id=mapping.id, error=exc.message))
    return deletion_report(outcomes)


def cleanup_orphaned(container: Container) -> dict:
    """Remove links whose events are gone on both sides (`DELETE /bridge/cleanup-orphaned`)."""
    container.storage.ensure()
    engine = SyncEngine(container)
    mappings = {m.id: m for m in container.storage.mappings.list()}
    removed, kept_errors = [], 0
    for link in container.storage.links.list():
        if link.status is SyncStatus.SYNCED:
            continue
        mapping = mappings.get(link.mapping_id)
        try:
            gone = mapping is None or all(_gone(engine, mapping, side, link.side_id(side))
                                          for side in Side)
        except CalbridgeError:
            kept_errors += 1
            continue
        if gone:
            container.storage.links.delete(link)
            removed.append({"bridge_mapping_id": link.id, "resource_mapping_id": link.mapping_id,
                            "status": link.status.value, "title": link.title,
                            "reason": "mapping removed" if mapping is None
                            else "gone on both sides"})
    return {"removed": len(removed), "removed_links": removed, "unchecked": kept_errors}


def _gone(engine: SyncEngine, mapping: ResourceMapping, side: Side, event_id: str | None) -> bool:
    if event_id is None:
        return True
    sides = engine.sides(mapping)
    try:
        event = sides.bridges[side].get_event(sides.calendar(side), event_id)
    except NotFound:
        return True
    return event is None or event.status is EventStatus.CANCELLED

