"""Polling fallback: `/polling/initialize`, `/bridges/poll-changes`, `/polling/stats`,
and the poll timer."""

from __future__ import annotations

import logging

import azure.functions as func

from calbridge.bootstrap import Container, container
from calbridge.functions.answers import InitDone, PollDone, Statistics
from calbridge.functions.contract import QueryFlag, Reply, api, ok
from calbridge.functions.results import init_results, poll_results
from calbridge.services import polling

bp = func.Blueprint()
log = logging.getLogger(__name__)
FORCE = QueryFlag("force", "open change tracking again even where a cursor is stored")


@bp.route(route="polling/initialize", methods=["POST"])
@api(answers={200: InitDone}, query=(FORCE,))
def initialize_polling(req: func.HttpRequest, c: Container) -> Reply:
    """Open change tracking (delta links, sync tokens) for every mapped calendar."""
    report = polling.initialize(c, force=bool(FORCE.read(req)))
    return ok(message="Polling initialized", results=init_results(report))


@bp.route(route="bridges/poll-changes", methods=["POST"])
@api(answers={200: PollDone})
def poll_bridge_changes(req: func.HttpRequest, c: Container) -> Reply:
    """Ask every mapped calendar for its changes since the last poll and sync them."""
    return ok(message="Polling completed", results=poll_results(polling.poll_changes(c)))


@bp.route(route="polling/stats", methods=["GET"])
@api(answers={200: Statistics})
def show_polling_stats(req: func.HttpRequest, c: Container) -> Reply:
    """Per calendar: last poll, last change, subscription health, next poll due."""
    return ok(statistics=polling.stats(c))


@bp.timer_trigger(schedule="%POLL_SCHEDULE%", arg_name="timer")
def poll_on_schedule(timer: func.TimerRequest) -> None:
    results = poll_results(polling.poll_changes(container(), due_only=True))
    log.info("scheduled poll", extra={"polled": results["calendars_polled"],
                                      "processed": results["processed"]})
