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
    ValidationInfo,
    field_validator,
    model_validator,
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


class Direction(StrEnum):
    """Which way changes flow between a mapping's ends."""

    BOTH = "both"
    A_TO_B = "a_to_b"
    B_TO_A = "b_to_a"

    @classmethod
    def _missing_(cls, value: object) -> Direction | None:
        # The guide's names: its booking end is `a`, its calendar end `b`.
        return {"to_calendar": cls.A_TO_B, "from_calendar": cls.B_TO_A}.get(str(value))


class ConflictPolicy(StrEnum):
    ORIGIN_WINS = "origin_wins"
    NEWEST_WINS = "newest_wins"
    A_WINS = "a_wins"
    B_WINS = "b_wins"
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


class End(StrEnum):
    """The two equal ends of a mapping and of each of its links."""

    A = "a"
    B = "b"

    @property
    def other(self) -> End:
        return End.B if self is End.A else End.A

    @classmethod
    def _missing_(cls, value: object) -> End | None:
        # Rows and queue messages written before ends were equal name them by role.
        return {"booking": cls.A, "calendar": cls.B}.get(str(value))


# ---------------------------------------------------------------- resource mappings

MappingName = Annotated[str, StringConstraints(max_length=256)]


class MappingEnd(BaseModel):
    """One end of a mapping: a calendar of a bridge."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    bridge: BridgeName
    calendar_id: CalendarId
    name: MappingName | None = None


class StoredEnd(MappingEnd):
    """An end as stored: loaded as written, even by versions that checked ids less."""

    model_config = ConfigDict(extra="ignore")

    calendar_id: str  # type: ignore[assignment]


def _guide_form(data: Any, booking_bridge: str = "booking_system") -> Any:
    """The usage guide's body (booking resource, calendar system and id) as two ends:
    the booking resource is end `a`, the calendar end `b`."""
    if not isinstance(data, dict) or "a" in data or "b" in data:
        return data
    guide = ("booking_system_resource_id", "calendar_system", "calendar_resource_id",
             "calendar_resource_name", "booking_system")
    if not any(key in data for key in guide):
        return data
    rest = {k: v for k, v in data.items() if k not in guide and k != "sync_direction"}
    if "sync_direction" in data:
        rest.setdefault("direction", data["sync_direction"])
    a = {"bridge": data.get("booking_system") or booking_bridge,
         "calendar_id": data.get("booking_system_resource_id")}
    b = {"bridge": data.get("calendar_system"), "calendar_id": data.get("calendar_resource_id")}
    if data.get("calendar_resource_name") is not None:
        b["name"] = data["calendar_resource_name"]
    return {**rest, "a": a, "b": b}


# The usage guide's names for the fields of a mapping (its booking end is `a`).
GUIDE_FIELDS = {"a.calendar_id": "booking_system_resource_id", "a.bridge": "booking_system",
                "b.bridge": "calendar_system", "b.calendar_id": "calendar_resource_id",
                "b.name": "calendar_resource_name", "direction": "sync_direction"}


def guide_field(name: str) -> str:
    """A field of a mapping by the guide's name (`a.calendar_id` → its booking resource)."""
    return GUIDE_FIELDS.get(name, name)


class MappingRequest(BaseModel):
    """What a user says about a new mapping: the guide's body (`booking_system_resource_id`,
    `calendar_system`, `calendar_resource_id`, `calendar_resource_name`, `sync_direction`)
    or the general form (`a`, `b`, `direction`), with `conflict_policy` and `active`.
    Validating with a `context` dict records the form used there (`form`: guide or ends),
    so answers name fields as the user did."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    a: MappingEnd
    b: MappingEnd
    active: bool = True
    direction: Direction = Direction.BOTH
    conflict_policy: ConflictPolicy = ConflictPolicy.ORIGIN_WINS

    @model_validator(mode="before")
    @classmethod
    def _either_form(cls, data: Any, info: ValidationInfo) -> Any:
        context = info.context if isinstance(info.context, dict) else {}
        converted = _guide_form(data, context.get("booking_bridge", "booking_system"))
        context["form"] = "guide" if converted is not data else "ends"
        return converted


class MappingEndPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    bridge: BridgeName | None = None
    calendar_id: CalendarId | None = None
    name: MappingName | None = None


class MappingPatch(BaseModel):
    """A partial update in either form: only the fields given change."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    a: MappingEndPatch | None = None
    b: MappingEndPatch | None = None
    active: bool | None = None
    direction: Direction | None = None
    conflict_policy: ConflictPolicy | None = None

    @model_validator(mode="before")
    @classmethod
    def _either_form(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict):
            return data
        if isinstance(info.context, dict):
            info.context["form"] = "ends" if {"a", "b", "direction"} & set(data) else "guide"
        renamed = {"booking_system_resource_id": ("a", "calendar_id"),
                   "calendar_system": ("b", "bridge"),
                   "calendar_resource_id": ("b", "calendar_id"),
                   "calendar_resource_name": ("b", "name")}
        out: dict[str, Any] = {}
        for key, value in data.items():
            if key in renamed:
                end, field = renamed[key]
                out.setdefault(end, {})[field] = value
            elif key == "sync_direction":
                out["direction"] = value
            else:
                out[key] = value
        return out


class EndFailure(BaseModel):
    """What went wrong at one end of a mapping: the end, its bridge and calendar, and
    what that system answered."""

    side: End
    bridge: str
    calendar_id: str
    error: str
    code: str = "upstream_error"
    at: datetime = Field(default_factory=utcnow)


class ResourceMapping(BaseModel):
    """A stored mapping: a calendar of one bridge kept in step with a calendar of another
    (or the same) bridge. Neither end is special; the guide's booking mapping has the
    booking resource at `a` and the calendar at `b`."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(default_factory=new_id)
    a: StoredEnd
    b: StoredEnd
    active: bool = True
    direction: Direction = Direction.BOTH
    conflict_policy: ConflictPolicy = ConflictPolicy.ORIGIN_WINS
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    # Both ends found to exist (None: not checked yet; False: an end is missing, or
    # could not be checked — `verification_error` says which and why).
    verified: bool | None = None
    verification_error: str | None = None
    missing_end: End | None = None
    # Runs of this mapping that failed in a row, and the last failure.
    failed_runs: int = 0
    last_failure: EndFailure | None = None
    etag: str | None = Field(default=None, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _stored_by_role(cls, data: Any) -> Any:
        return _guide_form(data)

    def end(self, end: End) -> StoredEnd:
        return self.a if end is End.A else self.b

    def pair_key(self) -> tuple[str, str, str, str]:
        """What makes two mappings the same mapping."""
        return (self.a.bridge, self.a.calendar_id, self.b.bridge, self.b.calendar_id)

    def allows(self, source: End) -> bool:
        """Whether changes flow from `source` to the other end."""
        if self.direction is Direction.A_TO_B:
            return source is End.A
        if self.direction is Direction.B_TO_A:
            return source is End.B
        return True

    def ends_on(self, bridge: str, calendar_id: str) -> list[End]:
        """The ends on this bridge and calendar (both, for a mapping of a calendar to
        itself, which nothing creates)."""
        return [end for end in End
                if (self.end(end).bridge, self.end(end).calendar_id) == (bridge, calendar_id)]


# ---------------------------------------------------------------- event links


class LinkEnd(BaseModel):
    """One end of a synced pair: where the event is and what calbridge last knew of it."""

    bridge: str | None = None
    calendar_id: str | None = None
    event_id: str | None = None
    fingerprint: str | None = None
    etag: str | None = None
    # When the end's event was last changed, as its system said when calbridge last read
    # or wrote it: a read of an older state of it is a stale read, not a change.
    modified: datetime | None = None
    # A short hash per `EventField` as last synced: which fields changed since, at either
    # end (only those are written; the same field changed at both ends is a conflict).
    fields: dict[str, str] | None = None


_LEGACY_LINK = {"booking_id": ("a", "event_id"), "calendar_event_id": ("b", "event_id"),
                "booking_fingerprint": ("a", "fingerprint"),
                "calendar_fingerprint": ("b", "fingerprint"),
                "booking_etag": ("a", "etag"), "calendar_etag": ("b", "etag"),
                "booking_fields": ("a", "fields"), "calendar_fields": ("b", "fields")}


class EventLink(BaseModel):
    """One synced pair of events: a record per end of its mapping."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(default_factory=new_id)
    mapping_id: str
    item_type: str = "event"
    origin: End
    a: LinkEnd = Field(default_factory=LinkEnd)
    b: LinkEnd = Field(default_factory=LinkEnd)
    status: SyncStatus = SyncStatus.PENDING
    attempts: int = 0
    last_error: str | None = None
    next_attempt_at: datetime | None = None
    # Which end's state still has to reach the other (for retries and webhooks).
    pending_end: End | None = None
    # Bumped when a cancelled pair is re-enabled: a fresh copy needs a fresh idempotency key.
    generation: int = 0
    # Which end's deletion closed the link (the mass-deletion guard counts bursts by it).
    cancelled_by: End | None = None
    # A pair made for one occurrence of a recurring series (`item_type` "occurrence"): the
    # end the series is at, its id there and the occurrence's original start.
    series_end: End | None = None
    series_id: str | None = None
    occurrence_start: datetime | None = None
    # Between two calendars with recurrence: an occurrence pair names its series pair
    # (`item_type` "series"); a series the other end cannot carry says why, and goes
    # across one occurrence at a time.
    series_link: str | None = None
    expanded_because: str | None = None
    title: str | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    synced_at: datetime | None = None
    etag: str | None = Field(default=None, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _stored_by_role(cls, data: Any) -> Any:
        # Rows written before ends were equal keep per-role columns.
        if not isinstance(data, dict) or not any(key in data for key in _LEGACY_LINK):
            return data
        out = {k: v for k, v in data.items() if k not in _LEGACY_LINK}
        for key, (end, field) in _LEGACY_LINK.items():
            if data.get(key) is not None:
                out.setdefault(end, {})[field] = data[key]
        if "pending_side" in data and "pending_end" not in data:
            out["pending_end"] = data["pending_side"]
        return out

    def end(self, end: End) -> LinkEnd:
        return self.a if end is End.A else self.b

    @property
    def unit(self) -> str:
        """What a person deletes at once: a whole series, or one event."""
        return f"series:{self.series_id}" if self.series_id else self.id

    def event_id(self, end: End) -> str | None:
        return self.end(end).event_id

    def set_event_id(self, end: End, value: str | None) -> None:
        self.end(end).event_id = value


class SyncWork(BaseModel):
    """A queued unit of sync work for one mapping and source end: one event, by its id
    (read again when the work is done), a batch of a run's work — the source events as
    that run read them and the ids it found gone — applied without reading them again, or
    the rest of a run's read (`read_from`)."""

    mapping_id: str
    source: End
    source_id: str = ""
    reason: str = "queued"
    events: list[Event] = Field(default_factory=list)
    deleted: list[str] = Field(default_factory=list)
    # Which of `events` had no link when the run queued them (new pairs): the work looks
    # none up; one linked meanwhile is refused when its link is stored, and skipped.
    unlinked: list[str] = Field(default_factory=list)
    queued_at: datetime | None = None
    # A run's read that its time budget stopped: where the source's read goes on (a
    # position the source gave, `ChangeSet.resume`), and the window the run read, when
    # it was not the mapping's own (such a run never moves the cursor).
    read_from: str | None = None
    # A run that found the source's request budget spent for longer than it had: its
    # whole read, sent to wait until the budget allows it.
    read_all: bool = False
    window_start: datetime | None = None
    window_end: datetime | None = None


class HoldStatus(StrEnum):
    HELD = "held"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"


class DeletionHold(BaseModel):
    """Deletions a run held back because they would remove an unusual share of a
    calendar (the mass-deletion guard); applied or dropped when an operator decides."""

    id: str = Field(default_factory=new_id)
    mapping_id: str
    source: End
    link_ids: list[str]
    active_links: int
    reason: str
    status: HoldStatus = HoldStatus.HELD
    created_at: datetime = Field(default_factory=utcnow)
    decided_at: datetime | None = None
    etag: str | None = Field(default=None, exclude=True)


# ---------------------------------------------------------------- cursors, subscriptions, ops


class Cursor(BaseModel):
    """Where change tracking stands for one end of a mapping (one calendar of one bridge,
    read for that mapping)."""

    bridge: str
    calendar_id: str
    mapping_id: str | None = None
    cursor: str | None = None
    # The end of the time window the cursor covers (a delta link keeps the window it was
    # opened with): when the sync window has moved on, a fresh listing opens a new one.
    window_end: datetime | None = None
    last_poll_at: datetime | None = None
    last_change_at: datetime | None = None
    # Copies calbridge made in the calendar since the cursor was read, where the change
    # feed may leave out one made and deleted in between (`Capabilities.omits_short_lived`).
    made: list[str] = Field(default_factory=list)
    etag: str | None = Field(default=None, exclude=True)


class Subscription(BaseModel):
    """A push subscription held with a calendar system."""

    id: str
    bridge: str
    calendar_id: str
    resource: str
    expires_at: datetime
    # The client state given to the calendar system, as a keyed hash only
    # (`calbridge.push_secrets`): what is stored proves nothing to a forger.
    client_state_hash: str = Field(repr=False)
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
    winner: End
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


class EventKind(StrEnum):
    """What an event is in a recurring series, if anything. Calendar views list single
    events, occurrences and exceptions; a series (its master, with the rule) is read on its
    own."""

    SINGLE = "single"
    SERIES = "series"
    OCCURRENCE = "occurrence"
    # An occurrence changed on its own (moved, retitled): still part of its series.
    EXCEPTION = "exception"

    @property
    def in_series(self) -> bool:
        """An occurrence or an exception: one date of a series."""
        return self in (EventKind.OCCURRENCE, EventKind.EXCEPTION)


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
    kind: EventKind = EventKind.SINGLE
    # An occurrence's or exception's series (its master's id in the same system) and the
    # start the series rule gave it (its identity in the series, whatever it was moved to).
    series_id: str | None = None
    original_start: datetime | date | None = None
    status: EventStatus = EventStatus.CONFIRMED
    privacy: Privacy = Privacy.NORMAL
    etag: str | None = None
    last_modified: datetime | None = None
    marker: str | None = None
    origin: EventOrigin | None = None
    # The zone as the source system names it (a Windows name from Graph), so a write back
    # keeps it; `timezone` is its IANA equivalent.
    native_zone: str | None = None
    # A new series' exceptions (each with its `original_start`), written with its master
    # by a system that stores them together (`Capabilities.exceptions_with_series`).
    # Never part of what an event is compared by: each exception is a pair of its own.
    exceptions: list[Event] = Field(default_factory=list)

    @field_validator("start", "end")
    @classmethod
    def _aware_or_date(cls, value: datetime | date) -> datetime | date:
        if isinstance(value, datetime) and value.tzinfo is None:
            raise ValueError("timed events need a timezone-aware instant")
        return value
