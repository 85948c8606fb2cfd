"""Models and validation of what users send."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from calbridge.model import (
    ConflictPolicy,
    EndFailure,
    Event,
    EventLink,
    ResourceMapping,
    ResourceMappingFields,
    ResourceMappingPatch,
    Side,
    SyncDirection,
)
from calbridge.store.entities import from_entity, key_hash, to_entity


def test_guide_body_is_accepted_with_safe_defaults() -> None:
    fields = ResourceMappingFields.model_validate({
        "booking_system_resource_id": " room_123 ", "calendar_system": "outlook",
        "calendar_resource_id": "conference-room-a@company.com",
        "calendar_resource_name": "Conference Room A", "active": True})
    assert fields.booking_system_resource_id == "room_123"
    assert fields.sync_direction is SyncDirection.BOTH
    assert fields.conflict_policy is ConflictPolicy.ORIGIN_WINS


@pytest.mark.parametrize("change", [
    {"booking_system_resource_id": ""},
    {"booking_system_resource_id": "a\nb"},
    {"booking_system_resource_id": "x" * 513},
    {"calendar_system": "Outlook Calendar"},
    {"active": "perhaps"},
    {"sync_direction": "up"},
    {"unexpected": 1},
])
def test_bad_fields_are_refused(change: dict) -> None:
    body = {"booking_system_resource_id": "r", "calendar_system": "outlook",
            "calendar_resource_id": "c", **change}
    with pytest.raises(ValidationError):
        ResourceMappingFields.model_validate(body)


@pytest.mark.parametrize("odd", ["a?b", "room#1", "a\\b", "../x", "a/./b", "x/..", "a\x7fb"])
@pytest.mark.parametrize("field", ["booking_system_resource_id", "calendar_resource_id"])
def test_an_id_that_cannot_be_a_calendar_id_is_refused_naming_its_field(field: str,
                                                                      odd: str) -> None:
    body = {"booking_system_resource_id": "r", "calendar_system": "outlook",
            "calendar_resource_id": "c", field: odd}
    for model in (ResourceMappingFields, ResourceMappingPatch):
        with pytest.raises(ValidationError) as refused:
            model.model_validate(body)
        assert [error["loc"] for error in refused.value.errors()] == [(field,)]


@pytest.mark.parametrize("fine", ["room_123", "123", "conference-room-a@company.com",
                                  "room-calendar-id", "a/b", "AAMkAD+/="])
def test_calendar_ids_as_systems_write_them_are_accepted(fine: str) -> None:
    fields = ResourceMappingFields.model_validate({
        "booking_system_resource_id": fine, "calendar_system": "outlook",
        "calendar_resource_id": fine})
    assert fields.calendar_resource_id == fine


def test_a_stored_mapping_loads_as_written_with_its_state() -> None:
    # Rows from versions that checked ids less still load: a run reports them instead.
    mapping = ResourceMapping(booking_system_resource_id="a?b", calendar_system="outlook",
                              calendar_resource_id="../x", verified=False,
                              missing_end=Side.CALENDAR, failed_runs=2,
                              last_failure=EndFailure(side=Side.CALENDAR, bridge="outlook",
                                                      calendar_id="../x", error="gone"))
    loaded = from_entity(ResourceMapping, to_entity(mapping, "mapping", mapping.id))
    assert loaded == mapping and loaded.end(Side.CALENDAR) == ("outlook", "../x")
    older = to_entity(mapping, "mapping", mapping.id)
    for name in ("verified", "missing_end", "failed_runs", "last_failure"):
        del older[name]
    assert from_entity(ResourceMapping, older).verified is None


def test_patch_knows_what_was_set() -> None:
    patch = ResourceMappingPatch.model_validate({"active": False})
    assert patch.model_dump(exclude_unset=True) == {"active": False}


def test_timed_events_need_an_aware_instant() -> None:
    with pytest.raises(ValidationError):
        Event(start=datetime(2030, 1, 1, 9), end=datetime(2030, 1, 1, 10))
    event = Event(start=date(2030, 1, 1), end=date(2030, 1, 2), all_day=True)
    assert event.start == date(2030, 1, 1)


def test_entities_round_trip_models() -> None:
    mapping = ResourceMapping(booking_system_resource_id="r", calendar_system="outlook",
                              calendar_resource_id="c", calendar_resource_name=None)
    entity = to_entity(mapping, "mapping", mapping.id, kind="mapping")
    assert "calendar_resource_name" not in entity and entity["conflict_policy"] == "origin_wins"
    assert from_entity(ResourceMapping, entity) == mapping

    link = EventLink(mapping_id="m", origin=Side.CALENDAR, calendar_event_id="AAMk/+=",
                     created_at=datetime(2030, 1, 1, tzinfo=UTC))
    assert from_entity(EventLink, to_entity(link, "m", "link-" + link.id)) == link


def test_key_hash_is_stable_and_key_safe() -> None:
    assert key_hash("a/b#c?d\\e") == key_hash("a/b#c?d\\e")
    assert key_hash("a", "b") != key_hash("ab")
    assert all(ch in "0123456789abcdef" for ch in key_hash("x/y"))
