"""Checking request bodies: which fields an event or resource may carry, and of which type."""

from __future__ import annotations

import json
import re
from typing import Any

from .errors import InvalidField, MalformedJson
from .timestamps import (
    check_zone,
    format_instant,
    midnight,
    parse_all_day,
    parse_instant,
    stamp,
)

# Longest accepted text per field, so one row cannot grow without bound.
_TEXT_LIMITS = {
    "external_id": 1024,
    "source_system": 100,
    "resource_id": 100,
    "title": 1000,
    "description": 100_000,
    "location": 1000,
}
_REQUIRED_ON_CREATE = ("resource_id", "title", "start_time", "end_time")
_NON_NULL = ("resource_id", "title", "start_time", "end_time", "all_day", "active")
_RESOURCE_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def parse_json_object(raw: bytes) -> dict[str, Any]:
    """The body as a JSON object; 400 when it is not JSON or not an object."""
    try:
        body = json.loads(raw.decode("utf-8")) if raw else None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedJson(f"body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise MalformedJson("body must be a JSON object")
    return body


def _text(body: dict[str, Any], field: str) -> str | None:
    value = body[field]
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidField(field, "must be a string")
    if len(value) > _TEXT_LIMITS[field]:
        raise InvalidField(field, f"longer than {_TEXT_LIMITS[field]} characters")
    return value


def _flag(body: dict[str, Any], field: str) -> bool:
    value = body[field]
    if not isinstance(value, bool):
        raise InvalidField(field, "must be true or false")
    return value


def _organizer(value: object) -> dict[str, str | None] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidField("organizer", "must be an object with name and email")
    organizer: dict[str, str | None] = {}
    for key in ("name", "email"):
        item = value.get(key)
        if item is not None and not isinstance(item, str):
            raise InvalidField(f"organizer.{key}", "must be a string")
        if item is not None and len(item) > 320:
            raise InvalidField(f"organizer.{key}", "longer than 320 characters")
        organizer[key] = item
    return organizer


def read_event_changes(body: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    """The event fields present in ``body``, type-checked; unknown fields are ignored."""
    if creating:
        for field in _REQUIRED_ON_CREATE:
            if body.get(field) is None:
                raise InvalidField(field, "is required", code="missing_field")
    changes: dict[str, Any] = {}
    for field in body:
        if field in _NON_NULL and body[field] is None:
            raise InvalidField(field, "must not be null")
    for field in _TEXT_LIMITS:
        if field in body:
            changes[field] = _text(body, field)
    if "title" in changes and not changes["title"].strip():
        raise InvalidField("title", "must not be blank")
    for field in ("start_time", "end_time"):
        if field in body:
            if not isinstance(body[field], str):
                raise InvalidField(field, "must be an ISO 8601 string")
            changes[field] = body[field]
    for field in ("all_day", "active"):
        if field in body:
            changes[field] = _flag(body, field)
    if "timezone" in body:
        changes["timezone"] = None if body["timezone"] is None else check_zone(
            body["timezone"], "timezone"
        )
    if "organizer" in body:
        changes["organizer"] = _organizer(body["organizer"])
    return changes


def settle_times(event: dict[str, Any]) -> dict[str, Any]:
    """Normalise ``start_time``/``end_time`` of a whole event and add its UTC sort keys.

    Timed events are stored in UTC (``...Z``); all-day events as dates with an exclusive
    end date. ``end_time`` must be after ``start_time``.
    """
    zone = event.get("timezone")
    if event.get("all_day"):
        first = parse_all_day(event["start_time"], "start_time")
        last = parse_all_day(event["end_time"], "end_time")
        if last <= first:
            raise InvalidField("end_time", "must be after start_time (the end date is exclusive)")
        start, end = midnight(first, zone), midnight(last, zone)
        event["start_time"], event["end_time"] = first.isoformat(), last.isoformat()
    else:
        start = parse_instant(event["start_time"], "start_time")
        end = parse_instant(event["end_time"], "end_time")
        if end <= start:
            raise InvalidField("end_time", "must be after start_time")
        event["start_time"], event["end_time"] = format_instant(start), format_instant(end)
    event["start_utc"], event["end_utc"] = stamp(start), stamp(end)
    return event


def read_resource(body: dict[str, Any]) -> dict[str, Any]:
    """A new resource: ``name`` (required), ``id`` and ``location`` (optional)."""
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InvalidField("name", "is required and must be a non-blank string")
    if len(name) > 200:
        raise InvalidField("name", "longer than 200 characters")
    resource_id = body.get("id")
    if resource_id is not None and (
        not isinstance(resource_id, str) or not _RESOURCE_ID.match(resource_id)
    ):
        raise InvalidField("id", "must be 1-64 letters, digits, '_', '.' or '-'")
    location = body.get("location")
    if location is not None and (not isinstance(location, str) or len(location) > 1000):
        raise InvalidField("location", "must be a string of at most 1000 characters")
    return {"id": resource_id, "name": name, "location": location}
