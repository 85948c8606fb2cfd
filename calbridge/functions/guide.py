"""The usage guide's `/sync/*`, `/booking/*`, `/cancel/*` endpoints, automation and
deletion statistics — each a view of the engine's state or a run of it."""

from __future__ import annotations

from typing import Any

import azure.functions as func

from calbridge.bootstrap import Container
from calbridge.functions.answers import (
    CancelledReservations,
    CleanupDone,
    GuideRunDone,
    ImportsDone,
    ItemDone,
    PendingImports,
    PendingItems,
    PopulateDone,
    ProcessedImports,
    Statistics,
    UnlinkedEvents,
)
from calbridge.functions.callers import BOOKING_SYSTEM_AND_OPERATOR
from calbridge.functions.contract import Reply, api, ok
from calbridge.functions.http import refused_input
from calbridge.functions.results import guide_results, import_results
from calbridge.services import guide
from calbridge.services.sync import cleanup_orphaned

bp = func.Blueprint()
# The guide's endpoints name their calendar system: these run over the booking mappings
# whose calendar end is on a bridge of this type.
OUTLOOK = "outlook"
# A booking whose calendar refuses its id is the request's fault (422); a booking still
# active when cancelled, 409.
ITEM_ERRORS = (409, 422, 502)
# The usage guide's hook: `/sync/item/{$reservationType}/{$reservationId}/{$resourceId}`.
ITEM_EXAMPLE = {"item_type": "event", "item_id": "42", "resource_id": "room_123"}


def _item_results(route: dict[str, str], report: guide.GuideReport) -> dict[str, Any]:
    return {"item_type": route["item_type"], "item_id": route["item_id"],
            "resource_id": route["resource_id"], **guide_results(report)}


@bp.route(route="sync/to-outlook", methods=["POST"])
@api(answers={200: GuideRunDone})
def sync_bookings_to_outlook(req: func.HttpRequest, c: Container) -> Reply:
    """Sync every booking mapping's bookings to its Outlook calendar."""
    return ok(message="Sync completed", results=guide_results(guide.sync_to_calendar(c, OUTLOOK)))


@bp.route(route="sync/from-outlook", methods=["POST"])
@api(answers={200: GuideRunDone})
def sync_outlook_to_bookings(req: func.HttpRequest, c: Container) -> Reply:
    """Import changes from the Outlook calendars of booking mappings."""
    return ok(message="Outlook events imported",
              results=guide_results(guide.sync_from_calendar(c, OUTLOOK)))


@bp.route(route="sync/pending-items", methods=["GET"])
@api(answers={200: PendingItems})
def list_pending_items(req: func.HttpRequest, c: Container) -> Reply:
    """Bookings not yet (or not correctly) in their Outlook calendar."""
    pending = guide.pending_items(c, OUTLOOK)
    return ok(pending_items=pending["items"], count=len(pending["items"]),
              failed_mappings=pending["failed_mappings"])


@bp.route(route="sync/outlook-events", methods=["GET"])
@api(answers={200: UnlinkedEvents})
def list_unlinked_outlook_events(req: func.HttpRequest, c: Container) -> Reply:
    """Outlook events in the sync window that no link holds: what `/sync/from-outlook` imports."""
    found = guide.unlinked_calendar_events(c, OUTLOOK)
    return ok(events=found["events"], count=len(found["events"]),
              failed_mappings=found["failed_mappings"])


@bp.route(route="sync/populate-mapping", methods=["POST"])
@api(answers={200: PopulateDone})
def populate_mapping(req: func.HttpRequest, c: Container) -> Reply:
    """Plan the links `/sync/to-outlook` would write, writing nothing."""
    return ok(message="Mapping populated (planned; /sync/to-outlook writes it)",
              results=guide.populate_mapping(c, OUTLOOK))


@bp.route(route="sync/item/{item_type}/{item_id}/{resource_id}", methods=["POST"])
# What a booking system calls (usage guide), with its own key.
@api(callers=BOOKING_SYSTEM_AND_OPERATOR, answers={200: ItemDone}, errors=ITEM_ERRORS,
     path_examples=ITEM_EXAMPLE)
def sync_one_item(req: func.HttpRequest, c: Container) -> Reply:
    """Sync one booking now: what a booking system calls after it creates or changes
    one."""
    p = req.route_params
    with refused_input(item_id=p["item_id"], resource_id=p["resource_id"]):
        report = guide.sync_item(c, p["item_id"], p["resource_id"], "item sync")
    return ok(message="Sync completed", results=_item_results(p, report))


@bp.route(route="sync/stats", methods=["GET"])
@api(answers={200: Statistics})
def show_sync_stats(req: func.HttpRequest, c: Container) -> Reply:
    """Links by status and item type, and operations by kind (`summary.pending`,
    `summary.error`)."""
    return ok(statistics=guide.sync_stats(c))


@bp.route(route="sync/cleanup-orphaned", methods=["DELETE"])
@api(answers={200: CleanupDone})
def cleanup_orphaned_items(req: func.HttpRequest, c: Container) -> Reply:
    """Remove links whose events are gone at both ends."""
    return ok(message="Orphaned mappings cleaned up", results=cleanup_orphaned(c))


@bp.route(route="booking/pending-imports", methods=["GET"])
@api(answers={200: PendingImports})
def list_pending_imports(req: func.HttpRequest, c: Container) -> Reply:
    """Calendar-born links whose booking is not (correctly) made yet."""
    items = guide.pending_imports(c)
    return ok(pending_imports=items, count=len(items))


@bp.route(route="booking/process-imports", methods=["POST"])
@api(answers={200: ImportsDone})
def process_imports(req: func.HttpRequest, c: Container) -> Reply:
    """Make bookings of the calendar events waiting for import."""
    return ok(message="Import processing completed",
              results=import_results(guide.process_imports(c, OUTLOOK)))


@bp.route(route="booking/processed-imports", methods=["GET"])
@api(answers={200: ProcessedImports})
def list_processed_imports(req: func.HttpRequest, c: Container) -> Reply:
    """Calendar-born links whose booking is made."""
    items = guide.processed_imports(c)
    return ok(processed_imports=items, count=len(items))


@bp.route(route="booking/processing-stats", methods=["GET"])
@api(answers={200: Statistics})
def show_processing_stats(req: func.HttpRequest, c: Container) -> Reply:
    """Calendar-born links by status, and writes into the booking system by outcome."""
    return ok(statistics=guide.processing_stats(c))


@bp.route(route="cancel/booking/{item_type}/{item_id}/{resource_id}", methods=["POST"])
# What a booking system calls (usage guide), with its own key.
@api(callers=BOOKING_SYSTEM_AND_OPERATOR, answers={200: ItemDone}, errors=ITEM_ERRORS,
     path_examples=ITEM_EXAMPLE)
def cancel_booking(req: func.HttpRequest, c: Container) -> Reply:
    """Carry one booking's cancellation to its calendar now: what a booking system calls
    after it cancels one."""
    p = req.route_params
    with refused_input(item_id=p["item_id"], resource_id=p["resource_id"]):
        report = guide.sync_item(c, p["item_id"], p["resource_id"], "cancellation",
                                 cancellation=True)
    return ok(message="Cancellation processed", results=_item_results(p, report))


@bp.route(route="cancel/stats", methods=["GET"])
@api(answers={200: Statistics})
def show_cancellation_stats(req: func.HttpRequest, c: Container) -> Reply:
    """Cancellations done, owed and held."""
    return ok(statistics=guide.deletion_stats(c))


@bp.route(route="cancel/cancelled-reservations", methods=["GET"])
@api(answers={200: CancelledReservations})
def list_cancelled_reservations(req: func.HttpRequest, c: Container) -> Reply:
    """Links cancelled or deleted: bookings cancelled and their calendar events removed."""
    items = guide.cancelled_reservations(c)
    return ok(cancelled_reservations=items, count=len(items))


@bp.route(route="bridge/automation-stats", methods=["GET"])
@api(answers={200: Statistics})
def show_automation_stats(req: func.HttpRequest, c: Container) -> Reply:
    """Schedules, queues, push subscriptions and polling."""
    return ok(statistics=guide.automation_stats(c))


@bp.route(route="bridges/sync-deletions-stats", methods=["GET"])
@api(answers={200: Statistics})
def show_deletion_stats(req: func.HttpRequest, c: Container) -> Reply:
    """Cancellations done, owed and held."""
    return ok(statistics=guide.deletion_stats(c))


# The guide spells it this way in two places; both spellings answer.
@bp.route(route="bridges/sync-deletionsion-stats", methods=["GET"])
@api(answers={200: Statistics})
def show_deletion_stats_as_spelled_in_the_guide(req: func.HttpRequest, c: Container
                                                ) -> Reply:
    """`/bridges/sync-deletions-stats`, as the usage guide spells it."""
    return ok(statistics=guide.deletion_stats(c))
