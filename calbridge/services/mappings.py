"""Resource mappings: which calendar is kept in step with which (two equal ends), and
whether both of those calendars exist."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from calbridge.bootstrap import Container
from calbridge.errors import AlreadyExists, CalbridgeError, EtagConflict, ValidationFailed
from calbridge.model import (
    End,
    EndFailure,
    MappingPatch,
    MappingRequest,
    ResourceMapping,
    guide_field,
)

log = logging.getLogger(__name__)


def end_field(end: End, form: str = "guide") -> str:
    """The field that names an end's calendar, as the user's form of the API calls it."""
    name = f"{end.value}.calendar_id"
    return guide_field(name) if form == "guide" else name


@dataclass
class EndsCheck:
    """What the bridges said about a mapping's two calendars: the ends they say do not
    exist, and the ends they could not be asked about (each with its reason)."""

    missing: dict[End, str] = field(default_factory=dict)
    unchecked: dict[End, str] = field(default_factory=dict)
    form: str = "guide"

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
                {"field": end_field(end, self.form), "message": message}
                for end, message in self.missing.items()]})


def check_ends(container: Container, mapping: ResourceMapping,
               form: str = "guide") -> EndsCheck:
    """Ask each end's bridge whether its calendar exists."""
    check = EndsCheck(form=form)
    for end in End:
        bridge_name, calendar_id = mapping.end(end).bridge, mapping.end(end).calendar_id
        name = end_field(end, form)
        bridge = container.bridges.get(bridge_name)
        if bridge is None:
            check.unchecked[end] = f"{name}: bridge {bridge_name!r} is not configured"
            continue
        try:
            exists = bridge.calendar_exists(calendar_id)
        except CalbridgeError as exc:
            check.unchecked[end] = (f"{name}: {bridge_name} could not be asked about "
                                     f"{calendar_id!r} ({exc.message})")
            continue
        if not exists:
            check.missing[end] = f"{name}: {bridge_name} says {calendar_id!r} does not exist"
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


def record_missing(container: Container, mapping: ResourceMapping, end: End,
                   message: str) -> ResourceMapping:
    """A run found one end's calendar missing: the mapping is unverified until it is back."""
    return _save_state(container, mapping, {
        "verified": False, "verification_error": f"{end_field(end)}: {message}",
        "missing_end": end})


def record_run(container: Container, mapping: ResourceMapping,
               failure: EndFailure | None) -> ResourceMapping:
    """Count a failed run of a mapping, or clear the count after a good one."""
    if failure is None:
        return _save_state(container, mapping, {"failed_runs": 0, "last_failure": None})
    log.warning("mapping run failed", extra={"mapping_id": mapping.id, "bridge": failure.bridge,
                                             "code": failure.code, "error": failure.error})
    return _save_state(container, mapping, {"failed_runs": mapping.failed_runs + 1,
                                            "last_failure": failure})


def _check_ends(container: Container, mapping: ResourceMapping,
                form: str) -> ResourceMapping:
    """Both bridges configured, and two different calendars: the mapping with each
    calendar id as its system spells it (`CalendarBridge.canonical_calendar_id`)."""
    for end in End:
        bridge = mapping.end(end).bridge
        if bridge not in container.bridges:
            known = ", ".join(container.bridges) or "none"
            name = guide_field(f"{end.value}.bridge") if form == "guide" else f"{end.value}.bridge"
            raise ValidationFailed(
                f"{name} {bridge!r} is not a configured bridge (configured: {known})",
                details={"fields": [{"field": name, "message": "unknown bridge"}]})
    mapping = mapping.model_copy(update={end.value: mapping.end(end).model_copy(update={
        "calendar_id": container.bridges[mapping.end(end).bridge].canonical_calendar_id(
            mapping.end(end).calendar_id)}) for end in End})
    if mapping.pair_key()[:2] == mapping.pair_key()[2:]:
        name = end_field(End.B, form)
        raise ValidationFailed("a calendar cannot be mapped to itself", details={"fields": [
            {"field": name, "message": "same calendar as the other end"}]})
    return mapping


def _mapped_already(container: Container, mapping: ResourceMapping) -> ResourceMapping | None:
    """Another mapping of the same two calendars, whichever end each is at: two mappings
    of one pair would each copy the other calendar's events, twice."""
    swapped = mapping.model_copy(update={"a": mapping.b, "b": mapping.a})
    for candidate in (mapping, swapped):
        found = container.storage.mappings.find_pair(candidate)
        if found is not None and found.id != mapping.id:
            return found
    return None


def _verified(container: Container, mapping: ResourceMapping,
              form: str = "guide") -> ResourceMapping:
    """The mapping with its ends checked: 422 when a bridge says a calendar does not
    exist; unverified (checked again by the next run) when a bridge cannot be asked."""
    check = check_ends(container, mapping, form)
    check.refuse_missing()
    return mapping.model_copy(update={**check.state(), "failed_runs": 0, "last_failure": None})


def booking_end(container: Container, mapping: ResourceMapping) -> End | None:
    """The end whose bridge is a booking system (the usage guide's booking mappings have
    it at `a`, which is preferred when both ends are)."""
    return next((end for end in End
                 if (bridge := container.bridges.get(mapping.end(end).bridge)) is not None
                 and bridge.capabilities.bookings), None)


def describe_pair(mapping: ResourceMapping) -> str:
    return (f"{mapping.a.bridge}:{mapping.a.calendar_id!r} and "
            f"{mapping.b.bridge}:{mapping.b.calendar_id!r}")


def create_resource_mapping(container: Container, request: MappingRequest,
                            form: str = "guide") -> ResourceMapping:
    """Store a new mapping once both ends are checked; `AlreadyExists` when the same two
    calendars are mapped already, in either order and under any spelling of their ids
    their systems take as the same."""
    mapping = _check_ends(container, ResourceMapping(**request.model_dump()), form)
    existing = _mapped_already(container, mapping)
    if existing is None:
        mapping = _verified(container, mapping, form)
        try:
            return container.storage.mappings.add(mapping)
        except AlreadyExists:
            existing = container.storage.mappings.find_pair(mapping)
    raise AlreadyExists(f"{describe_pair(existing or mapping)} are already mapped",
                        details={"existing_id": existing.id if existing else None})


def list_resource_mappings(container: Container, *, active: bool | None = None,
                           bridge: str | None = None) -> list[ResourceMapping]:
    return container.storage.mappings.list(active=active, bridge=bridge)


def get_resource_mapping(container: Container, mapping_id: str) -> ResourceMapping:
    return container.storage.mappings.get(mapping_id)


def mappings_for_calendar(container: Container, calendar_id: str) -> list[ResourceMapping]:
    """Mappings with an end on this calendar (either end)."""
    return container.storage.mappings.list(calendar_id=calendar_id)


def update_resource_mapping(container: Container, mapping_id: str, patch: MappingPatch,
                            form: str = "guide") -> ResourceMapping:
    """Apply the given fields; the result is validated like a new mapping, and its ends
    are checked again when they changed."""
    previous = container.storage.mappings.get(mapping_id)
    changes = patch.model_dump(exclude_unset=True)
    ends = {name: changes.pop(name) for name in ("a", "b") if name in changes}
    nulls = [key for key, value in changes.items() if value is None]
    nulls += [f"{end}.{key}" for end, given in ends.items()
              for key, value in given.items() if value is None and key != "name"]
    if nulls:
        names = [guide_field(n) if form == "guide" else n for n in nulls]
        raise ValidationFailed(f"{', '.join(names)} cannot be null",
                               details={"fields": [{"field": n, "message": "cannot be null"}
                                                   for n in names]})
    merged = {"a": previous.a.model_dump(), "b": previous.b.model_dump(),
              "active": previous.active, "direction": previous.direction,
              "conflict_policy": previous.conflict_policy, **changes}
    for end, given in ends.items():
        merged[end] = {**merged[end], **given}
    request = MappingRequest.model_validate(merged)
    updated = ResourceMapping.model_validate({**previous.model_dump(), **request.model_dump()})
    updated.etag = previous.etag
    if updated.pair_key() != previous.pair_key():
        updated = _check_ends(container, updated, form)
        if (existing := _mapped_already(container, updated)) is not None:
            raise AlreadyExists(f"{describe_pair(existing)} are already mapped",
                                details={"existing_id": existing.id})
    if updated.pair_key() != previous.pair_key():
        updated = _verified(container, updated, form)
    try:
        return container.storage.mappings.update(updated, previous=previous)
    except AlreadyExists:
        raise AlreadyExists(f"{describe_pair(updated)} are already mapped") from None


def delete_resource_mapping(container: Container, mapping_id: str) -> ResourceMapping:
    mapping = container.storage.mappings.get(mapping_id)
    container.storage.mappings.delete(mapping)
    return mapping
