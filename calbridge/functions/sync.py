"""Sync: bridge-to-bridge runs, pending work, deletions, clean-up, and the timers and
queue trigger that run the same use cases unattended."""

from __future__ import annotations

import logging

import azure.functions as func

from calbridge.bootstrap import Container, container
from calbridge.functions.answers import (
    BridgeSyncDone,
    CleanupDone,
    CompletedOperations,
    DeletionsDone,
    PendingOperations,
    RunDone,
)
from calbridge.functions.contract import (
    Body,
    QueryFlag,
    QueryNumber,
    QueryText,
    Reply,
    api,
    ok,
)
from calbridge.functions.results import deletion_results, results_block, run_results
from calbridge.model import SyncWork
from calbridge.services import stats, sync
from calbridge.store.queues import SYNC_WORK
from calbridge.sync.outcome import OutcomeStatus

bp = func.Blueprint()
log = logging.getLogger(__name__)
FORCE = QueryFlag("force", "retry failed operations now, before their next attempt is due")
LIMIT = QueryNumber("limit", "operations per page", 50, low=1, high=500)
STATUS = QueryText("status", "only operations with this status (e.g. completed, failed)")
PAGE_TOKEN = QueryText("page_token", "the next_page_token of the previous page")


@bp.route(route="bridges/sync/{source_bridge}/{target_bridge}", methods=["POST"])
@api(answers={200: BridgeSyncDone}, errors=(409,), body=Body(
    sync.SyncRequest, optional=True,
    description="`from_date` and `to_date` go together (the default window otherwise), "
    f"`to_date` after `from_date`, at most {sync.MAX_WINDOW_DAYS} days apart, in years "
    f"{sync.EARLIEST_YEAR}-{sync.LATEST_YEAR}; `resource_ids` limits the run to mappings "
    "with an end on those calendars.",
    examples={"window": {"from_date": "2025-06-01", "to_date": "2025-07-01"},
              "dry_run": {"resource_ids": ["room_123"], "dry_run": True}}))
def sync_bridges(req: func.HttpRequest, c: Container,
                 request: sync.SyncRequest | None) -> Reply:
    """Sync every active mapping with an end on each bridge, from the source bridge to the
    target, then retry those mappings' pending and failed items in that direction; with a
    body, only a window, some resources, or a dry run (which retries nothing)."""
    report = sync.sync_bridges(c, req.route_params["source_bridge"],
                               req.route_params["target_bridge"],
                               request or sync.SyncRequest())
    results = run_results(report)
    message = ("Bridge sync planned (dry run)" if report.dry_run
               else f"Bridge sync started: {results['queued']} operations continue through "
                    "the sync-work queue" if results["queued"] else "Bridge sync completed")
    return ok(message=message, results={"mappings": report.mappings,
                                         "dry_run": report.dry_run, **results})


@bp.route(route="bridge/process-pending", methods=["POST"])
@api(answers={200: RunDone}, query=(FORCE,))
def process_pending_operations(req: func.HttpRequest, c: Container) -> Reply:
    """Retry links waiting as pending or failed."""
    outcomes = sync.process_pending(c, manual=True, force=bool(FORCE.read(req)),
                                    deadline=sync.request_deadline(c))
    return ok(message="Bridge sync operations completed", results=results_block(outcomes))


@bp.route(route="bridge/pending", methods=["GET"])
@api(answers={200: PendingOperations})
def list_pending_operations(req: func.HttpRequest, c: Container) -> Reply:
    """Links waiting for sync (pending, failed, in conflict)."""
    items = sync.pending_items(c)
    return ok(pending=items, count=len(items))


@bp.route(route="bridge/completed", methods=["GET"])
@api(answers={200: CompletedOperations}, query=(LIMIT, STATUS, PAGE_TOKEN),
     errors=(400,))  # a page_token this listing did not give
def list_completed_operations(req: func.HttpRequest, c: Container) -> Reply:
    """Processed operations, newest first, a page at a time."""
    operations, token = c.storage.operations.page(
        status=STATUS.read(req), limit=LIMIT.read(req), continuation=PAGE_TOKEN.read(req))
    return ok(completed=[op.model_dump(mode="json") for op in operations],
              count=len(operations), next_page_token=token)


@bp.route(route="bridges/sync-deletions", methods=["POST"])
@api(answers={200: DeletionsDone})
def sync_deletions(req: func.HttpRequest, c: Container) -> Reply:
    """Find events deleted or cancelled at one end and cancel them at the other."""
    return ok(message="Bridge deletion sync completed",
              results=deletion_results(sync.sync_deletions(c, sync.request_deadline(c)),
                                       c.bridges))


@bp.route(route="bridges/process-deletion-queue", methods=["POST"])
@api(answers={200: DeletionsDone})
def process_deletion_queue(req: func.HttpRequest, c: Container) -> Reply:
    """Retry deletions that failed before."""
    return ok(message="Bridge deletion processing completed",
              results=deletion_results(sync.process_deletion_queue(c), c.bridges))


@bp.route(route="bridge/cleanup-orphaned", methods=["DELETE"])
@api(answers={200: CleanupDone})
def cleanup_orphaned_links(req: func.HttpRequest, c: Container) -> Reply:
    """Remove links whose events are gone at both ends."""
    return ok(message="Orphaned mappings cleaned up", results=sync.cleanup_orphaned(c))


@bp.timer_trigger(schedule="%SYNC_SCHEDULE%", arg_name="timer")
def sync_on_schedule(timer: func.TimerRequest) -> None:
    stats.record_queue_depths(container())
    results = run_results(sync.sync_everything(container()))
    log.info("scheduled sync", extra={"processed": results["processed"],
                                      "errors": results["errors"]})


@bp.timer_trigger(schedule="%DELETION_SYNC_SCHEDULE%", arg_name="timer")
def sync_deletions_on_schedule(timer: func.TimerRequest) -> None:
    c = container()
    # Within a request's time budget, as the sync timer (a timer has a time limit too).
    results = deletion_results(sync.sync_deletions(c, sync.request_deadline(c)), c.bridges)
    log.info("scheduled deletion sync", extra={"processed": results["processed_deletions"]})


@bp.queue_trigger(arg_name="msg", queue_name=SYNC_WORK, connection="AzureWebJobsStorage")
def process_sync_work(msg: func.QueueMessage) -> None:
    # Failures raise: the host makes the message visible again, and poisons it after 5.
    outcomes = sync.process_work(container(), SyncWork.model_validate_json(msg.get_body()),
                                 redelivered=(msg.dequeue_count or 1) > 1)
    failed = [outcome for outcome in outcomes if outcome.status is OutcomeStatus.FAILED]
    if failed:
        raise RuntimeError(f"sync work failed: {failed[0].error}")
