"""What the booking system does with bookings: create, change, cancel, purge, list.

Both the JSON API and the web page go through here, so every change is stored the
same way and announced to the webhook notifier after it is committed.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from .db import BookingStore
from .errors import InvalidField, NotFound, PreconditionFailed
from .payloads import read_event_changes, read_resource, settle_times
from .timestamps import parse_instant, stamp
from .webhooks import WebhookNotifier

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 500

_NEW_EVENT_DEFAULTS: dict[str, Any] = {
    "external_id": None, "source_system": None, "description": None, "all_day": False,
    "timezone": None, "location": None, "organizer": None, "active": True,
}


def encode_cursor(event: dict[str, Any]) -> str:
    """An opaque position just after ``event`` in ``(updated_at, id)`` order."""
    raw = json.dumps([event["updated_at"], int(event["id"])], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, int]:
    """The position a cursor stands for; 422 when it was not made by :func:`encode_cursor`."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        updated_at, event_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(updated_at, str) or not isinstance(event_id, int):
            raise ValueError(cursor)
    except (ValueError, TypeError, binascii.Error):
        raise InvalidField("cursor", "not a cursor returned by this API") from None
    return updated_at, event_id


def _event_key(event_id: str) -> int:
    if not event_id.isdigit() or len(event_id) > 18:
        raise NotFound(f"no event {event_id!r}")
    return int(event_id)


def check_if_match(event: dict[str, Any], if_match: str | None) -> None:
    """412 unless ``If-Match`` is absent, ``*`` or names the event's current version."""
    if if_match is None:
        return
    for candidate in if_match.split(","):
        tag = candidate.strip().removeprefix("W/").strip('"')
        if tag == "*" or tag == str(event["version"]):
            return
    raise PreconditionFailed(
        f"event {event['id']} is at version {event['version']}, not {if_match.strip()}"
    )


def _change_type(before: dict[str, Any], after: dict[str, Any]) -> str:
    if before["active"] and not after["active"]:
        return "cancelled"
    if not before["active"] and after["active"]:
        return "reactivated"
    return "updated"


def _public(event: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in event.items() if key not in ("start_utc", "end_utc")}


class BookingService:
    """Use cases over the store; every committed change is handed to the notifier."""

    def __init__(self, store: BookingStore, notifier: WebhookNotifier):
        self.store = store
        self.notifier = notifier

    # Resources

    def list_resources(self) -> list[dict[str, Any]]:
        """Every bookable resource."""
        return self.store.list_resources()

    def get_resource(self, resource_id: str) -> dict[str, Any]:
        """One resource; 404 when unknown."""
        resource = self.store.get_resource(resource_id)
        if resource is None:
            raise NotFound(f"no resource {resource_id!r}")
        return resource

    def add_resource(self, body: dict[str, Any]) -> dict[str, Any]:
        """Add a resource (409 when its id is taken)."""
        return self.store.add_resource(read_resource(body))

    # Events

    def get_event(self, event_id: str) -> dict[str, Any]:
        """One booking, active or cancelled; 404 when unknown or purged."""
        event = self.store.get_event(_event_key(event_id))
        if event is None:
            raise NotFound(f"no event {event_id!r}")
        return event

    def create_event(self, body: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Create a booking, or return the one already made from the same origin.

        The origin is ``(source_system, external_id)`` within the booking's resource (the
        same calendar event may be booked in two resources); the boolean says whether a
        new booking was made.
        """
        event = settle_times({**_NEW_EVENT_DEFAULTS, **read_event_changes(body, creating=True)})
        with self.store.transaction():
            if event["external_id"] is not None:
                existing = self.store.find_by_origin(
                    event["source_system"], event["external_id"], event["resource_id"]
                )
                if existing is not None:
                    return existing, False
            self._check_resource(event["resource_id"])
            stored = self.store.insert_event(event)
        self.notifier.notify("created", stored)
        return stored, True

    def update_event(
        self, event_id: str, body: dict[str, Any], if_match: str | None = None
    ) -> dict[str, Any]:
        """Apply the given fields (``active: true`` re-enables a cancelled booking)."""
        changes = read_event_changes(body, creating=False)
        key = _event_key(event_id)
        with self.store.transaction():
            current = self.store.get_event_row(key)
            if current is None:
                raise NotFound(f"no event {event_id!r}")
            check_if_match(current, if_match)
            if changes.get("resource_id", current["resource_id"]) != current["resource_id"]:
                self._check_resource(changes["resource_id"])
            stored = self.store.replace_event(key, settle_times({**current, **changes}))
        self.notifier.notify(_change_type(current, stored), stored)
        return stored

    def cancel_event(self, event_id: str, if_match: str | None = None) -> dict[str, Any]:
        """Mark a booking cancelled (``active = false``); cancelling twice changes nothing."""
        key = _event_key(event_id)
        with self.store.transaction():
            current = self.store.get_event_row(key)
            if current is None:
                raise NotFound(f"no event {event_id!r}")
            check_if_match(current, if_match)
            if not current["active"]:
                return _public(current)
            stored = self.store.replace_event(key, {**current, "active": False})
        self.notifier.notify("cancelled", stored)
        return stored

    def purge_event(self, event_id: str, if_match: str | None = None) -> dict[str, Any]:
        """Delete the row for good and return its last state."""
        key = _event_key(event_id)
        with self.store.transaction():
            current = self.store.get_event(key)
            if current is None:
                raise NotFound(f"no event {event_id!r}")
            check_if_match(current, if_match)
            self.store.delete_event(key)
        self.notifier.notify("purged", current)
        return current

    def list_events(self, query: dict[str, str]) -> dict[str, Any]:
        """A page of bookings in ``(updated_at, id)`` order: ``{"events", "next_cursor"}``."""
        limit = self._limit(query.get("limit"))
        filters: dict[str, Any] = {
            name: query.get(name) for name in ("resource_id", "external_id", "source_system")
        }
        if "active" in query:
            filters["active"] = self._flag(query["active"], "active")
        since = query.get("since")
        events = self.store.list_events(
            filters=filters,
            since=stamp(parse_instant(since, "since")) if since else None,
            after=decode_cursor(query["cursor"]) if query.get("cursor") else None,
            starts_before=self._instant(query, "starts_before"),
            ends_after=self._instant(query, "ends_after"),
            limit=limit + 1,
        )
        next_cursor = encode_cursor(events[limit - 1]) if len(events) > limit else None
        return {"events": events[:limit], "next_cursor": next_cursor}

    def reset(self, *, seed: bool) -> None:
        """Empty the database (reseeding the default resources when asked)."""
        self.store.reset(seed=seed)

    def _check_resource(self, resource_id: str) -> None:
        if self.store.get_resource(resource_id) is None:
            raise InvalidField(
                "resource_id", f"unknown resource {resource_id!r}", code="unknown_resource"
            )

    @staticmethod
    def _limit(value: str | None) -> int:
        if value is None:
            return DEFAULT_PAGE_SIZE
        if not value.isdigit() or not 1 <= int(value) <= MAX_PAGE_SIZE:
            raise InvalidField("limit", f"must be an integer from 1 to {MAX_PAGE_SIZE}")
        return int(value)

    @staticmethod
    def _flag(value: str, field: str) -> bool:
        if value.lower() in ("true", "1"):
            return True
        if value.lower() in ("false", "0"):
            return False
        raise InvalidField(field, "must be true or false")

    @staticmethod
    def _instant(query: dict[str, str], field: str) -> str | None:
        value = query.get(field)
        return stamp(parse_instant(value, field)) if value else None
