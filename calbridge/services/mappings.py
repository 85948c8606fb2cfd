"""Resource mappings: which booking resource is synced with which calendar, and whether
both of those calendars exist."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from calbridge.bootstrap import Container
from calbridge.errors import AlreadyExists, CalbridgeError, EtagConflict, ValidationFailed
from calbridge.model import (
    EndFailure,
    ResourceMapping,
    ResourceMappingFields,
    ResourceMappingPatch,
    Side,
)

log = logging.getLogger(__name__)

# The field of the API that names each end's calendar.
END_FIELDS = {Side.BOOKING: "booking_system_resource_id", Side.CALENDAR: "calendar_resource_id"}
_ENDS = ("booking_system_resource_id", "calendar_system", "calendar_resource_id")


@dataclass
class EndsCheck:
    """What the bridges said about a mapping's two calendars: the ends they say do not
    exist, and the ends they could not be asked about (each with its reason)."""

    missing: dict[Side, str] = field(default_factory=dict)
    unchecked: dict[Side, str] = field(default_factory=dict)

    def state(self) -> dict[str, Any]:
        """The mapping's verification fields for this answer."""
        if self.missing:
            return {"verified": False, "verification_error": "; ".join(self.missing.values()),
                    "missing_end": next(iter(self.missing))}
        if self.unchecked:
            return {"verified": False, "verification_error": "; ".join(self.unchecked.values()),
                    "missing_end": None}
        return {"verified": True, "verification_error": None, "missing_end": None}

    def refuse_missing(self) -> None:
        """422 naming each field whose calendar a bridge says does not exist."""
        if self.missing:
            raise ValidationFailed("; ".join(self.missing.values()), details={"fields": [
                {"field": END_FIELDS[side], "message": message}
                for side, message in self.missing.items()]})


def check_ends(container: Container, mapping: ResourceMapping) -> EndsCheck:
    """Ask each end's bridge whether its calendar exists."""
    check = EndsCheck()
    for side in Side:
        bridge_name, calendar_id = mapping.end(side)
        name = END_FIELDS[side]
        bridge = container.bridges.get(bridge_name)
        if bridge is None:
            check.unchecked[side] = f"{name}: bridge {bridge_name!r} is not configured"
            continue
        try:
            exists = bridge.calendar_exists(calendar_id)
        except CalbridgeError as exc:
            check.unchecked[side] = (f"{name}: {bridge_name} could not be asked about "
                                     f"{calendar_id!r} ({exc.message})")
            continue
        if not exists:
            check.missing[side] = f"{name}: {bridge_name} says {calendar_id!r} does not exist"
    return check


def _save_state(container: Container, mapping: ResourceMapping,
                update: dict[str, Any]) -> ResourceMapping:
    """Store state calbridge keeps on a mapping, only when it changed. A mapping changed
    meanwhile by someone else keeps theirs: the next run records it again."""
    if all(getattr(mapping, key) == value for key, value in update.items()):
        return mapping
    try:
        return container.storage.mappings.save_state(mapping.model_copy(update=update))
    except EtagConflict:
        return mapping


def recheck(container: Container, mapping: ResourceMapping) -> ResourceMapping:
    """Ask again whether both ends of a mapping exist, and keep the answer."""
    return _save_state(container, mapping, check_ends(container, mapping).state())


def record_missing(container: Container, mapping: ResourceMapping, side: Side,
                   message: str) -> ResourceMapping:
    """A run found one end's calendar missing: the mapping is unverified until it is back."""
    return _save_state(container, mapping, {
        "verified": False, "verification_error": f"{END_FIELDS[side]}: {message}",
        "missing_end": side})


def record_run(container: Container, mapping: ResourceMapping,
               failure: EndFailure | None) -> ResourceMapping:
    """Count a failed run of a mapping, or clear the count after a good one."""
    if failure is None:
        return _save_state(container, mapping, {"failed_runs": 0, "last_failure": None})
    log.warning("mapping run failed", extra={"mapping_id": mapping.id, "bridge": failure.bridge,
                                             "code": failure.code})
    return _save_state(container, mapping, {"failed_runs": mapping.failed_runs + 1,
                                            "last_failure": failure})


def _check_bridge(container: Container, calendar_system: str) -> None:
    if calendar_system not in container.bridges:
        known = ", ".join(container.bridges) or "none"
        raise ValidationFailed(
            f"calendar_system {calendar_system!r} is not a configured bridge (configured: {known})",
            details={"fields": [{"field": "calendar_system", "message": "unknown bridge"}]})
    if calendar_system == container.settings.booking_bridge:
        raise ValidationFailed(
            "calendar_system must be a calendar bridge, not the booking system itself",
            details={"fields": [{"field": "calendar_system", "message": "same as booking system"}]})


def _verified(container: Container, mapping: ResourceMapping) -> ResourceMapping:
    """The mapping with its ends checked: 422 when a bridge says a calendar does not
    exist; unverified (checked again by the next run) when a bridge cannot be asked."""
    check = check_ends(container, mapping)
    check.refuse_missing()
    return mapping.model_copy(update={**check.state(), "failed_runs": 0, "last_failure": None})


def create_resource_mapping(container: Container, fields: ResourceMappingFields) -> ResourceMapping:
    """Store a new mapping once both ends are checked; `AlreadyExists` when the same pair
    is mapped already."""
    _check_bridge(container, fields.calendar_system)
    container.storage.ensure()
    mapping = ResourceMapping(**fields.model_dump(),
                              booking_system=container.settings.booking_bridge)
    existing = container.storage.mappings.find_pair(*mapping.pair_key())
    if existing is None:
        mapping = _verified(container, mapping)
    try:
        return container.storage.mappings.add(mapping)
    except AlreadyExists:
        existing = container.storage.mappings.find_pair(*mapping.pair_key())
        raise AlreadyExists(
            f"{mapping.booking_system_resource_id!r} is already mapped to "
            f"{mapping.calendar_system}:{mapping.calendar_resource_id!r}",
            details={"existing_id": existing.id if existing else None}) from None


def list_resource_mappings(container: Container, *, active: bool | None = None,
                           calendar_system: str | None = None) -> list[ResourceMapping]:
    container.storage.ensure()
    return container.storage.mappings.list(active=active, calendar_system=calendar_system)


def get_resource_mapping(container: Container, mapping_id: str) -> ResourceMapping:
    container.storage.ensure()
    return container.storage.mappings.get(mapping_id)


def mappings_for_resource(container: Container, booking_resource_id: str) -> list[ResourceMapping]:
    container.storage.ensure()
    return container.storage.mappings.list(booking_resource_id=booking_resource_id)


def update_resource_mapping(container: Container, mapping_id: str,
                            patch: ResourceMappingPatch) -> ResourceMapping:
    """Apply the given fields; the result is validated like a new mapping, and its ends
    are checked again when they changed."""
    container.storage.ensure()
    previous = container.storage.mappings.get(mapping_id)
    changes = patch.model_dump(exclude_unset=True)
    if any(value is None and key != "calendar_resource_name" for key, value in changes.items()):
        nulls = [k for k, v in changes.items() if v is None and k != "calendar_resource_name"]
        raise ValidationFailed(f"{', '.join(nulls)} cannot be null",
                               details={"fields": [{"field": k, "message": "cannot be null"}
                                                   for k in nulls]})
    merged = ResourceMappingFields.model_validate(
        {**previous.model_dump(include=set(ResourceMappingFields.model_fields)), **changes})
    if merged.calendar_system != previous.calendar_system:
        _check_bridge(container, merged.calendar_system)
    updated = previous.model_copy(update=merged.model_dump())
    if any(getattr(updated, name) != getattr(previous, name) for name in _ENDS):
        updated = _verified(container, updated)
    try:
        return container.storage.mappings.update(updated, previous=previous)
    except AlreadyExists:
        raise AlreadyExists(
            f"{updated.booking_system_resource_id!r} is already mapped to "
            f"{updated.calendar_system}:{updated.calendar_resource_id!r}") from None


def delete_resource_mapping(container: Container, mapping_id: str) -> ResourceMapping:
    container.storage.ensure()
    mapping = container.storage.mappings.get(mapping_id)
    container.storage.mappings.delete(mapping)
    return mapping
