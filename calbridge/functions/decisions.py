"""Operator decisions: `/bridge/conflicts[...]` and `/bridge/holds[...]`."""

from __future__ import annotations

import azure.functions as func

from calbridge.bootstrap import Container
from calbridge.functions.answers import Conflicts, HoldDecided, Holds, RunDone
from calbridge.functions.contract import Body, QueryText, Reply, api, ok
from calbridge.functions.results import results_block
from calbridge.model import HoldStatus
from calbridge.services import decisions

bp = func.Blueprint()
CONFLICT_STATUS = QueryText(
    "status", "open: waiting for an operator; resolved: decided by the mapping's policy, "
    "with the losing values; all", choices=("open", "resolved", "all"), default="open")
HOLD_STATUS = QueryText("status", "which holds to list",
                        choices=(*(s.value for s in HoldStatus), "all"),
                        default=HoldStatus.HELD.value)


@bp.route(route="bridge/conflicts", methods=["GET"])
@api(answers={200: Conflicts}, query=(CONFLICT_STATUS,))
def list_conflicts(req: func.HttpRequest, c: Container) -> Reply:
    """Links changed at both ends: open ones wait for an operator (`manual` policy),
    resolved ones were decided by the mapping's policy."""
    wanted = CONFLICT_STATUS.read(req)
    conflicts = []
    if wanted in ("open", "all"):
        conflicts += [{**item, "status": "open"} for item in decisions.list_conflicts(c)]
    if wanted in ("resolved", "all"):
        conflicts += decisions.resolved_conflicts(c)
    return ok(conflicts=conflicts, count=len(conflicts))


@bp.route(route="bridge/conflicts/{link_id}/resolve", methods=["POST"])
@api(answers={200: RunDone}, errors=(409,),
     body=Body(decisions.ConflictResolution, examples={"calendar_wins": {"winner": "b"}}))
def resolve_conflict(req: func.HttpRequest, c: Container,
                     body: decisions.ConflictResolution) -> Reply:
    """Decide an open conflict: the winning end's version is written to the other."""
    outcome = decisions.resolve_conflict(c, req.route_params["link_id"], body.winner)
    return ok(message=f"Conflict resolved: {body.winner.value} wins",
              results=results_block([outcome]))


@bp.route(route="bridge/holds", methods=["GET"])
@api(answers={200: Holds}, query=(HOLD_STATUS,))
def list_deletion_holds(req: func.HttpRequest, c: Container) -> Reply:
    """Deletions the mass-deletion guard held back, waiting for an operator."""
    wanted = HOLD_STATUS.read(req)
    holds = decisions.list_holds(c, None if wanted == "all" else HoldStatus(wanted))
    return ok(holds=[h.model_dump(mode="json") for h in holds], count=len(holds))


@bp.route(route="bridge/holds/{hold_id}/confirm", methods=["POST"])
@api(answers={200: HoldDecided}, errors=(409,))
def confirm_deletion_hold(req: func.HttpRequest, c: Container) -> Reply:
    """Carry out the held deletions."""
    hold, outcomes = decisions.confirm_hold(c, req.route_params["hold_id"])
    return ok(message="Held deletions carried out", hold=hold.model_dump(mode="json"),
              results=results_block(outcomes))


@bp.route(route="bridge/holds/{hold_id}/reject", methods=["POST"])
@api(answers={200: HoldDecided}, errors=(409,))
def reject_deletion_hold(req: func.HttpRequest, c: Container) -> Reply:
    """Drop the held deletions and restore the events missing at the other end."""
    hold, outcomes = decisions.reject_hold(c, req.route_params["hold_id"])
    return ok(message="Held deletions rejected; missing events restored",
              hold=hold.model_dump(mode="json"), results=results_block(outcomes))
