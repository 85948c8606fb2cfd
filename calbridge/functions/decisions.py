"""Operator decisions: `/bridge/conflicts[...]` and `/bridge/holds[...]`."""

from __future__ import annotations

import azure.functions as func

from calbridge.bootstrap import Container
from calbridge.errors import ValidationFailed
from calbridge.functions.http import api, ok, read_json
from calbridge.functions.results import results_block
from calbridge.model import HoldStatus
from calbridge.services import decisions

bp = func.Blueprint()


@bp.route(route="bridge/conflicts", methods=["GET"])
@api
def list_conflicts(req: func.HttpRequest, c: Container) -> func.HttpResponse:
    """`?status=open` (default: waiting for an operator), `resolved` (decided by the
    mapping's policy, with the losing values) or `all`."""
    wanted = req.params.get("status") or "open"
    if wanted not in ("open", "resolved", "all"):
        raise ValidationFailed("status must be open, resolved or all",
                               details={"fields": [{"field": "status",
                                                    "message": "unknown status"}]})
    conflicts = []
    if wanted in ("open", "all"):
        conflicts += [{**item, "status": "open"} for item in decisions.list_conflicts(c)]
    if wanted in ("resolved", "all"):
        conflicts += decisions.resolved_conflicts(c)
    return ok(conflicts=conflicts, count=len(conflicts))


@bp.route(route="bridge/conflicts/{link_id}/resolve", methods=["POST"])
@api
def resolve_conflict(req: func.HttpRequest, c: Container) -> func.HttpResponse:
    body = read_json(req, decisions.ConflictResolution, c.settings.max_body_bytes)
    assert body is not None
    outcome = decisions.resolve_conflict(c, req.route_params["link_id"], body.winner)
    return ok(message=f"Conflict resolved: {body.winner.value} wins",
              results=results_block([outcome]))


@bp.route(route="bridge/holds", methods=["GET"])
@api
def list_deletion_holds(req: func.HttpRequest, c: Container) -> func.HttpResponse:
    wanted = req.params.get("status") or "held"
    if wanted != "all" and wanted not in {s.value for s in HoldStatus}:
        raise ValidationFailed("status must be held, confirmed, rejected or all",
                               details={"fields": [{"field": "status",
                                                    "message": "unknown status"}]})
    status = None if wanted == "all" else HoldStatus(wanted)
    holds = decisions.list_holds(c, status)
    return ok(holds=[h.model_dump(mode="json") for h in holds], count=len(holds))


@bp.route(route="bridge/holds/{hold_id}/confirm", methods=["POST"])
@api
def confirm_deletion_hold(req: func.HttpRequest, c: Container) -> func.HttpResponse:
    hold, outcomes = decisions.confirm_hold(c, req.route_params["hold_id"])
    return ok(message="Held deletions carried out", hold=hold.model_dump(mode="json"),
              results=results_block(outcomes))


@bp.route(route="bridge/holds/{hold_id}/reject", methods=["POST"])
@api
def reject_deletion_hold(req: func.HttpRequest, c: Container) -> func.HttpResponse:
    hold, outcomes = decisions.reject_hold(c, req.route_params["hold_id"])
    return ok(message="Held deletions rejected; missing events restored",
              hold=hold.model_dump(mode="json"), results=results_block(outcomes))
