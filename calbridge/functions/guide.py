"""The usage guide's `/sync/*`, `/booking/*`, `/cancel/*` endpoints, automation and
deletion statistics — each a view of the engine's state or a run of it."""

from __future__ import annotations

from typing import Any

import azure.functions as func

from calbridge.bootstrap import Container
from calbridge.functions.callers import BOOKING_SYSTEM_AND_OPERATOR
from calbridge.functions.http import api, ok, refused_input
from calbridge.functions.results import guide_results, import_results
from calbridge.services import guide
from calbridge.services.sync import cleanup_orphaned

bp = func.Blueprint()
# The guide's endpoints name their calendar system: these run over the booking mappings
# whose calendar end is on a bridge of this type.
OUTLOOK = "outlook"


def _item_results(route: dict[str, str], report: guide.GuideReport) -> dict[str, Any]:
    return {"item_type": route["item_type"], "item_id": route["item_id"],
            "resource_id": route["resource_id"], **guide_results(report)}


@bp.route(route="sync/to-outlook", methods=["POST"])
@api
def sync_bookings_to_outlook(req: func.HttpRequest, c: Container) -> func.HttpResponse:
    return ok(message="Sync completed", results=guide_results(guide.sync_to_calendar(c, OUTLOOK)))


@bp.route(route="sync/from-outlook", methods=["POST"])
@api
def sync_outlook_to_bookings(req: func.HttpRequest, c: Container) -> func.HttpResponse:
    return ok(message="Outlook events imported",
              results=guide_results(guide.sync_from_calendar(c, OUTLOOK)))


@bp.route(route="sync/pending-items", methods=["GET"])
@api
def list_pending_items(req: func.HttpRequest, c: Container) -> func.HttpResponse:
    pending = guide.pending_items(c, OUTLOOK)
    return ok(pending_items=pending["items"], count=len(pending["items"]),
              failed_mappings=pending["failed_mappings"])


@bp.route(route="sync/outlook-events", methods=["GET"])
@api
def list_unlinked_outlook_events(req: func.HttpRequest, c: Container) -> func.HttpResponse:
    found = guide.unlinked_calendar_events(c, OUTLOOK)
    return ok(events=found["events"], count=len(found["events"]),
              failed_mappings=found["failed_mappings"])


@bp.route(route="sync/populate-mapping", methods=["POST"])
@api
def populate_mapping(req: func.HttpRequest, c: Container) -> func.HttpResponse:
    return ok(message="Mapping populated (planned; /sync/to-outlook writes it)",
              results=guide.populate_mapping(c, OUTLOOK))


@bp.route(route="sync/item/{item_type}/{item_id}/{resource_id}", methods=["POST"])
@api(callers=BOOKING_SYSTEM_AND_OPERATOR)  # what a booking system calls (usage guide)
def sync_one_item(req: func.HttpRequest, c: Container) -> func.HttpResponse:
    p = req.route_params
    with refused_input(item_id=p["item_id"], resource_id=p["resource_id"]):
        report = guide.sync_item(c, p["item_id"], p["resource_id"], "item sync")
    return ok(message="Sync completed", results=_item_results(p, report))


@bp.route(route="sync/stats", methods=["GET"])
@api
def show_sync_stats(req: func.HttpRequest, c: Container) -> func.HttpResponse:
    return ok(statistics=guide.sync_stats(c))


@bp.route(route="sync/cleanup-orphaned", methods=["DELETE"])
@api
def cleanup_orphaned_items(req: func.HttpRequest, c: Container) -> func.HttpResponse:
    return ok(message="Orphaned mappings cleaned up", results=cleanup_orphaned(c))


@bp.route(route="booking/pending-imports", methods=["GET"])
@api
def list_pending_imports(req: func.HttpRequest, c: Container) -> func.HttpResponse:
    items = guide.pending_imports(c)
    return ok(pending_imports=items, count=len(items))


@bp.route(route="booking/process-imports", methods=["POST"])
@api
def process_imports(req: func.HttpRequest, c: Container) -> func.HttpResponse:
    return ok(message="Import processing completed",
              results=import_results(guide.process_imports(c, OUTLOOK)))


@bp.route(route="booking/processed-imports", methods=["GET"])
@api
def list_processed_imports(req: func.HttpRequest, c: Container) -> func.HttpResponse:
    items = guide.processed_imports(c)
    return ok(processed_imports=items, count=len(items))


@bp.route(route="booking/processing-stats", methods=["GET"])
@api
def show_processing_stats(req: func.HttpRequest, c: Container) -> func.HttpResponse:
    return ok(statistics=guide.processing_stats(c))


@bp.route(route="cancel/booking/{item_type}/{item_id}/{resource_id}", methods=["POST"])
@api(callers=BOOKING_SYSTEM_AND_OPERATOR)  # what a booking system calls (usage guide)
def cancel_booking(req: func.HttpRequest, c: Container) -> func.HttpResponse:
    p = req.route_params
    with refused_input(item_id=p["item_id"], resource_id=p["resource_id"]):
        report = guide.sync_item(c, p["item_id"], p["resource_id"], "cancellation",
                                 cancellation=True)
    return ok(message="Cancellation processed", results=_item_results(p, report))


@bp.route(route="cancel/stats", methods=["GET"])
@api
def show_cancellation_stats(req: func.HttpRequest, c: Container) -> func.HttpResponse:
    return ok(statistics=guide.deletion_stats(c))


@bp.route(route="cancel/cancelled-reservations", methods=["GET"])
@api
def list_cancelled_reservations(req: func.HttpRequest, c: Container) -> func.HttpResponse:
    items = guide.cancelled_reservations(c)
    return ok(cancelled_reservations=items, count=len(items))


@bp.route(route="bridge/automation-stats", methods=["GET"])
@api
def show_automation_stats(req: func.HttpRequest, c: Container) -> func.HttpResponse:
    return ok(statistics=guide.automation_stats(c))


@bp.route(route="bridges/sync-deletions-stats", methods=["GET"])
@api
def show_deletion_stats(req: func.HttpRequest, c: Container) -> func.HttpResponse:
    return ok(statistics=guide.deletion_stats(c))


# The guide spells it this way in two places; both spellings answer.
@bp.route(route="bridges/sync-deletionsion-stats", methods=["GET"])
@api
def show_deletion_stats_as_spelled_in_the_guide(req: func.HttpRequest, c: Container
                                                ) -> func.HttpResponse:
    return ok(statistics=guide.deletion_stats(c))
