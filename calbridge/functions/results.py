"""The usage guide's answers for sync runs: its results block, its deletion results and
its `details[]`, shaped from what the services return (outcomes and failed mappings)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from calbridge.model import OperationKind, ResourceMapping
from calbridge.services.guide import GuideReport
from calbridge.services.polling import InitReport, PollReport
from calbridge.services.sync import MappingFailure, RunReport
from calbridge.store.queues import SYNC_WORK
from calbridge.sync.outcome import Outcome, OutcomeStatus


def success_rate(done: int, attempted: int, waiting: int = 0) -> str | None:
    """The guide's success rate; None when nothing was attempted because everything
    waits (a run that did nothing is not "100%" of anything)."""
    if attempted:
        return f"{round(100 * done / attempted)}%"
    return None if waiting else "100%"


def with_failures(outcomes: list[Outcome], failures: Iterable[MappingFailure]) -> list[Outcome]:
    """Outcomes plus a failed row for each failed mapping."""
    return [*outcomes, *(failure.outcome() for failure in failures)]


def _written(report: RunReport) -> list[Outcome]:
    """A run's rows that did or tried something (skipped ones left out), a failed row for
    each failed mapping among them."""
    return [outcome for outcome in with_failures(report.results, report.failures)
            if outcome.status is not OutcomeStatus.SKIPPED]


def progress(queued: int) -> dict[str, str] | None:
    """Where work queued by a request goes on after the answer: the queue, its depth, and
    each operation logged as it completes."""
    if not queued:
        return None
    return {"queue": SYNC_WORK, "depth": "/bridge/automation-stats",
            "completed": "/bridge/completed"}


# Rows of `operations[]` an answer carries at most: a run of 10,000 events would otherwise
# answer with megabytes of rows (and hold them twice while it does). The operations log
# (`/bridge/completed`) has every write and failure.
OPERATIONS_SHOWN = 1000
# Rows an operator has to look at, shown first when there are too many; rows that
# changed nothing (skipped) are shown last.
_ATTENTION = (OutcomeStatus.FAILED, OutcomeStatus.CONFLICT, OutcomeStatus.HELD,
              OutcomeStatus.WAITING)


def _rank(outcome: Outcome) -> int:
    if outcome.status in _ATTENTION:
        return 0
    return 2 if outcome.status is OutcomeStatus.SKIPPED else 1


def shown(outcomes: list[Outcome], limit: int = OPERATIONS_SHOWN) -> list[Outcome]:
    """At most `limit` outcomes, in their order: those that need attention (failed, in
    conflict, held, waiting) before those that wrote or were queued or planned, and those
    before the ones that changed nothing."""
    if len(outcomes) <= limit:
        return outcomes
    picked = sorted(range(len(outcomes)), key=lambda n: _rank(outcomes[n]))[:limit]
    return [outcomes[n] for n in sorted(picked)]


def results_block(outcomes: list[Outcome],
                  failures: Iterable[MappingFailure] = ()) -> dict[str, Any]:
    """The guide's results block for a list of outcomes; each failed mapping counts as an
    error and is named in `failed_mappings`."""
    failures = list(failures)
    outcomes = with_failures(outcomes, failures)
    done = [o for o in outcomes if o.status is OutcomeStatus.COMPLETED]
    kinds = Counter(o.operation for o in done)
    failed = sum(o.status is OutcomeStatus.FAILED for o in outcomes)
    waiting = [o for o in outcomes if o.status is OutcomeStatus.WAITING]
    queued = sum(o.status is OutcomeStatus.QUEUED for o in outcomes)
    rows = shown(outcomes)
    return {
        "processed": sum(o.status not in (OutcomeStatus.SKIPPED, OutcomeStatus.WAITING)
                         for o in outcomes),
        "successful": len(done),
        "created": kinds[OperationKind.CREATE],
        "updated": kinds[OperationKind.UPDATE],
        "deleted": kinds[OperationKind.DELETE],
        "skipped": sum(o.status is OutcomeStatus.SKIPPED for o in outcomes),
        "errors": failed,
        # Waiting for an operator, or decided by the mapping's policy (its loser logged).
        "conflicts": sum(o.status is OutcomeStatus.CONFLICT or o.conflict is not None
                         for o in outcomes),
        "queued": queued,
        "progress": progress(queued),
        "held": sum(o.status is OutcomeStatus.HELD for o in outcomes),
        "planned": sum(o.status is OutcomeStatus.PLANNED for o in outcomes),
        "waiting": len(waiting),
        "next_attempt_at": min((o.next_attempt_at for o in waiting if o.next_attempt_at),
                               default=None),
        "success_rate": success_rate(len(done), len(done) + failed, len(waiting)),
        "failed_mappings": [failure.as_dict() for failure in failures],
        "operations": [o.as_dict() for o in rows],
        "operations_omitted": len(outcomes) - len(rows),
    }


def run_results(report: RunReport) -> dict[str, Any]:
    """A run's results block."""
    return results_block(report.results, report.failures)


def _booking_row(outcome: Outcome, mapping: ResourceMapping | None, active: int
                 ) -> dict[str, Any]:
    """The guide's `{id, active, resource_id, mapping_id}` for one cancelled or re-enabled
    pair: the id and calendar at end `a` (the guide's booking and resource), and the id of
    the link (the guide's mapping)."""
    return {"id": outcome.internal_id, "active": active,
            "resource_id": mapping.a.calendar_id if mapping else None,
            "mapping_id": outcome.link_id,
            "resource_mapping_id": outcome.mapping_id,
            "calendar_event_id": outcome.external_id,
            "title": outcome.title}


def deletion_results(report: RunReport, bridges: Iterable[str]) -> dict[str, Any]:
    """The guide's deletion results: both its `/bridges/sync-deletions` shape (`detected`,
    `cancelled_events`, `<bridge>_deletions`, `pending_resets`) and its
    `/bridges/process-deletion-queue` shape (`detected_deletions`, `bridge_operations`,
    `summary`). Every count is present, zeros included for each of `bridges`; each failed
    mapping counts as an error and is named in `failed_mappings`. Each list holds at most
    `OPERATIONS_SHOWN` rows (`bridge_operations` those needing attention first), its
    `*_omitted` count the rest."""
    outcomes, failures = report.results, report.failures
    deletions = [o for o in outcomes if o.operation is OperationKind.DELETE
                 and o.status is not OutcomeStatus.SKIPPED]
    done = [o for o in deletions if o.status is OutcomeStatus.COMPLETED]
    errors = sum(o.status is OutcomeStatus.FAILED for o in deletions) + len(failures)
    reenabled = [o for o in outcomes if o.operation is OperationKind.CREATE
                 and o.status is OutcomeStatus.COMPLETED]
    queued = sum(o.status is OutcomeStatus.QUEUED for o in deletions)
    per_bridge = Counter(o.target_system for o in done)
    counts = {f"{name}_deletions": per_bridge[name] for name in bridges}
    counts.update({f"{name}_deletions": n for name, n in per_bridge.items()})
    mappings: Mapping[str, ResourceMapping] = report.tried
    cancelled, restored = done[:OPERATIONS_SHOWN], reenabled[:OPERATIONS_SHOWN]
    operations = _written(report)
    listed = shown(operations)
    return {
        "detected": len(deletions) + len(reenabled),
        "processed": len(done) + len(reenabled),
        "success_rate": success_rate(len(done), len(done) + errors),
        "cancelled_events": [_booking_row(o, mappings.get(o.mapping_id or ""), 0)
                             for o in cancelled],
        "cancelled_events_omitted": len(done) - len(cancelled),
        "reenabled_events": [_booking_row(o, mappings.get(o.mapping_id or ""), 1)
                             for o in restored],
        "reenabled_events_omitted": len(reenabled) - len(restored),
        **counts,
        "pending_resets": len(reenabled),
        "errors": errors,
        "held": sum(o.status is OutcomeStatus.HELD for o in outcomes),
        "queued": queued,
        "progress": progress(queued),
        "detected_deletions": len(deletions),
        "processed_deletions": len(done),
        "systems_affected": sorted({o.target_system for o in [*done, *reenabled]}),
        "bridge_operations": [o.as_dict() for o in listed],
        "bridge_operations_omitted": len(operations) - len(listed),
        "failed_mappings": report.failed_mappings(),
        "summary": {**counts, "pending_resets": len(reenabled), "errors": errors},
    }


def details(report: GuideReport) -> tuple[list[dict[str, Any]], int]:
    """The guide's `details[]` — one row per write, named in the booking system's terms,
    at most `OPERATIONS_SHOWN` (failed and waiting ones first) — and how many were left
    out."""
    written = _written(report.runs)
    rows = shown(written)
    return [_detail(report, outcome) for outcome in rows], len(written) - len(rows)


def _detail(report: GuideReport, outcome: Outcome) -> dict[str, Any]:
    mapping_id = outcome.mapping_id or ""
    mapping, booking = report.runs.tried.get(mapping_id), report.booking.get(mapping_id)
    to_calendar = booking is not None and outcome.source is booking
    return {
        "item_type": outcome.item_type,
        "item_id": outcome.source_id if to_calendar else outcome.target_id,
        "resource_id": (mapping.end(booking).calendar_id
                        if mapping is not None and booking is not None else None),
        "action": {"create": "created", "update": "updated", "delete": "deleted"}.get(
            outcome.operation.value, outcome.operation.value)
        if outcome.status is OutcomeStatus.COMPLETED else outcome.status.value,
        "outlook_event_id": outcome.target_id if to_calendar else outcome.source_id,
        "title": outcome.title,
        "error": outcome.error,
    }


def guide_results(report: GuideReport) -> dict[str, Any]:
    """The guide's results block of a booking-mapping run, with its `details[]`."""
    rows, omitted = details(report)
    return {**run_results(report.runs), "details": rows, "details_omitted": omitted}


def import_results(report: GuideReport) -> dict[str, Any]:
    """`/booking/process-imports`: the results block and the bookings made
    (`reservation_ids`)."""
    made = [o.target_id for o in report.runs.results
            if o.status is OutcomeStatus.COMPLETED and o.operation is OperationKind.CREATE
            and o.target_id]
    return {**run_results(report.runs), "reservation_ids": made}


def poll_results(report: PollReport) -> dict[str, Any]:
    polled = [{"bridge": c.bridge, "calendar_id": c.calendar_id, "mapping_id": c.mapping.id}
              for c in report.polled]
    return {"calendars_polled": len(polled), "calendars_skipped": report.skipped,
            "polled": polled, **run_results(report.runs)}


def init_results(report: InitReport) -> dict[str, Any]:
    initialized = [{"bridge": c.bridge, "calendar_id": c.calendar_id,
                    "mapping_id": c.mapping.id, "cursor_stored": stored}
                   for c, stored in report.initialized]
    existing = [{"bridge": c.bridge, "calendar_id": c.calendar_id} for c in report.existing]
    return {"initialized": initialized, "already_initialized": existing,
            "calendars": len(initialized) + len(existing), **run_results(report.runs)}
