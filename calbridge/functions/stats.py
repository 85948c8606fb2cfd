"""Statistics: `/bridge/stats`."""

from __future__ import annotations

import azure.functions as func

from calbridge.bootstrap import Container
from calbridge.functions.http import api, ok
from calbridge.services import stats

bp = func.Blueprint()


@bp.route(route="bridge/stats", methods=["GET"])
@api
def show_bridge_stats(req: func.HttpRequest, c: Container) -> func.HttpResponse:
    return ok(statistics=stats.bridge_stats(c))
