"""The usage guide's Outlook-flavoured endpoints (`/sync/*`, `/booking/*`, `/cancel/*`,
automation and deletion statistics), mapped onto the generic engine.

The guide describes a staged flow (populate a mapping table, then sync; import Outlook
events as pending rows, then process them). calbridge's engine does each step in one
go and keeps the state on event links, so these endpoints are views of that state and
runs of the engine in one direction over the booking mappings (a booking system at one
end) whose other end is on a bridge of the type the endpoint names: "to Outlook" runs
from their booking end, "from Outlook" from their calendar end.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from calbridge.bootstrap import Container
from calbridge.errors import CalbridgeError, NotFound, StateConflict, ValidationFailed
from calbridge.model import (
    End,
    EventLink,
    EventStatus,
    HoldStatus,
    OperationKind,
    ResourceMapping,
    SyncStatus,
    utcnow,
)
from calbridge.services import mappings as mapping_state
from calbridge.services import polling, subscriptions, webhooks
from calbridge.services.sync import (
    MappingRuns,
    RunReport,
    due_links,
    each_mapping,
    process_pending,
    request_deadline,
    within_budget,
)
from calbridge.store.queues import NOTIFICATIONS, QUEUES, poison_queue_name
from calbridge.sync.engine import SyncEngine
from calbridge.sync.outcome import Outcome, OutcomeStatus

NOT_IN_STEP = (SyncStatus.PENDING, SyncStatus.ERROR, SyncStatus.CONFLICT)
T = TypeVar("T")


class Role(StrEnum):
    """The guide's two roles in a booking mapping: the booking end and the calendar end."""

    BOOKING = "booking"
    CALENDAR = "calendar"


@dataclass(frozen=True)
class BookingMapping:
    """A mapping with a booking system at one end (the guide's `a`) and a calendar at the
    other: which end plays which role."""

    mapping: ResourceMapping
    booking: End

    def end(self, role: Role) -> End:
        return self.booking if role is Role.BOOKING else self.booking.other

    def role(self, end: End) -> Role:
        return Role.BOOKING if end is self.booking else Role.CALENDAR

    @property
    def resource_id(self) -> str:
        return self.mapping.end(self.booking).calendar_id

    @property
    def calendar_id(self) -> str:
        return self.mapping.end(self.booking.other).calendar_id


def booking_mappings(container: Container, calendar_type: str | None = None, *,
                     active: bool = True) -> list[BookingMapping]:
    """Mappings with a booking system at one end and, when `calendar_type` is given, a
    bridge of that type at the other (the guide's "Outlook mappings")."""
    found = []
    for mapping in container.storage.mappings.list(active=True if active else None):
        booking = mapping_state.booking_end(container, mapping)
        if booking is None:
            continue
        bridge = container.bridges.get(mapping.end(booking.other).bridge)
        if bridge is not None and calendar_type in (None, bridge.type_name):
            found.append(BookingMapping(mapping, booking))
    return found


def _each(container: Container, calendar_type: str, source: Role,
          work: Callable[[ResourceMapping, End], Iterable[T]]) -> MappingRuns[T]:
    """`work` for every booking mapping of this calendar type whose direction lets changes
    flow from the `source` role, mapping by mapping (a failing one is reported, the
    others go on)."""
    units = [(b.mapping, b.end(source)) for b in booking_mappings(container, calendar_type)
             if b.mapping.allows(b.end(source))]
    return each_mapping(container, units, work)


def _run_all(container: Container, calendar_type: str, source: Role,
             deadline: float) -> MappingRuns[Outcome]:
    """A sync request's runs: writes not begun by `deadline` go to the `sync-work` queue."""
    engine = SyncEngine.for_container(container)
    return _each(container, calendar_type, source, lambda mapping, end: engine.run(
        mapping, end, deadline=deadline))


def _roles(container: Container) -> dict[str, BookingMapping]:
    return {b.mapping.id: b for b in booking_mappings(container, active=False)}


@dataclass
class GuideReport:
    """A run over booking mappings, and which end of each is its booking end (the guide
    names everything in the booking system's terms)."""

    runs: RunReport
    booking: dict[str, End]


def _report(container: Container, runs: RunReport) -> GuideReport:
    ends = {mapping_id: end for mapping_id, mapping in runs.tried.items()
            if (end := mapping_state.booking_end(container, mapping)) is not None}
    return GuideReport(runs, ends)


def sync_to_calendar(container: Container, calendar_type: str) -> GuideReport:
    """`POST /sync/to-outlook`: bookings → the calendars of every booking mapping of this
    calendar type, then due retries."""
    deadline = request_deadline(container)
    runs = _run_all(container, calendar_type, Role.BOOKING, deadline)
    return _report(container, runs.with_results(
        _retry(container, calendar_type, Role.BOOKING, runs.results, deadline)))


def sync_from_calendar(container: Container, calendar_type: str) -> GuideReport:
    """`POST /sync/from-outlook`: calendars → booking system. New calendar events become
    bookings at once (no separate import stage)."""
    return _report(container, _run_all(container, calendar_type, Role.CALENDAR,
                                       request_deadline(container)))


def _retry(container: Container, calendar_type: str, role: Role,
           tried: list[Outcome], deadline: float) -> list[Outcome]:
    """An operator's re-run retries failed items of one direction at once, except those
    the same request has just tried, within the request's time budget: those not begun
    by then are left to the sync timer (they stay in `/bridge/pending`)."""
    if not within_budget(deadline):
        return []
    roles = {b.mapping.id: b for b in booking_mappings(container, calendar_type)}
    return process_pending(container, manual=True,
                           exclude=frozenset(o.link_id for o in tried if o.link_id),
                           where=lambda mapping, source: mapping.id in roles
                           and source is roles[mapping.id].end(role), deadline=deadline)


def _link_row(link: EventLink, mapping: BookingMapping) -> dict[str, Any]:
    return {
        "bridge_mapping_id": link.id, "resource_mapping_id": link.mapping_id,
        "item_type": link.item_type, "reservation_id": link.event_id(mapping.booking),
        "resource_id": mapping.resource_id,
        "outlook_event_id": link.event_id(mapping.booking.other),
        "calendar_resource_id": mapping.calendar_id,
        "origin": mapping.role(link.origin).value, "sync_status": link.status.value,
        "title": link.title, "starts_at": link.starts_at, "ends_at": link.ends_at,
        "attempts": link.attempts, "last_error": link.last_error,
        "updated_at": link.updated_at,
    }


def _links(container: Container, statuses: tuple[SyncStatus, ...],
           origin: Role | None = None) -> list[dict[str, Any]]:
    """Links of booking mappings with these statuses (born in one role, when given)."""
    roles = _roles(container)
    rows = []
    for status in statuses:
        for link in container.storage.links.list(status=status):
            mapping = roles.get(link.mapping_id)
            if mapping is not None and (origin is None or mapping.role(link.origin) is origin):
                rows.append(_link_row(link, mapping))
    return sorted(rows, key=lambda r: r["updated_at"])


def pending_items(container: Container, calendar_type: str) -> dict[str, Any]:
    """`GET /sync/pending-items`: booking items not yet (or not correctly) in the calendar —
    links pending, failed or in conflict, and what the next `/sync/to-outlook` would
    write from a complete listing of each mapped resource (bookings never synced,
    changes not yet carried over). A mapping that cannot be read is reported."""
    rows = _links(container, NOT_IN_STEP, Role.BOOKING)
    listed = {row["bridge_mapping_id"] for row in rows}
    engine = SyncEngine.for_container(container)
    roles = _roles(container)
    runs = _each(container, calendar_type, Role.BOOKING, lambda mapping, source: [
        (roles[mapping.id], engine.run(mapping, source, full=True, dry_run=True))])
    for mapping, planned in runs.results:
        for outcome in planned:
            if outcome.status is not OutcomeStatus.PLANNED or outcome.link_id in listed:
                continue
            rows.append({
                "bridge_mapping_id": outcome.link_id, "resource_mapping_id": mapping.mapping.id,
                "item_type": "event", "reservation_id": outcome.source_id,
                "resource_id": mapping.resource_id,
                "outlook_event_id": outcome.target_id,
                "calendar_resource_id": mapping.calendar_id,
                "origin": Role.BOOKING.value,
                "sync_status": "unsynced" if outcome.link_id is None else "changed",
                "action": outcome.operation.value, "reason": outcome.reason,
                "title": outcome.title})
    return {"items": rows, "failed_mappings": runs.failed_mappings()}


def unlinked_calendar_events(container: Container, calendar_type: str) -> dict[str, Any]:
    """`GET /sync/outlook-events`: calendar events in the sync window that no link holds
    and calbridge did not write — what the next `/sync/from-outlook` imports — and the
    mappings whose calendar could not be read."""
    window = SyncEngine.for_container(container).window()
    roles = _roles(container)

    def unlinked(mapping: ResourceMapping, source: End) -> Iterator[dict[str, Any]]:
        links = container.storage.links.list(mapping.id)
        linked = {link.event_id(source) for link in links if link.event_id(source)}
        ours = {link.id for link in links}
        bridge = container.bridge(mapping.end(source).bridge)
        for event in bridge.list_events(mapping.end(source).calendar_id, window):
            if event.id in linked or (event.marker and event.marker in ours):
                continue
            yield {"outlook_event_id": event.id, "title": event.title,
                   "start": event.start, "end": event.end,
                   "calendar_resource_id": mapping.end(source).calendar_id,
                   "resource_id": roles[mapping.id].resource_id,
                   "resource_mapping_id": mapping.id}

    runs = _each(container, calendar_type, Role.CALENDAR, unlinked)
    return {"events": runs.results, "failed_mappings": runs.failed_mappings()}


def populate_mapping(container: Container, calendar_type: str) -> dict[str, Any]:
    """`POST /sync/populate-mapping`: what `/sync/to-outlook` would write, planned from a
    complete listing of every mapped booking resource. Nothing is written: the engine
    makes the link of a booking when it syncs it."""
    engine = SyncEngine.for_container(container)
    runs = _each(container, calendar_type, Role.BOOKING, lambda mapping, source: engine.run(
        mapping, source, full=True, dry_run=True))
    planned = [o.as_dict() for o in runs.results if o.status is OutcomeStatus.PLANNED]
    return {"planned": len(planned), "items": planned,
            "already_linked": sum(o.status is OutcomeStatus.SKIPPED for o in runs.results),
            "errors": len(runs.failures), "failed_mappings": runs.failed_mappings()}


def sync_item(container: Container, item_id: str, resource_id: str,
              reason: str, *, cancellation: bool = False) -> GuideReport:
    """`POST /sync/item/...` and `/cancel/booking/...`: one booking's current state to
    every calendar its resource is mapped to. A booking that does not exist (and was
    never synced) is 404, one of another resource 422, and a cancellation of a booking
    that is still active 409."""
    mappings = [b for b in booking_mappings(container) if b.resource_id == resource_id
                and b.mapping.allows(b.booking)
                and b.mapping.end(b.booking).bridge in container.bridges]
    if not mappings:
        raise NotFound(f"resource {resource_id!r} has no active mapping")
    _check_item(container, mappings, item_id, resource_id, cancellation)
    engine = SyncEngine.for_container(container)
    runs = each_mapping(container, [(b.mapping, b.booking) for b in mappings],
                        lambda mapping, source: [engine.sync_event(mapping, source, item_id,
                                                                   reason)])
    return _report(container, runs)


def _check_item(container: Container, mappings: list[BookingMapping], item_id: str,
                resource_id: str, cancellation: bool) -> None:
    """What the booking system's hook says must be true of the booking."""
    first = mappings[0]
    bridge = container.bridge(first.mapping.end(first.booking).bridge)
    event = bridge.get_event(resource_id, item_id)
    if event is not None:
        if cancellation and event.status is not EventStatus.CANCELLED:
            raise StateConflict(
                f"booking {item_id!r} is still active; cancel it in the booking system "
                "first, or use /sync/item to sync its current state")
        return
    if any(container.storage.links.find(b.mapping.id, b.booking, item_id) for b in mappings):
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
    """Calendar-born links whose booking is not (correctly) made yet."""
    return _links(container, NOT_IN_STEP, Role.CALENDAR)


def process_imports(container: Container, calendar_type: str) -> GuideReport:
    """`POST /booking/process-imports`: calendar → booking system again, then due retries
    of calendar-born items."""
    deadline = request_deadline(container)
    runs = _run_all(container, calendar_type, Role.CALENDAR, deadline)
    return _report(container, runs.with_results(
        _retry(container, calendar_type, Role.CALENDAR, runs.results, deadline)))


def processed_imports(container: Container) -> list[dict[str, Any]]:
    return [row for row in _links(container, (SyncStatus.SYNCED,), Role.CALENDAR)
            if row["reservation_id"]]


def processing_stats(container: Container) -> dict[str, Any]:
    """Calendar-born links by status, and writes into the booking systems by outcome."""
    roles = _roles(container)
    by_status: Counter[str] = Counter(
        link.status.value for link in container.storage.links.list()
        if (mapping := roles.get(link.mapping_id)) is not None
        and mapping.role(link.origin) is Role.CALENDAR)
    booking = {name for name, bridge in container.bridges.items()
               if bridge.capabilities.bookings}
    writes: dict[str, dict[str, int]] = {}
    for op in _operations(container):
        if op["target_system"] in booking:
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
