"""The change cursor: where the next read of the booking system's `updated_at` order starts.

`?since=` is inclusive. A booking may be committed after a read with an `updated_at`
older than what that read saw (a slow transaction, a database clock behind the one that
answers), so a read never starts later than `RE_READ_MARGIN` before the booking system's
clock said the previous read began: whatever was committed since is read again. What this
overlap re-reads is skipped when the cursor remembers the booking's version — it keeps the
latest ones read, as many as fit `SEEN_BUDGET` characters — and otherwise reported again,
which the sync engine recognises as unchanged by its fingerprint and does not write. So a
cursor has the same bounded size for ten bookings or ten thousand changed at one instant.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections import deque
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, Field, ValidationError

from calbridge.bridges.booking_system.payloads import BookingPayload, format_stamp, parse_instant
from calbridge.errors import SyncStateExpired

CURSOR_VERSION = 2
# Cursors written before the remembered versions were bounded: read, and upgraded.
_UNBOUNDED_VERSION = 1
# How far before the booking system's clock at the start of a read the next read starts,
# so a skewed clock or a slow commit cannot hide a change.
RE_READ_MARGIN = timedelta(minutes=5)
# The characters of JSON the remembered versions may take: the cursor stays far below
# Table Storage's 64 KiB per property (32 K UTF-16 characters) whatever the resource holds.
SEEN_BUDGET = 4096
_NEVER = datetime.min.replace(tzinfo=UTC)


class ChangeCursor(BaseModel):
    v: int = CURSOR_VERSION
    since: str
    # The versions of some bookings changed at or after `since` that were already reported.
    seen: dict[str, str] = Field(default_factory=dict)

    def encode(self) -> str:
        raw = json.dumps(self.model_dump(), separators=(",", ":"), sort_keys=True)
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> ChangeCursor:
        """Raises `SyncStateExpired` for anything this bridge did not write. A cursor of
        the earlier, unbounded form keeps its position and as much of what it saw as fits."""
        try:
            padded = text + "=" * (-len(text) % 4)
            cursor = cls.model_validate_json(base64.urlsafe_b64decode(padded.encode()))
            parse_instant(cursor.since)
        except (ValueError, binascii.Error, ValidationError):
            raise SyncStateExpired("booking system change cursor is not readable") from None
        if cursor.v == _UNBOUNDED_VERSION:
            return cls(since=cursor.since, seen=_within_budget(cursor.seen.items()))
        if cursor.v != CURSOR_VERSION:
            raise SyncStateExpired("booking system change cursor is from another version")
        return cursor

    @classmethod
    def opening(cls, read_started: datetime, listed: Iterable[BookingPayload]) -> ChangeCursor:
        """The first cursor, after a complete listing that began at `read_started` (the
        booking system's clock): it re-reads the margin before that, skipping the latest
        listed bookings unless they change."""
        recent = RecentBookings()
        for booking in sorted(listed, key=_order):
            recent.add(booking)
        return recent.cursor(read_started - RE_READ_MARGIN)

    def is_new(self, booking: BookingPayload) -> bool:
        """False for a booking this cursor has already reported in this version."""
        return self.seen.get(booking.id) != booking.version_tag


class RecentBookings:
    """The bookings of one read, in `(updated_at, id)` order: the latest change time and
    the latest versions that fit the cursor's budget (never the whole read)."""

    def __init__(self) -> None:
        self.latest: datetime | None = None
        self._entries: deque[tuple[datetime | None, str, str, int]] = deque()
        self._size = 0

    def add(self, booking: BookingPayload) -> None:
        changed_at = _changed_at(booking)
        if changed_at is not None and (self.latest is None or changed_at > self.latest):
            self.latest = changed_at
        cost = _cost(booking.id, booking.version_tag)
        self._entries.append((changed_at, booking.id, booking.version_tag, cost))
        self._size += cost
        while self._size > SEEN_BUDGET:
            self._size -= self._entries.popleft()[3]

    def cursor(self, since: datetime) -> ChangeCursor:
        """A cursor starting at `since` that skips the remembered bookings changed since."""
        seen = {event_id: version for changed_at, event_id, version, _ in self._entries
                if changed_at is None or changed_at >= since}
        return ChangeCursor(since=format_stamp(since), seen=seen)

    def next_cursor(self, read_started: datetime) -> ChangeCursor:
        """The cursor after this read, which began at `read_started` (the booking system's
        clock): from the margin before that, or from the latest change read when that is
        earlier (bookings committed at that instant after the read are read too)."""
        since = read_started - RE_READ_MARGIN
        if self.latest is not None:
            since = min(since, self.latest)
        return self.cursor(since)


def _changed_at(booking: BookingPayload) -> datetime | None:
    try:
        return parse_instant(booking.updated_at) if booking.updated_at else None
    except ValueError:
        return None


def _order(booking: BookingPayload) -> tuple[datetime, str]:
    return (_changed_at(booking) or _NEVER, booking.id)


def _cost(event_id: str, version: str) -> int:
    """The characters one remembered version takes in the cursor's JSON."""
    return len(json.dumps(event_id)) + len(json.dumps(version)) + 2


def _within_budget(entries: Iterable[tuple[str, str]]) -> dict[str, str]:
    kept: dict[str, str] = {}
    size = 0
    for event_id, version in entries:
        size += _cost(event_id, version)
        if size > SEEN_BUDGET:
            break
        kept[event_id] = version
    return kept
