"""Canonical models shared by every layer (pydantic v2)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)


def utcnow() -> datetime:
    """The current instant, timezone-aware UTC, to the millisecond."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def new_id() -> str:
    """A random identifier safe in Table Storage keys and URLs."""
    return uuid.uuid4().hex


# Identifiers that end up in Table Storage keys or URLs: printable, bounded.
Identifier = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=512, pattern=r"^[^\x00-\x1f\x7f]+$"
    ),
]
BridgeName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,62}$")]

_URL_SYNTAX = re.compile(r"[?#\\]")


def _calendar_id(value: str) -> str:
    # Calendar ids go into upstream URLs: escaped there, but an id that only makes sense
    # as URL syntax (a query, a fragment, a step up the path) is a mistake, not a calendar.
    if _URL_SYNTAX.search(value):
        raise ValueError("a calendar id cannot contain '?', '#' or '\\'")
    if any(part in (".", "..") for part in value.split("/")):
        raise ValueError("a calendar id cannot have '.' or '..' path segments")
    return value


# A mailbox address, resource id or calendar id as users give it.
CalendarId = Annotated[Identifier, AfterValidator(_calendar_id)]


class SyncStatus(StrEnum):
    PENDING = "pending"
    SYNCED = "synced"
    ERROR = "error"
    CONFLICT = "conflict"
    CANCELLED = "cancelled"
    DELETED = "deleted"


class SyncDirection(StrEnum):
    BOTH = "both"
    TO_CALENDAR = "to_calendar"
    FROM_CALENDAR = "from_calendar"


class ConflictPolicy(StrEnum):
    ORIGIN_WINS = "origin_wins"
    NEWEST_WINS = "newest_wins"
    MANUAL = "manual"


class EventField(StrEnum):
    """What an update can change, each carried on its own: an update writes only the
    fields whose canonical value changed (sync rule 8). `when` is start, end and
    all-day together."""

    TITLE = "title"
    DESCRIPTION = "description"
    WHEN = "when"
    LOCATION = "location"
    STATUS = "status"
    PRIVACY = "privacy"
    RECURRENCE = "recurrence"


class Side(StrEnum):
    """The two ends of a resource mapping."""

    BOOKING = "booking"
    CALENDAR = "calendar"


# ---------------------------------------------------------------- resource mappings


class ResourceMappingFields(BaseModel):
    """What a user says about a mapping (the guide's body plus direction and policy)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    booking_system_resource_id: CalendarId
    calendar_system: BridgeName
    calendar_resource_id: CalendarId
    calendar_resource_name: Annotated[str, StringConstraints(max_length=256)] | None = None
    active: bool = True
    sync_direction: SyncDirection = SyncDirection.BOTH
    conflict_policy: ConflictPolicy = ConflictPolicy.ORIGIN_WINS


class ResourceMappingPatch(BaseModel):
    """A partial update: only the fields given change."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    booking_system_resource_id: CalendarId | None = None
    calendar_system: BridgeName | None = None
    calendar_resource_id: CalendarId | None = None
    calendar_resource_name: Annotated[str, StringConstraints(max_length=256)] | None = None
    active: bool | None = None
    sync_direction: SyncDirection | None = None
    conflict_policy: ConflictPolicy | None = None


class EndFailure(BaseModel):
    """What went wrong at one end of a mapping: the side, its bridge and calendar, and
    what that system answered."""

    side: Side
    bridge: str
    calendar_id: str
    error: str
    code: str = "upstream_error"
    at: datetime = Field(default_factory=utcnow)


class ResourceMapping(ResourceMappingFields):
    """A stored mapping: booking resource ↔ one calendar of one calendar system."""

    model_config = ConfigDict(extra="ignore")

    # Stored rows load as they were written, even by versions that checked ids less.
    booking_system_resource_id: str
    calendar_resource_id: str
    id: str = Field(default_factory=new_id)
    booking_system: BridgeName = "booking_system"
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    # Both ends found to exist (None: not checked yet; False: an end is missing, or
    # could not be checked — `verification_error` says which and why).
    verified: bool | None = None
    verification_error: str | None = None
    missing_end: Side | None = None
    # Runs of this mapping that failed in a row, and the last failure.
    failed_runs: int = 0
    last_failure: EndFailure | None = None
    etag: str | None = Field(default=None, exclude=True)

    def pair_key(self) -> tuple[str, str, str]:
        """What makes two mappings the same mapping."""
        return (self.booking_system_resource_id, self.calendar_system, self.calendar_resource_id)

    def end(self, side: Side) -> tuple[str, str]:
        """One end as (bridge, calendar id)."""
        if side is Side.BOOKING:
            return self.booking_system, self.booking_system_resource_id
        return self.calendar_system, self.calendar_resource_id


# ---------------------------------------------------------------- event links


class EventLink(BaseModel):
    """One synced pair of events: the booking side and the calendar side of a mapping."""

    id: str = Field(default_factory=new_id)
    mapping_id: str
    item_type: str = "event"
    origin: Side
    booking_id: str | None = None
    calendar_event_id: str | None = None
    status: SyncStatus = SyncStatus.PENDING
    booking_fingerprint: str | None = None
    calendar_fingerprint: str | None = None
    booking_etag: str | None = None
    calendar_etag: str | None = None
    # A short hash per `EventField` of each side as last synced: which fields changed
    # since, on either side (only those are written; the same field changed on both
    # sides is a conflict).
    booking_fields: dict[str, str] | None = None
    calendar_fields: dict[str, str] | None = None
    attempts: int = 0
    last_error: str | None = None
    next_attempt_at: datetime | None = None
    # Which side's state still has to reach the other (for retries and webhooks).
    pending_side: Side | None = None
    # Bumped when a cancelled pair is re-enabled: a fresh copy needs a fresh idempotency key.
    generation: int = 0
    # Which side's deletion closed the link (the mass-deletion guard counts bursts by it).
    cancelled_by: Side | None = None
    title: str | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    synced_at: datetime | None = None
    etag: str | None = Field(default=None, exclude=True)

    def side_id(self, side: Side) -> str | None:
        return self.booking_id if side is Side.BOOKING else self.calendar_event_id

    def set_side_id(self, side: Side, value: str | None) -> None:
        if side is Side.BOOKING:
            self.booking_id = value
        else:
            self.calendar_event_id = value

    def side_fingerprint(self, side: Side) -> str | None:
        return self.booking_fingerprint if side is Side.BOOKING else self.calendar_fingerprint

    def set_side_fingerprint(self, side: Side, value: str | None) -> None:
        if side is Side.BOOKING:
            self.booking_fingerprint = value
        else:
            self.calendar_fingerprint = value

    def side_fields(self, side: Side) -> dict[str, str] | None:
        return self.booking_fields if side is Side.BOOKING else self.calendar_fields

    def set_side_fields(self, side: Side, value: dict[str, str] | None) -> None:
        if side is Side.BOOKING:
            self.booking_fields = value
        else:
            self.calendar_fields = value

    def set_side_etag(self, side: Side, value: str | None) -> None:
        if side is Side.BOOKING:
            self.booking_etag = value
        else:
            self.calendar_etag = value


def other_side(side: Side) -> Side:
    return Side.CALENDAR if side is Side.BOOKING else Side.BOOKING


class SyncWork(BaseModel):
    """A queued unit of sync work: bring one source event's state to the other side."""

    mapping_id: str
    source: Side
    source_id: str
    reason: str = "queued"


class HoldStatus(StrEnum):
    HELD = "held"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"


class DeletionHold(BaseModel):
    """Deletions a run held back because they would remove an unusual share of a
    calendar (the mass-deletion guard); applied or dropped when an operator decides."""

    id: str = Field(default_factory=new_id)
    mapping_id: str
    source: Side
    link_ids: list[str]
    active_links: int
    reason: str
    status: HoldStatus = HoldStatus.HELD
    created_at: datetime = Field(default_factory=utcnow)
    decided_at: datetime | None = None
    etag: str | None = Field(default=None, exclude=True)


# ---------------------------------------------------------------- cursors, subscriptions, ops


class Cursor(BaseModel):
    """Where change tracking stands for one calendar of one bridge."""

    bridge: str
    calendar_id: str
    cursor: str | None = None
    last_poll_at: datetime | None = None
    last_change_at: datetime | None = None
    etag: str | None = Field(default=None, exclude=True)


class Subscription(BaseModel):
    """A push subscription held with a calendar system."""

    id: str
    bridge: str
    calendar_id: str
    resource: str
    expires_at: datetime
    client_state: str = Field(repr=False)
    mapping_id: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    renewed_at: datetime | None = None
    last_error: str | None = None
    etag: str | None = Field(default=None, exclude=True)


class OperationKind(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    CANCEL = "cancel"
    SKIP = "skip"
    # A change that lost a conflict (logged with its fields and values, never dropped).
    CONFLICT = "conflict"


class ConflictRecord(BaseModel):
    """A conflict and how it was decided: the same fields changed on both sides; the
    loser's values are kept here so no edit is discarded silently."""

    link_id: str
    mapping_id: str
    policy: str
    winner: Side
    winning_system: str
    losing_system: str
    # field → {"kept": the winner's value, "lost": the loser's value}
    fields: dict[str, dict[str, Any]]
    title: str | None = None


class Operation(BaseModel):
    """One processed sync operation, as listed by /bridge/completed and counted by stats."""

    id: str = Field(default_factory=new_id)
    link_id: str | None = None
    mapping_id: str | None = None
    source_system: str
    target_system: str
    operation: OperationKind
    status: str
    # The guide's meaning whatever the direction: external = the calendar system's
    # event id, internal = the booking system's.
    external_id: str | None = None
    internal_id: str | None = None
    error: str | None = None
    conflict: ConflictRecord | None = None
    at: datetime = Field(default_factory=utcnow)


# ---------------------------------------------------------------- canonical event


class EventStatus(StrEnum):
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"


class Privacy(StrEnum):
    NORMAL = "normal"
    PRIVATE = "private"


class EventOrigin(BaseModel):
    """The event a copy was made from: which bridge and its id there. Systems that keep
    an origin instead of a marker (the booking system's `source_system` and
    `external_id`) carry it."""

    system: str
    id: str


class Person(BaseModel):
    name: str | None = None
    email: str | None = None


class Recurrence(BaseModel):
    """An RFC 5545 rule with its exceptions; instants are in the event's zone."""

    rrule: str
    exdates: list[datetime | date] = Field(default_factory=list)


class Event(BaseModel):
    """A calendar event in the shape every adapter speaks.

    Timed events carry aware instants plus the original IANA zone; all-day events
    carry dates (end exclusive, as in iCalendar and Graph).
    """

    id: str | None = None
    calendar_id: str | None = None
    title: str = ""
    description: str = ""
    start: datetime | date
    end: datetime | date
    all_day: bool = False
    timezone: str = "UTC"
    location: str = ""
    organizer: Person | None = None
    attendees: list[Person] = Field(default_factory=list)
    recurrence: Recurrence | None = None
    status: EventStatus = EventStatus.CONFIRMED
    privacy: Privacy = Privacy.NORMAL
    etag: str | None = None
    last_modified: datetime | None = None
    marker: str | None = None
    origin: EventOrigin | None = None
    # The zone as the source system names it (a Windows name from Graph), so a write back
    # keeps it; `timezone` is its IANA equivalent.
    native_zone: str | None = None

    @field_validator("start", "end")
    @classmethod
    def _aware_or_date(cls, value: datetime | date) -> datetime | date:
        if isinstance(value, datetime) and value.tzinfo is None:
            raise ValueError("timed events need a timezone-aware instant")
        return value
