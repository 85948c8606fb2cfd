"""Resource mappings: `/mappings/resources[...]`."""

from __future__ import annotations

from typing import Any

import azure.functions as func

from calbridge.bootstrap import Container
from calbridge.functions.http import api, ok, query_bool, read_json
from calbridge.model import (
    Direction,
    End,
    MappingPatch,
    MappingRequest,
    ResourceMapping,
    guide_field,
)
from calbridge.services import mappings

bp = func.Blueprint()
_GUIDE_DIRECTIONS = {Direction.BOTH: "both", Direction.A_TO_B: "to_calendar",
                     Direction.B_TO_A: "from_calendar"}


def _shown(c: Container, mapping: ResourceMapping) -> dict[str, Any]:
    """A mapping with its two ends; a booking mapping (its booking system at end `a`) also
    under the usage guide's names."""
    shown = mapping.model_dump(mode="json")
    if mappings.booking_end(c, mapping) is End.A:
        shown.update({"booking_system": mapping.a.bridge,
                      "booking_system_resource_id": mapping.a.calendar_id,
                      "calendar_system": mapping.b.bridge,
                      "calendar_resource_id": mapping.b.calendar_id,
                      "calendar_resource_name": mapping.b.name,
                      "sync_direction": _GUIDE_DIRECTIONS[mapping.direction]})
    return shown


def _verification(mapping: ResourceMapping) -> dict:
    """`verified`, and a warning when a bridge could not be asked about a calendar."""
    if mapping.verified:
        return {"verified": True}
    reason = mapping.verification_error or "its calendars have not been checked yet"
    return {"verified": False,
            "warning": f"stored, but not verified: {reason}. It is checked again before "
                       "each sync and by /bridges/health."}


def _read(req: func.HttpRequest, c: Container, model: type[Any]) -> tuple[Any, str]:
    """A mapping body in either form, and which form it was (errors name its fields)."""
    context: dict[str, Any] = {"booking_bridge": c.settings.booking_bridge}

    def named(field: str) -> str:
        return guide_field(field) if context.get("form") == "guide" else field

    body = read_json(req, model, c.settings.max_body_bytes, context=context, field_name=named)
    return body, str(context.get("form", "ends"))


@bp.route(route="mappings/resources", methods=["POST"])
@api
def create_resource_mapping(req: func.HttpRequest, c: Container) -> func.HttpResponse:
    request, form = _read(req, c, MappingRequest)
    mapping = mappings.create_resource_mapping(c, request, form)
    return ok(201, message="Resource mapping created", mapping=_shown(c, mapping),
              id=mapping.id, **_verification(mapping))


@bp.route(route="mappings/resources", methods=["GET"])
@api
def list_resource_mappings(req: func.HttpRequest, c: Container) -> func.HttpResponse:
    found = mappings.list_resource_mappings(
        c, active=query_bool(req, "active"),
        bridge=req.params.get("bridge") or req.params.get("calendar_system"))
    return ok(mappings=[_shown(c, m) for m in found], count=len(found))


@bp.route(route="mappings/resources/by-resource/{resource_id}", methods=["GET"])
@api
def mappings_for_resource(req: func.HttpRequest, c: Container) -> func.HttpResponse:
    """Mappings with an end on this calendar id, whichever end it is."""
    resource_id = req.route_params["resource_id"]
    found = mappings.mappings_for_calendar(c, resource_id)
    return ok(booking_system_resource_id=resource_id, calendar_id=resource_id,
              mappings=[_shown(c, m) for m in found], count=len(found))


@bp.route(route="mappings/resources/{mapping_id}", methods=["GET"])
@api
def get_resource_mapping(req: func.HttpRequest, c: Container) -> func.HttpResponse:
    mapping = mappings.get_resource_mapping(c, req.route_params["mapping_id"])
    return ok(mapping=_shown(c, mapping))


@bp.route(route="mappings/resources/{mapping_id}", methods=["PUT"])
@api
def update_resource_mapping(req: func.HttpRequest, c: Container) -> func.HttpResponse:
    patch, form = _read(req, c, MappingPatch)
    mapping = mappings.update_resource_mapping(c, req.route_params["mapping_id"], patch, form)
    return ok(message="Resource mapping updated", mapping=_shown(c, mapping),
              **_verification(mapping))


@bp.route(route="mappings/resources/{mapping_id}", methods=["DELETE"])
@api
def delete_resource_mapping(req: func.HttpRequest, c: Container) -> func.HttpResponse:
    mapping = mappings.delete_resource_mapping(c, req.route_params["mapping_id"])
    return ok(message="Resource mapping deleted", id=mapping.id)
