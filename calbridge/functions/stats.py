"""Statistics: `/bridge/stats`."""

from __future__ import annotations

import azure.functions as func

from calbridge.bootstrap import Container
from calbridge.functions.answers import Statistics
from calbridge.functions.contract import Reply, api, ok
from calbridge.services import stats

bp = func.Blueprint()


@bp.route(route="bridge/stats", methods=["GET"])
@api(answers={200: Statistics})
def show_bridge_stats(req: func.HttpRequest, c: Container) -> Reply:
    """Links by status and item type, and processed operations by kind."""
    return ok(statistics=stats.bridge_stats(c))
