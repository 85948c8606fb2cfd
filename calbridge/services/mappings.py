"""Resource mappings: which booking resource is synced with which calendar."""

from __future__ import annotations

from calbridge.bootstrap import Container
from calbridge.errors import AlreadyExists, ValidationFailed
from calbridge.model import ResourceMapping, ResourceMappingFields, ResourceMappingPatch


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


def create_resource_mapping(container: Container, fields: ResourceMappingFields) -> ResourceMapping:
    """Store a new mapping; `AlreadyExists` when the same pair is mapped already."""
    _check_bridge(container, fields.calendar_system)
    container.storage.ensure()
    mapping = ResourceMapping(**fields.model_dump(),
                              booking_system=container.settings.booking_bridge)
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
    """Apply the given fields; the result is validated like a new mapping."""
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
