"""The change cursor: an opaque position in the booking system's `updated_at` order.

`?since=` is inclusive, and several bookings can share one `updated_at`, so the cursor
keeps a change time plus the version of every booking already reported at or after
it: re-reading from that instant skips what was seen and reports anything else,
including another booking written in the same millisecond.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from datetime import datetime

from pydantic import BaseModel, Field, ValidationError

from calbridge.bridges.booking_system.payloads import BookingPayload, parse_instant
from calbridge.errors import SyncStateExpired

CURSOR_VERSION = 1


class ChangeCursor(BaseModel):
    v: int = CURSOR_VERSION
    since: str
    seen: dict[str, str] = Field(default_factory=dict)

    def encode(self) -> str:
        raw = json.dumps(self.model_dump(), separators=(",", ":"), sort_keys=True)
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> ChangeCursor:
        """Raises `SyncStateExpired` for anything this bridge did not write."""
        try:
            padded = text + "=" * (-len(text) % 4)
            cursor = cls.model_validate_json(base64.urlsafe_b64decode(padded.encode()))
            parse_instant(cursor.since)
        except (ValueError, binascii.Error, ValidationError):
            raise SyncStateExpired("booking system change cursor is not readable") from None
        if cursor.v != CURSOR_VERSION:
            raise SyncStateExpired("booking system change cursor is from another version")
        return cursor

    @classmethod
    def starting_at(cls, since: str, listed: Iterable[BookingPayload]) -> ChangeCursor:
        """A cursor from `since` that will not report the `listed` bookings again
        unless they change."""
        start = parse_instant(since)
        seen = {}
        for booking in listed:
            changed_at = _changed_at(booking)
            if changed_at is None or changed_at >= start:
                seen[booking.id] = booking.version_tag
        return cls(since=since, seen=seen)

    def is_new(self, booking: BookingPayload) -> bool:
        """False for a booking this cursor has already reported in this version."""
        return self.seen.get(booking.id) != booking.version_tag

    def advance(self, bookings: Iterable[BookingPayload]) -> ChangeCursor:
        """The cursor after reading every booking changed at or after `since`."""
        return after(bookings, start=self)


def _changed_at(booking: BookingPayload) -> datetime | None:
    try:
        return parse_instant(booking.updated_at) if booking.updated_at else None
    except ValueError:
        return None


def after(bookings: Iterable[BookingPayload], *, start: ChangeCursor) -> ChangeCursor:
    """The cursor positioned after the latest of `bookings` (or `start` when none is later).

    Bookings at or after `start.since` are remembered by version, so a later read from
    that instant reports only what changed again."""
    since_text, since = start.since, parse_instant(start.since)
    seen = dict(start.seen)
    for booking in bookings:
        changed_at = _changed_at(booking)
        if changed_at is None or changed_at < since:
            continue
        if changed_at > since:
            since, since_text, seen = changed_at, str(booking.updated_at), {}
        seen[booking.id] = booking.version_tag
    return ChangeCursor(since=since_text, seen=seen)
