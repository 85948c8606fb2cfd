"""Models and validation of what users send."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from calbridge.model import (
    ConflictPolicy,
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
