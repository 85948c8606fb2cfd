"""Resource mappings: `/mappings/resources[...]`."""

from __future__ import annotations

import azure.functions as func

from calbridge.bootstrap import Container
from calbridge.functions.http import api, ok, query_bool, read_json
from calbridge.model import ResourceMapping, ResourceMappingFields, ResourceMappingPatch
from calbridge.services import mappings

bp = func.Blueprint()


def _shown(mapping: ResourceMapping) -> dict:
    return mapping.model_dump(mode="json")


def _verification(mapping: ResourceMapping) -> dict:
    """`verified`, and a warning when a bridge could not be asked about a calendar."""
    if mapping.verified:
        return {"verified": True}
    reason = mapping.verification_error or "its calendars have not been checked yet"
    return {"verified": False,
            "warning": f"stored, but not verified: {reason}. It is checked again before "
                       "each sync and by /bridges/health."}


@bp.route(route="mappings/resources", methods=["POST"])
@api
def create_resource_mapping(req: func.HttpRequest, c: Container) -> func.HttpResponse:
    fields = read_json(req, ResourceMappingFields, c.settings.max_body_bytes)
    mapping = mappings.create_resource_mapping(c, fields)
    return ok(201, message="Resource mapping created", mapping=_shown(mapping), id=mapping.id,
              **_verification(mapping))


@bp.route(route="mappings/resources", methods=["GET"])
@api
def list_resource_mappings(req: func.HttpRequest, c: Container) -> func.HttpResponse:
    found = mappings.list_resource_mappings(c, active=query_bool(req, "active"),
                                            calendar_system=req.params.get("calendar_system"))
    return ok(mappings=[_shown(m) for m in found], count=len(found))


@bp.route(route="mappings/resources/by-resource/{resource_id}", methods=["GET"])
@api
def mappings_for_resource(req: func.HttpRequest, c: Container) -> func.HttpResponse:
    resource_id = req.route_params["resource_id"]
    found = mappings.mappings_for_resource(c, resource_id)
    return ok(booking_system_resource_id=resource_id, mappings=[_shown(m) for m in found],
              count=len(found))


@bp.route(route="mappings/resources/{mapping_id}", methods=["GET"])
@api
def get_resource_mapping(req: func.HttpRequest, c: Container) -> func.HttpResponse:
    mapping = mappings.get_resource_mapping(c, req.route_params["mapping_id"])
    return ok(mapping=_shown(mapping))


@bp.route(route="mappings/resources/{mapping_id}", methods=["PUT"])
@api
def update_resource_mapping(req: func.HttpRequest, c: Container) -> func.HttpResponse:
    patch = read_json(req, ResourceMappingPatch, c.settings.max_body_bytes)
    mapping = mappings.update_resource_mapping(c, req.route_params["mapping_id"], patch)
    return ok(message="Resource mapping updated", mapping=_shown(mapping),
              **_verification(mapping))


@bp.route(route="mappings/resources/{mapping_id}", methods=["DELETE"])
@api
def delete_resource_mapping(req: func.HttpRequest, c: Container) -> func.HttpResponse:
    mapping = mappings.delete_resource_mapping(c, req.route_params["mapping_id"])
    return ok(message="Resource mapping deleted", id=mapping.id)
