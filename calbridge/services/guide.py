"""The usage guide's Outlook-flavoured endpoints (`/sync/*`, `/booking/*`, `/cancel/*`,
automation and deletion statistics), mapped onto the generic engine.

The guide describes a staged flow (populate a mapping table, then sync; import Outlook
events as pending rows, then process them). calbridge's engine does each step in one
go and keeps the state on event links, so these endpoints are views of that state and
runs of the engine in one direction: "to Outlook" is the booking side of every
mapping whose calendar system is an Outlook bridge, "from Outlook" its calendar side.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any, TypeVar

from calbridge.bootstrap import Container
from calbridge.errors import CalbridgeError, NotFound, StateConflict, ValidationFailed
from calbridge.model import (
    EventLink,
    EventStatus,
    HoldStatus,
    OperationKind,
    ResourceMapping,
    Side,
    SyncStatus,
    utcnow,
)
from calbridge.services import polling, subscriptions, webhooks
from calbridge.services.sync import (
    MappingFailure,
    MappingRuns,
    allowed,
    due_links,
    each_mapping,
    process_pending,
    results_block,
    with_failures,
)
from calbridge.store.queues import NOTIFICATIONS, QUEUES, poison_queue_name
from calbridge.sync.engine import Outcome, SyncEngine

NOT_IN_STEP = (SyncStatus.PENDING, SyncStatus.ERROR, SyncStatus.CONFLICT)
T = TypeVar("T")


def outlook_mappings(container: Container) -> list[ResourceMapping]:
    """Active mappings whose calendar side is an Outlook bridge."""
    container.storage.ensure()
    return [m for m in container.storage.mappings.list(active=True)
            if (bridge := container.bridges.get(m.calendar_system)) is not None
            and bridge.type_name == "outlook" and m.booking_system in container.bridges]


def _each_outlook_mapping(container: Container, source: Side,
                          work: Callable[[ResourceMapping, Side], Iterable[T]]
                          ) -> MappingRuns[T]:
    """`work` for every Outlook mapping whose direction lets changes flow from `source`,
    mapping by mapping (a failing one is reported, the others go on)."""
    return each_mapping(container, [(m, source) for m in outlook_mappings(container)
                                    if allowed(m, source)], work)


def _run_all(container: Container, source: Side) -> MappingRuns[Outcome]:
    engine = SyncEngine(container)
    return _each_outlook_mapping(container, source, engine.run)


def details(container: Container, outcomes: list[Outcome]) -> list[dict[str, Any]]:
    """The guide's `details[]`: one row per write, named in the booking system's terms."""
    mappings = {m.id: m for m in container.storage.mappings.list()}
    rows = []
    for outcome in outcomes:
        if outcome.status == "skipped":
            continue
        mapping = mappings.get(outcome.mapping_id or "")
        to_calendar = mapping is not None and outcome.source_system == mapping.booking_system
        rows.append({
            "item_type": "event",
            "item_id": outcome.source_id if to_calendar else outcome.target_id,
            "resource_id": mapping.booking_system_resource_id if mapping else None,
            "action": {"create": "created", "update": "updated", "delete": "deleted"}.get(
                outcome.operation.value, outcome.operation.value)
            if outcome.status == "completed" else outcome.status,
            "outlook_event_id": outcome.target_id if to_calendar else outcome.source_id,
            "title": outcome.title,
            "error": outcome.error,
        })
    return rows


def sync_to_outlook(container: Container) -> dict[str, Any]:
    """`POST /sync/to-outlook`: bookings → Outlook for every Outlook mapping, then due retries."""
    runs = _run_all(container, Side.BOOKING)
    outcomes = runs.results + _retry(container, Side.BOOKING, runs.results)
    return _results(container, outcomes, runs.failures)


def sync_from_outlook(container: Container) -> dict[str, Any]:
    """`POST /sync/from-outlook`: Outlook → booking system for every Outlook mapping. New
    Outlook events become bookings at once (no separate import stage)."""
    runs = _run_all(container, Side.CALENDAR)
    return _results(container, runs.results, runs.failures)


def _results(container: Container, outcomes: list[Outcome],
             failures: list[MappingFailure]) -> dict[str, Any]:
    return {**results_block(outcomes, failures),
            "details": details(container, with_failures(outcomes, failures))}


def _retry(container: Container, side: Side, tried: list[Outcome]) -> list[Outcome]:
    """An operator's re-run retries failed items of one direction at once, except those
    the same request has just tried."""
    outlook = {m.id for m in outlook_mappings(container)}
    return process_pending(container, manual=True,
                           exclude=frozenset(o.link_id for o in tried if o.link_id),
                           where=lambda mapping, source: mapping.id in outlook
                           and source is side)


def _link_row(link: EventLink, mappings: dict[str, ResourceMapping]) -> dict[str, Any]:
    mapping = mappings.get(link.mapping_id)
    return {
        "bridge_mapping_id": link.id, "resource_mapping_id": link.mapping_id,
        "item_type": link.item_type, "reservation_id": link.booking_id,
        "resource_id": mapping.booking_system_resource_id if mapping else None,
        "outlook_event_id": link.calendar_event_id,
        "calendar_resource_id": mapping.calendar_resource_id if mapping else None,
        "origin": link.origin.value, "sync_status": link.status.value, "title": link.title,
        "starts_at": link.starts_at, "ends_at": link.ends_at, "attempts": link.attempts,
        "last_error": link.last_error, "updated_at": link.updated_at,
    }


def _links(container: Container, statuses: tuple[SyncStatus, ...],
           origin: Side | None = None) -> list[dict[str, Any]]:
    container.storage.ensure()
    mappings = {m.id: m for m in container.storage.mappings.list()}
    rows = []
    for status in statuses:
        for link in container.storage.links.list(status=status):
            if origin is None or link.origin is origin:
                rows.append(_link_row(link, mappings))
    return sorted(rows, key=lambda r: r["updated_at"])


def pending_items(container: Container) -> dict[str, Any]:
    """`GET /sync/pending-items`: booking items not yet (or not correctly) in Outlook —
    links pending, failed or in conflict, and what the next `/sync/to-outlook` would
    write from a complete listing of each mapped resource (bookings never synced,
    changes not yet carried over). A mapping that cannot be read is reported."""
    rows = _links(container, NOT_IN_STEP, Side.BOOKING)
    listed = {row["bridge_mapping_id"] for row in rows}
    engine = SyncEngine(container)
    runs = _each_outlook_mapping(container, Side.BOOKING, lambda mapping, source: [
        (mapping, engine.run(mapping, source, full=True, dry_run=True))])
    for mapping, planned in runs.results:
        for outcome in planned:
            if outcome.status != "planned" or outcome.link_id in listed:
                continue
            rows.append({
                "bridge_mapping_id": outcome.link_id, "resource_mapping_id": mapping.id,
                "item_type": "event", "reservation_id": outcome.source_id,
                "resource_id": mapping.booking_system_resource_id,
                "outlook_event_id": outcome.target_id,
                "calendar_resource_id": mapping.calendar_resource_id,
                "origin": Side.BOOKING.value,
                "sync_status": "unsynced" if outcome.link_id is None else "changed",
                "action": outcome.operation.value, "reason": outcome.reason,
                "title": outcome.title})
    return {"items": rows, "failed_mappings": runs.failed_mappings()}


def unlinked_outlook_events(container: Container) -> dict[str, Any]:
    """`GET /sync/outlook-events`: Outlook events in the sync window that no link holds and
    calbridge did not write — what the next `/sync/from-outlook` imports — and the
    mappings whose calendar could not be read."""
    window = SyncEngine(container).window()

    def unlinked(mapping: ResourceMapping, side: Side) -> Iterator[dict[str, Any]]:
        links = container.storage.links.list(mapping.id)
        linked = {link.calendar_event_id for link in links if link.calendar_event_id}
        ours = {link.id for link in links}
        bridge = container.bridge(mapping.calendar_system)
        for event in bridge.list_events(mapping.calendar_resource_id, window):
            if event.id in linked or (event.marker and event.marker in ours):
                continue
            yield {"outlook_event_id": event.id, "title": event.title,
                   "start": event.start, "end": event.end,
                   "calendar_resource_id": mapping.calendar_resource_id,
                   "resource_id": mapping.booking_system_resource_id,
                   "resource_mapping_id": mapping.id}

    runs = _each_outlook_mapping(container, Side.CALENDAR, unlinked)
    return {"events": runs.results, "failed_mappings": runs.failed_mappings()}


def populate_mapping(container: Container) -> dict[str, Any]:
    """`POST /sync/populate-mapping`: what `/sync/to-outlook` would write, planned from a
    complete listing of every mapped booking resource. Nothing is written: the engine
    makes the link of a booking when it syncs it."""
    engine = SyncEngine(container)
    runs = _each_outlook_mapping(container, Side.BOOKING, lambda mapping, source: engine.run(
        mapping, source, full=True, dry_run=True))
    planned = [o.as_dict() for o in runs.results if o.status == "planned"]
    return {"planned": len(planned), "items": planned,
            "already_linked": sum(o.status == "skipped" for o in runs.results),
            "errors": len(runs.failures), "failed_mappings": runs.failed_mappings()}


def sync_item(container: Container, item_type: str, item_id: str, resource_id: str,
              reason: str, *, cancellation: bool = False) -> dict[str, Any]:
    """`POST /sync/item/...` and `/cancel/booking/...`: one booking's current state to
    every calendar its resource is mapped to. A booking that does not exist (and was
    never synced) is 404, one of another resource 422, and a cancellation of a booking
    that is still active 409."""
    container.storage.ensure()
    mappings = [m for m in container.storage.mappings.list(active=True,
                                                           booking_resource_id=resource_id)
                if m.calendar_system in container.bridges
                and m.booking_system in container.bridges and allowed(m, Side.BOOKING)]
    if not mappings:
        raise NotFound(f"resource {resource_id!r} has no active mapping")
    _check_item(container, mappings, item_id, resource_id, cancellation)
    engine = SyncEngine(container)
    runs = each_mapping(container, [(m, Side.BOOKING) for m in mappings],
                        lambda mapping, source: [engine.sync_event(mapping, source, item_id,
                                                                   reason)])
    return {"item_type": item_type, "item_id": item_id, "resource_id": resource_id,
            **_results(container, runs.results, runs.failures)}


def _check_item(container: Container, mappings: list[ResourceMapping], item_id: str,
                resource_id: str, cancellation: bool) -> None:
    """What the booking system's hook says must be true of the booking."""
    bridge = container.bridge(mappings[0].booking_system)
    event = bridge.get_event(resource_id, item_id)
    if event is not None:
        if cancellation and event.status is not EventStatus.CANCELLED:
            raise StateConflict(
                f"booking {item_id!r} is still active; cancel it in the booking system "
                "first, or use /sync/item to sync its current state")
        return
    if any(container.storage.links.find(m.id, Side.BOOKING, item_id) for m in mappings):
        return  # it was synced from this resource: its deletion follows
    try:
        elsewhere = bridge.calendar_of(item_id)
    except NotImplementedError:
        elsewhere = None
    if elsewhere is not None and elsewhere != resource_id:
        raise ValidationFailed(
            f"booking {item_id!r} belongs to resource {elsewhere!r}, not {resource_id!r}",
            details={"fields": [{"field": "resource_id",
                                 "message": f"booking is of resource {elsewhere!r}"}]})
    raise NotFound(f"booking {item_id!r} does not exist in resource {resource_id!r}")


def sync_stats(container: Container) -> dict[str, Any]:
    """`GET /sync/stats` (`.statistics.summary.pending`, `.statistics.summary.error`)."""
    from calbridge.services.stats import bridge_stats

    return bridge_stats(container)


# ------------------------------------------------------------------ imports


def pending_imports(container: Container) -> list[dict[str, Any]]:
    """Outlook-born links whose booking is not (correctly) made yet."""
    return _links(container, NOT_IN_STEP, Side.CALENDAR)


def process_imports(container: Container) -> dict[str, Any]:
    """`POST /booking/process-imports`: Outlook → booking system again, then due retries of
    Outlook-born items."""
    runs = _run_all(container, Side.CALENDAR)
    outcomes = runs.results + _retry(container, Side.CALENDAR, runs.results)
    block = results_block(outcomes, runs.failures)
    block["reservation_ids"] = [o.target_id for o in outcomes if o.status == "completed"
                                and o.operation is OperationKind.CREATE and o.target_id]
    return block


def processed_imports(container: Container) -> list[dict[str, Any]]:
    return [row for row in _links(container, (SyncStatus.SYNCED,), Side.CALENDAR)
            if row["reservation_id"]]


def processing_stats(container: Container) -> dict[str, Any]:
    """Outlook-born links by status, and writes into the booking system by outcome."""
    container.storage.ensure()
    by_status: Counter[str] = Counter(
        link.status.value for link in container.storage.links.list()
        if link.origin is Side.CALENDAR)
    booking = container.settings.booking_bridge
    writes: dict[str, dict[str, int]] = {}
    for op in _operations(container):
        if op["target_system"] == booking:
            writes.setdefault(op["operation"], Counter())[op["status"]] += 1
    return {"imports": {status.value: by_status[status.value] for status in SyncStatus},
            "total_imports": sum(by_status.values()),
            "booking_system_writes": {k: dict(v) for k, v in writes.items()}}


def _operations(container: Container, limit: int = 5000) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    token = None
    while len(rows) < limit:
        page, token = container.storage.operations.page(limit=500, continuation=token)
        rows += [op.model_dump(mode="json") for op in page]
        if not token:
            break
    return rows


# ------------------------------------------------------------------ cancellations


def cancelled_reservations(container: Container) -> list[dict[str, Any]]:
    return _links(container, (SyncStatus.CANCELLED, SyncStatus.DELETED))


def deletion_stats(container: Container) -> dict[str, Any]:
    """`GET /cancel/stats`, `/bridges/sync-deletions-stats`: cancellations done, owed and held."""
    container.storage.ensure()
    by_status, _ = container.storage.links.counts()
    deletions: dict[str, int] = Counter()
    by_system: dict[str, int] = Counter()
    for op in _operations(container):
        if op["operation"] == OperationKind.DELETE.value:
            deletions[op["status"]] += 1
            if op["status"] == "completed":
                by_system[f"{op['target_system']}_deletions"] += 1
    holds = container.storage.holds.list(HoldStatus.HELD)
    return {
        "cancelled": by_status[SyncStatus.CANCELLED.value],
        "deleted": by_status[SyncStatus.DELETED.value],
        "active_links": sum(by_status.values()) - by_status[SyncStatus.CANCELLED.value]
        - by_status[SyncStatus.DELETED.value],
        "deletion_operations": dict(deletions),
        "by_system": dict(by_system),
        "held_deletions": sum(len(h.link_ids) for h in holds),
        "holds": len(holds),
    }


# ------------------------------------------------------------------ automation


def automation_stats(container: Container, *, now: datetime | None = None) -> dict[str, Any]:
    """`GET /bridge/automation-stats`: schedules, queues, subscriptions and polling."""
    moment = now or utcnow()
    container.storage.ensure()
    settings = container.settings
    queues = {}
    for name in QUEUES:
        for queue in (name, poison_queue_name(name)):
            try:
                queues[queue] = container.storage.queue(queue).depth()
            except CalbridgeError as exc:
                queues[queue] = exc.message
    poll = polling.stats(container, now=moment)
    return {
        "schedules": {"sync": settings.sync_schedule,
                      "deletion_sync": settings.deletion_sync_schedule,
                      "poll": settings.poll_schedule,
                      "subscription_renewal": settings.subscription_renewal_schedule,
                      "reconcile_minutes": settings.reconcile_minutes},
        "queues": queues,
        "notifications_queue": NOTIFICATIONS,
        "subscriptions": subscriptions.summary(container, now=moment),
        "polling": {k: poll[k] for k in ("total", "polling_only", "with_subscription")},
        "webhooks": {"base_url_configured": bool(settings.webhook_base_url),
                     "rejected_notifications": webhooks.rejected_notifications()},
        "retries_due": sum(1 for _ in due_links(container, now=moment)),
    }
