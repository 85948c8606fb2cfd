"""Models and validation of what users send."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from calbridge.model import (
    ConflictPolicy,
    Direction,
    End,
    EndFailure,
    Event,
    EventLink,
    MappingPatch,
    MappingRequest,
    ResourceMapping,
    SyncWork,
)
from calbridge.store.entities import from_entity, key_hash, to_entity


def test_guide_body_is_accepted_with_safe_defaults() -> None:
    context: dict[str, str] = {"booking_bridge": "booking_system"}
    fields = MappingRequest.model_validate({
        "booking_system_resource_id": " room_123 ", "calendar_system": "outlook",
        "calendar_resource_id": "conference-room-a@company.com",
        "calendar_resource_name": "Conference Room A", "active": True}, context=context)
    assert (fields.a.bridge, fields.a.calendar_id) == ("booking_system", "room_123")
    assert (fields.b.bridge, fields.b.calendar_id, fields.b.name) == (
        "outlook", "conference-room-a@company.com", "Conference Room A")
    assert fields.direction is Direction.BOTH
    assert fields.conflict_policy is ConflictPolicy.ORIGIN_WINS
    assert context["form"] == "guide"


def test_the_general_form_joins_any_two_calendars() -> None:
    context: dict[str, str] = {}
    fields = MappingRequest.model_validate({
        "a": {"bridge": "outlook", "calendar_id": "room-a@x"},
        "b": {"bridge": "outlook_eu", "calendar_id": "room-b@x"}, "direction": "b_to_a",
        "conflict_policy": "b_wins"}, context=context)
    assert (fields.a.bridge, fields.b.bridge, fields.direction) == (
        "outlook", "outlook_eu", Direction.B_TO_A)
    assert fields.conflict_policy is ConflictPolicy.B_WINS and context["form"] == "ends"


@pytest.mark.parametrize(("old", "new"), [("to_calendar", Direction.A_TO_B),
                                          ("from_calendar", Direction.B_TO_A)])
def test_the_guides_directions_keep_working(old: str, new: Direction) -> None:
    fields = MappingRequest.model_validate({
        "booking_system_resource_id": "r", "calendar_system": "outlook",
        "calendar_resource_id": "c", "sync_direction": old})
    assert fields.direction is new
    assert MappingPatch.model_validate({"sync_direction": old}).direction is new


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
        MappingRequest.model_validate(body)


@pytest.mark.parametrize("odd", ["a?b", "room#1", "a\\b", "../x", "a/./b", "x/..", "a\x7fb"])
@pytest.mark.parametrize(("field", "end"), [("booking_system_resource_id", "a"),
                                            ("calendar_resource_id", "b")])
def test_an_id_that_cannot_be_a_calendar_id_is_refused_naming_its_end(field: str, end: str,
                                                                     odd: str) -> None:
    body = {"booking_system_resource_id": "r", "calendar_system": "outlook",
            "calendar_resource_id": "c", field: odd}
    for model in (MappingRequest, MappingPatch):
        with pytest.raises(ValidationError) as refused:
            model.model_validate(body)
        assert [error["loc"] for error in refused.value.errors()] == [(end, "calendar_id")]


@pytest.mark.parametrize("fine", ["room_123", "123", "conference-room-a@company.com",
                                  "room-calendar-id", "a/b", "AAMkAD+/="])
def test_calendar_ids_as_systems_write_them_are_accepted(fine: str) -> None:
    fields = MappingRequest.model_validate({
        "booking_system_resource_id": fine, "calendar_system": "outlook",
        "calendar_resource_id": fine})
    assert fields.a.calendar_id == fields.b.calendar_id == fine


def test_a_stored_mapping_loads_as_written_with_its_state() -> None:
    # Rows from versions that checked ids less still load: a run reports them instead.
    mapping = ResourceMapping(booking_system_resource_id="a?b", calendar_system="outlook",
                              calendar_resource_id="../x", verified=False,
                              missing_end=End.B, failed_runs=2,
                              last_failure=EndFailure(side=End.B, bridge="outlook",
                                                      calendar_id="../x", error="gone"))
    loaded = from_entity(ResourceMapping, to_entity(mapping, "mapping", mapping.id))
    assert loaded == mapping and (loaded.b.bridge, loaded.b.calendar_id) == ("outlook", "../x")
    older = to_entity(mapping, "mapping", mapping.id)
    for name in ("verified", "missing_end", "failed_runs", "last_failure"):
        del older[name]
    assert from_entity(ResourceMapping, older).verified is None


def test_patch_knows_what_was_set() -> None:
    patch = MappingPatch.model_validate({"active": False})
    assert patch.model_dump(exclude_unset=True) == {"active": False}
    moved = MappingPatch.model_validate({"calendar_resource_id": "room-b@x"})
    assert moved.model_dump(exclude_unset=True) == {"b": {"calendar_id": "room-b@x"}}


def test_rows_written_by_role_load_as_two_ends() -> None:
    # What versions before two equal ends stored, and queued.
    mapping = ResourceMapping.model_validate({
        "id": "m1", "booking_system": "booking_system", "booking_system_resource_id": "r1",
        "calendar_system": "outlook", "calendar_resource_id": "room@x",
        "calendar_resource_name": "Room", "sync_direction": "from_calendar"})
    assert (mapping.a.calendar_id, mapping.b.calendar_id, mapping.b.name) == (
        "r1", "room@x", "Room")
    assert mapping.direction is Direction.B_TO_A
    link = EventLink.model_validate({
        "mapping_id": "m1", "origin": "calendar", "booking_id": "78", "calendar_event_id": "AAk",
        "booking_fingerprint": "f1", "calendar_etag": "e2", "pending_side": "booking",
        "cancelled_by": "calendar"})
    assert (link.origin, link.pending_end, link.cancelled_by) == (End.B, End.A, End.B)
    assert (link.a.event_id, link.a.fingerprint, link.b.event_id, link.b.etag) == (
        "78", "f1", "AAk", "e2")
    assert SyncWork.model_validate({"mapping_id": "m1", "source": "booking",
                                    "source_id": "78"}).source is End.A


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
    assert "booking_system_resource_id" not in entity
    assert from_entity(ResourceMapping, entity) == mapping

    link = EventLink(mapping_id="m", origin=End.B, b={"event_id": "AAMk/+="},
                     created_at=datetime(2030, 1, 1, tzinfo=UTC))
    assert from_entity(EventLink, to_entity(link, "m", "link-" + link.id)) == link


def test_key_hash_is_stable_and_key_safe() -> None:
    assert key_hash("a/b#c?d\\e") == key_hash("a/b#c?d\\e")
    assert key_hash("a", "b") != key_hash("ab")
    assert all(ch in "0123456789abcdef" for ch in key_hash("x/y"))
