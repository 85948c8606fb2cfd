"""Conversion between the booking system's event payload and the canonical `Event`.

Pure functions: the booking system speaks ISO 8601 UTC instants (`...Z`) for timed
bookings and dates (end exclusive) for all-day ones; its `active` flag is our status.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from calbridge.bridges.text import plain_description
from calbridge.errors import UpstreamError
from calbridge.model import Event, EventField, EventOrigin, EventStatus, Person

# Bookings calbridge made before it recorded origins carry this `source_system` and the
# link id as `external_id`; they are still recognised by it.
SOURCE_SYSTEM = "calbridge"
# The booking system refuses a blank title; an untitled event gets this one.
UNTITLED = "(no title)"


class BookingOrganizer(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str | None = None
    email: str | None = None


class BookingPayload(BaseModel):
    """A booking as the booking system returns it (fields we do not use are ignored)."""

    model_config = ConfigDict(extra="ignore")

    id: str
    resource_id: str
    external_id: str | None = None
    source_system: str | None = None
    title: str | None = None
    description: str | None = None
    start_time: str
    end_time: str
    all_day: bool = False
    timezone: str | None = None
    location: str | None = None
    organizer: BookingOrganizer | None = None
    active: bool = True
    version: int | str | None = None
    created_at: str | None = None
    updated_at: str | None = None

    @field_validator("id", "resource_id", mode="before")
    @classmethod
    def _id_as_text(cls, value: object) -> object:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @property
    def version_tag(self) -> str:
        """What changes whenever the booking changes: its version, else its change time."""
        return str(self.version) if self.version is not None else str(self.updated_at)


def parse_instant(text: str) -> datetime:
    """An ISO 8601 date-time with offset or `Z` as an aware UTC instant."""
    moment = datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        raise ValueError(f"instant without a UTC offset: {text!r}")
    return moment.astimezone(UTC)


def format_instant(moment: datetime) -> str:
    """An aware instant as the booking system writes it: UTC, `Z`, milliseconds if any."""
    moment = moment.astimezone(UTC)
    if moment.microsecond // 1000:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def format_stamp(moment: datetime) -> str:
    """A change time for `?since=`: UTC with milliseconds, sortable as text."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _parse_day(text: str) -> date:
    text = text.strip()
    if len(text) == 10:
        return date.fromisoformat(text)
    return datetime.fromisoformat(text).date()


def known_zone(name: str | None) -> str | None:
    """`name` when it is an IANA zone this machine knows, else None."""
    if not name:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return name


def read_booking(raw: Any) -> BookingPayload:
    """Validate a booking payload; an unusable one is an `UpstreamError`."""
    try:
        return BookingPayload.model_validate(raw)
    except ValidationError as exc:
        fields = sorted({".".join(str(part) for part in err["loc"]) for err in exc.errors()})
        raise UpstreamError("booking system sent a booking that cannot be read",
                            details={"fields": fields}) from None


def event_from_booking(booking: BookingPayload) -> Event:
    """The canonical event for a booking."""
    try:
        if booking.all_day:
            start: datetime | date = _parse_day(booking.start_time)
            end: datetime | date = _parse_day(booking.end_time)
        else:
            start, end = parse_instant(booking.start_time), parse_instant(booking.end_time)
        last_modified = parse_instant(booking.updated_at) if booking.updated_at else None
    except ValueError as exc:
        raise UpstreamError(f"booking {booking.id} has unreadable times: {exc}") from None
    organizer = None
    if booking.organizer and (booking.organizer.name or booking.organizer.email):
        organizer = Person(name=booking.organizer.name, email=booking.organizer.email)
    return Event(
        id=booking.id,
        calendar_id=booking.resource_id,
        title=booking.title or "",
        description=plain_description(booking.description or ""),
        start=start,
        end=end,
        all_day=booking.all_day,
        timezone=booking.timezone or "UTC",
        location=booking.location or "",
        organizer=organizer,
        status=EventStatus.CONFIRMED if booking.active else EventStatus.CANCELLED,
        etag=str(booking.version) if booking.version is not None else None,
        last_modified=last_modified,
        marker=booking.external_id if booking.source_system == SOURCE_SYSTEM else None,
        origin=origin_of(booking),
    )


def origin_of(booking: BookingPayload) -> EventOrigin | None:
    """Where a booking was copied from: the guide's `source_system` + `external_id`."""
    if not booking.external_id or not booking.source_system \
            or booking.source_system == SOURCE_SYSTEM:
        return None
    return EventOrigin(system=booking.source_system, id=booking.external_id)


def event_from_payload(raw: Any) -> Event:
    """`read_booking` then `event_from_booking`."""
    return event_from_booking(read_booking(raw))


def _as_day(value: datetime | date, zone: str | None) -> date:
    if isinstance(value, datetime):
        return value.astimezone(ZoneInfo(zone)).date() if zone else value.date()
    return value


def _as_instant(value: datetime | date, zone: str | None) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.combine(value, time(0, 0), tzinfo=ZoneInfo(zone) if zone else UTC)


def booking_fields(calendar_id: str, event: Event) -> dict[str, Any]:
    """The writable fields of a booking for `event` in resource `calendar_id`
    (no origin fields: see `create_payload`)."""
    zone = known_zone(event.timezone)
    all_day = event.all_day or not (isinstance(event.start, datetime)
                                    and isinstance(event.end, datetime))
    if all_day:
        start_time = _as_day(event.start, zone).isoformat()
        end_time = _as_day(event.end, zone).isoformat()
    else:
        start_time = format_instant(_as_instant(event.start, zone))
        end_time = format_instant(_as_instant(event.end, zone))
    organizer = None
    if event.organizer and (event.organizer.name or event.organizer.email):
        organizer = {"name": event.organizer.name, "email": event.organizer.email}
    return {
        "resource_id": calendar_id,
        "title": event.title if event.title.strip() else UNTITLED,
        "description": event.description,
        "start_time": start_time,
        "end_time": end_time,
        "all_day": all_day,
        "timezone": zone,
        "location": event.location,
        "organizer": organizer,
        "active": event.status is not EventStatus.CANCELLED,
    }


# The booking fields each event field is written as (organizer and resource only on
# create: a sync never moves a booking or rewrites who booked it).
_FIELD_KEYS = {
    EventField.TITLE: ("title",), EventField.DESCRIPTION: ("description",),
    EventField.WHEN: ("start_time", "end_time", "all_day", "timezone"),
    EventField.LOCATION: ("location",), EventField.STATUS: ("active",),
    EventField.PRIVACY: (), EventField.RECURRENCE: (),
}


def update_payload(calendar_id: str, event: Event,
                   fields: frozenset[EventField] | None) -> dict[str, Any]:
    """The `PUT /api/events/{id}` body: only the given fields (all of them when None);
    fields left out keep the values the booking system holds."""
    every = booking_fields(calendar_id, event)
    if fields is None:
        return every
    keys = {key for field in fields for key in _FIELD_KEYS[field]}
    return {key: value for key, value in every.items() if key in keys}


def create_payload(calendar_id: str, event: Event, marker: str) -> dict[str, Any]:
    """The `POST /api/events` body: the fields plus the origin — the guide's
    `source_system` (the bridge the event came from) and `external_id` (its id there);
    an event with no origin carries calbridge's marker instead."""
    if event.origin is not None:
        origin = {"external_id": event.origin.id, "source_system": event.origin.system}
    else:
        origin = {"external_id": marker, "source_system": SOURCE_SYSTEM}
    return {**origin, **booking_fields(calendar_id, event)}
