"""Bridge discovery and health: `/bridges`, `/bridges/health`, `/bridges/{name}/calendars`."""

from __future__ import annotations

import azure.functions as func

from calbridge.bootstrap import Container
from calbridge.functions.answers import BridgeList, CalendarList, HealthReport
from calbridge.functions.contract import Reply, api, ok
from calbridge.services import bridges, health

bp = func.Blueprint()


@bp.route(route="bridges", methods=["GET"])
@api(answers={200: BridgeList})
def list_bridges(req: func.HttpRequest, c: Container) -> Reply:
    """The configured bridges: name, adapter type and capabilities."""
    found = bridges.list_bridges(c)
    return ok(bridges=found, count=len(found))


@bp.route(route="bridges/health", methods=["GET"])
@api(answers={200: HealthReport, 503: HealthReport})
def check_bridge_health(req: func.HttpRequest, c: Container) -> Reply:
    """Each bridge's health, storage, links by status, unsyncable mappings, held deletions
    and push subscriptions; 503 when storage does not answer."""
    report, storage_ok = health.bridge_health(c)
    return Reply(200 if storage_ok else 503, report)


@bp.route(route="bridges/{name}/calendars", methods=["GET"])
@api(answers={200: CalendarList}, errors=(502,))
def list_bridge_calendars(req: func.HttpRequest, c: Container) -> Reply:
    """The calendars (rooms, resources) a bridge can sync."""
    name = req.route_params["name"]
    calendars = bridges.list_bridge_calendars(c, name)
    return ok(bridge=name, calendars=calendars, count=len(calendars))
