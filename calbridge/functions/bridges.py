"""Bridge discovery and health: `/bridges`, `/bridges/health`, `/bridges/{name}/calendars`."""

from __future__ import annotations

import azure.functions as func

from calbridge.bootstrap import Container
from calbridge.functions.http import api, json_response, ok
from calbridge.services import bridges, health

bp = func.Blueprint()


@bp.route(route="bridges", methods=["GET"])
@api
def list_bridges(req: func.HttpRequest, c: Container) -> func.HttpResponse:
    found = bridges.list_bridges(c)
    return ok(bridges=found, count=len(found))


@bp.route(route="bridges/health", methods=["GET"])
@api
def check_bridge_health(req: func.HttpRequest, c: Container) -> func.HttpResponse:
    report, storage_ok = health.bridge_health(c)
    return json_response(report, 200 if storage_ok else 503)


@bp.route(route="bridges/{name}/calendars", methods=["GET"])
@api
def list_bridge_calendars(req: func.HttpRequest, c: Container) -> func.HttpResponse:
    name = req.route_params["name"]
    calendars = bridges.list_bridge_calendars(c, name)
    return ok(bridge=name, calendars=calendars, count=len(calendars))
