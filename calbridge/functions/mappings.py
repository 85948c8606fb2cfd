"""Resource mappings: `/mappings/resources[...]`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import azure.functions as func
from pydantic import BaseModel, ConfigDict

from calbridge.bootstrap import Container
from calbridge.functions.answers import (
    Deleted,
    MappingChanged,
    MappingCreated,
    MappingFound,
    MappingList,
    MappingsOfCalendar,
)
from calbridge.functions.contract import Body, QueryFlag, QueryText, Reply, api, ok
from calbridge.functions.http import read_json
from calbridge.model import (
    BridgeName,
    CalendarId,
    ConflictPolicy,
    Direction,
    End,
    MappingName,
    MappingPatch,
    MappingRequest,
    ResourceMapping,
    guide_field,
)
from calbridge.services import mappings

bp = func.Blueprint()
_GUIDE_DIRECTIONS = {Direction.BOTH: "both", Direction.A_TO_B: "to_calendar",
                     Direction.B_TO_A: "from_calendar"}
GuideDirection = Literal["both", "to_calendar", "from_calendar", "a_to_b", "b_to_a"]


class GuideMappingForm(BaseModel):
    """The usage guide's mapping body, which `MappingRequest` reads beside two ends: the
    booking resource is end `a` (on `booking_system`, the configured booking bridge when
    absent), the calendar end `b`."""

    model_config = ConfigDict(extra="forbid")

    booking_system_resource_id: CalendarId
    calendar_system: BridgeName
    calendar_resource_id: CalendarId
    calendar_resource_name: MappingName | None = None
    booking_system: BridgeName | None = None
    sync_direction: GuideDirection = "both"
    active: bool = True
    conflict_policy: ConflictPolicy = ConflictPolicy.ORIGIN_WINS


class GuidePatchForm(BaseModel):
    """A change in the guide's names, which `MappingPatch` reads beside two ends: only the
    fields given change."""

    model_config = ConfigDict(extra="forbid")

    booking_system_resource_id: CalendarId | None = None
    calendar_system: BridgeName | None = None
    calendar_resource_id: CalendarId | None = None
    calendar_resource_name: MappingName | None = None
    sync_direction: GuideDirection | None = None
    active: bool | None = None
    conflict_policy: ConflictPolicy | None = None


# The usage guide's "Create Resource Mapping" body, and the same mapping as two ends.
GUIDE_EXAMPLE = {"booking_system_resource_id": "room_123", "calendar_system": "outlook",
                 "calendar_resource_id": "conference-room-a@company.com",
                 "calendar_resource_name": "Conference Room A", "active": True}
ENDS_EXAMPLE = {"a": {"bridge": "booking_system", "calendar_id": "room_123"},
                "b": {"bridge": "outlook", "calendar_id": "conference-room-a@company.com",
                      "name": "Conference Room A"},
                "direction": "both", "conflict_policy": "origin_wins", "active": True}


@dataclass(frozen=True)
class MappingBody(Body[Any]):
    """A mapping body in either form: the guide's names or two ends. Read as the body and
    the form it was in, so errors name its fields as the user did."""

    def read(self, req: func.HttpRequest, c: Container) -> tuple[Any, str]:  # type: ignore[override]
        context: dict[str, Any] = {"booking_bridge": c.settings.booking_bridge}

        def named(field: str) -> str:
            return guide_field(field) if context.get("form") == "guide" else field

        body = read_json(req, self.model, c.settings.max_body_bytes, context=context,
                         field_name=named)
        return body, str(context.get("form", "ends"))


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


ACTIVE = QueryFlag("active", "only active (true) or inactive (false) mappings")
BRIDGE = QueryText("bridge", "only mappings with an end on this bridge")
CALENDAR_SYSTEM = QueryText("calendar_system", "the usage guide's name for `bridge`")


@bp.route(route="mappings/resources", methods=["POST"])
@api(answers={201: MappingCreated}, errors=(404, 409, 502),
     body=MappingBody(MappingRequest, also=(GuideMappingForm,),
                      examples={"guide": GUIDE_EXAMPLE, "ends": ENDS_EXAMPLE}))
def create_resource_mapping(req: func.HttpRequest, c: Container,
                            body: tuple[MappingRequest, str]) -> Reply:
    """Map a booking resource to a calendar (the guide's form), or any two calendars (`a`,
    `b`); both ends are checked with their systems (`verified`)."""
    request, form = body
    mapping = mappings.create_resource_mapping(c, request, form)
    return ok(201, message="Resource mapping created", mapping=_shown(c, mapping),
              id=mapping.id, **_verification(mapping))


@bp.route(route="mappings/resources", methods=["GET"])
@api(answers={200: MappingList}, query=(ACTIVE, BRIDGE, CALENDAR_SYSTEM))
def list_resource_mappings(req: func.HttpRequest, c: Container) -> Reply:
    """Every mapping, optionally only active ones or those on one bridge."""
    found = mappings.list_resource_mappings(
        c, active=ACTIVE.read(req), bridge=BRIDGE.read(req) or CALENDAR_SYSTEM.read(req))
    return ok(mappings=[_shown(c, m) for m in found], count=len(found))


@bp.route(route="mappings/resources/by-resource/{resource_id}", methods=["GET"])
@api(answers={200: MappingsOfCalendar})
def mappings_for_resource(req: func.HttpRequest, c: Container) -> Reply:
    """Mappings with an end on this calendar id, whichever end it is."""
    resource_id = req.route_params["resource_id"]
    found = mappings.mappings_for_calendar(c, resource_id)
    return ok(booking_system_resource_id=resource_id, calendar_id=resource_id,
              mappings=[_shown(c, m) for m in found], count=len(found))


@bp.route(route="mappings/resources/{mapping_id}", methods=["GET"])
@api(answers={200: MappingFound})
def get_resource_mapping(req: func.HttpRequest, c: Container) -> Reply:
    """One mapping by id."""
    mapping = mappings.get_resource_mapping(c, req.route_params["mapping_id"])
    return ok(mapping=_shown(c, mapping))


@bp.route(route="mappings/resources/{mapping_id}", methods=["PUT"])
@api(answers={200: MappingChanged}, errors=(409, 502),
     body=MappingBody(MappingPatch, also=(GuidePatchForm,), examples={
         "deactivate": {"active": False},
         "guide": {"calendar_resource_id": "room1@company.com", "sync_direction": "both"}}))
def update_resource_mapping(req: func.HttpRequest, c: Container,
                            body: tuple[MappingPatch, str]) -> Reply:
    """Change a mapping: only the fields given change (either form)."""
    patch, form = body
    mapping = mappings.update_resource_mapping(c, req.route_params["mapping_id"], patch, form)
    return ok(message="Resource mapping updated", mapping=_shown(c, mapping),
              **_verification(mapping))


@bp.route(route="mappings/resources/{mapping_id}", methods=["DELETE"])
@api(answers={200: Deleted})
def delete_resource_mapping(req: func.HttpRequest, c: Container) -> Reply:
    """Remove a mapping: its calendars are no longer kept in step."""
    mapping = mappings.delete_resource_mapping(c, req.route_params["mapping_id"])
    return ok(message="Resource mapping deleted", id=mapping.id)
