"""Sync: bridge-to-bridge runs, pending work, deletions, clean-up, and the timers and
queue trigger that run the same use cases unattended."""

from __future__ import annotations

import logging

import azure.functions as func

from calbridge.bootstrap import Container, container
from calbridge.functions.http import api, ok, query_bool, query_int, read_json
from calbridge.functions.results import deletion_results, results_block, run_results
from calbridge.model import SyncWork
from calbridge.services import stats, sync
from calbridge.store.queues import SYNC_WORK
from calbridge.sync.outcome import OutcomeStatus

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.route(route="bridges/sync/{source_bridge}/{target_bridge}", methods=["POST"])
@api
def sync_bridges(req: func.HttpRequest, c: Container) -> func.HttpResponse:
    request = read_json(req, sync.SyncRequest, c.settings.max_body_bytes, optional=True)
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
@api
def process_pending_operations(req: func.HttpRequest, c: Container) -> func.HttpResponse:
    outcomes = sync.process_pending(c, manual=True, force=bool(query_bool(req, "force")))
    return ok(message="Bridge sync operations completed", results=results_block(outcomes))


@bp.route(route="bridge/pending", methods=["GET"])
@api
def list_pending_operations(req: func.HttpRequest, c: Container) -> func.HttpResponse:
    items = sync.pending_items(c)
    return ok(pending=items, count=len(items))


@bp.route(route="bridge/completed", methods=["GET"])
@api
def list_completed_operations(req: func.HttpRequest, c: Container) -> func.HttpResponse:
    limit = query_int(req, "limit", 50, low=1, high=500)
    operations, token = c.storage.operations.page(
        status=req.params.get("status") or None, limit=limit,
        continuation=req.params.get("page_token") or None)
    return ok(completed=[op.model_dump(mode="json") for op in operations],
              count=len(operations), next_page_token=token)


@bp.route(route="bridges/sync-deletions", methods=["POST"])
@api
def sync_deletions(req: func.HttpRequest, c: Container) -> func.HttpResponse:
    return ok(message="Bridge deletion sync completed",
              results=deletion_results(sync.sync_deletions(c, sync.request_deadline(c)),
                                       c.bridges))


@bp.route(route="bridges/process-deletion-queue", methods=["POST"])
@api
def process_deletion_queue(req: func.HttpRequest, c: Container) -> func.HttpResponse:
    return ok(message="Bridge deletion processing completed",
              results=deletion_results(sync.process_deletion_queue(c), c.bridges))


@bp.route(route="bridge/cleanup-orphaned", methods=["DELETE"])
@api
def cleanup_orphaned_links(req: func.HttpRequest, c: Container) -> func.HttpResponse:
    return ok(message="Orphaned mappings cleaned up", results=sync.cleanup_orphaned(c))


@bp.timer_trigger(schedule="%SYNC_SCHEDULE%", arg_name="timer")
def sync_on_schedule(timer: func.TimerRequest) -> None:
    stats.record_queue_depths(container())
    results = run_results(sync.sync_everything(container()))
    log.info("scheduled sync", extra={"processed": results["processed"],
                                      "errors": results["errors"]})


@bp.timer_trigger(schedule="%DELETION_SYNC_SCHEDULE%", arg_name="timer")
def sync_deletions_on_schedule(timer: func.TimerRequest) -> None:
    results = deletion_results(sync.sync_deletions(container()), container().bridges)
    log.info("scheduled deletion sync", extra={"processed": results["processed_deletions"]})


@bp.queue_trigger(arg_name="msg", queue_name=SYNC_WORK, connection="AzureWebJobsStorage")
def process_sync_work(msg: func.QueueMessage) -> None:
    # Failures raise: the host makes the message visible again, and poisons it after 5.
    outcomes = sync.process_work(container(), SyncWork.model_validate_json(msg.get_body()))
    failed = [outcome for outcome in outcomes if outcome.status is OutcomeStatus.FAILED]
    if failed:
        raise RuntimeError(f"sync work failed: {failed[0].error}")
