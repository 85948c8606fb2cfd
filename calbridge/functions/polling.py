"""Polling fallback: `/polling/initialize`, `/bridges/poll-changes`, `/polling/stats`,
and the poll timer."""

from __future__ import annotations

import logging

import azure.functions as func

from calbridge.bootstrap import Container, container
from calbridge.bridges.registry import own_poll_schedules
from calbridge.functions.answers import InitDone, PollDone, Statistics
from calbridge.functions.contract import QueryFlag, Reply, api, ok
from calbridge.functions.results import init_results, poll_results
from calbridge.services import polling
from calbridge.services.sync import request_deadline

bp = func.Blueprint()
log = logging.getLogger(__name__)
FORCE = QueryFlag("force", "open change tracking again even where a cursor is stored")


@bp.route(route="polling/initialize", methods=["POST"])
@api(answers={200: InitDone}, query=(FORCE,))
def initialize_polling(req: func.HttpRequest, c: Container) -> Reply:
    """Open change tracking (delta links, sync tokens) for every mapped calendar."""
    report = polling.initialize(c, force=bool(FORCE.read(req)),
                                deadline=request_deadline(c))
    return ok(message="Polling initialized", results=init_results(report))


@bp.route(route="bridges/poll-changes", methods=["POST"])
@api(answers={200: PollDone})
def poll_bridge_changes(req: func.HttpRequest, c: Container) -> Reply:
    """Ask every mapped calendar for its changes since the last poll and sync them."""
    return ok(message="Polling completed",
              results=poll_results(polling.poll_changes(c, deadline=request_deadline(c))))


@bp.route(route="polling/stats", methods=["GET"])
@api(answers={200: Statistics})
def show_polling_stats(req: func.HttpRequest, c: Container) -> Reply:
    """Per calendar: last poll, last change, subscription health, next poll due."""
    return ok(statistics=polling.stats(c))


def _scheduled_poll(schedule_setting: str | None) -> None:
    results = poll_results(polling.poll_changes(container(), due_only=True,
                                                schedule_setting=schedule_setting))
    log.info("scheduled poll", extra={"schedule": schedule_setting or "POLL_SCHEDULE",
                                      "polled": results["calendars_polled"],
                                      "processed": results["processed"]})


@bp.timer_trigger(schedule="%POLL_SCHEDULE%", arg_name="timer")
def poll_on_schedule(timer: func.TimerRequest) -> None:
    _scheduled_poll(None)


def _own_poll_timer(type_name: str, setting: str) -> None:
    """A timer for the calendars of an adapter that declares a poll schedule of its own."""

    @bp.function_name(f"poll_{type_name}_on_schedule")
    @bp.timer_trigger(schedule=f"%{setting}%", arg_name="timer")
    def poll_on_own_schedule(timer: func.TimerRequest) -> None:
        _scheduled_poll(setting)


for _type_name, _setting in own_poll_schedules().items():
    _own_poll_timer(_type_name, _setting.name)
