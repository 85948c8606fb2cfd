"""Google Calendar event JSON ⇄ canonical `Event`: pure functions, no I/O.

Timed boundaries are `{"dateTime": RFC 3339, "timeZone": IANA}`, all-day ones
`{"date": "YYYY-MM-DD"}` (end exclusive). A series master carries `recurrence`, a list of
RFC 5545 `RRULE`/`EXRULE`/`RDATE`/`EXDATE` lines expanded in `start.timeZone`; its
instances carry `recurringEventId` and `originalStartTime`.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import logging
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from calbridge.bridges.base import Calendar
from calbridge.bridges.text import plain_description
from calbridge.errors import ValidationFailed
from calbridge.model import (
    Event,
    EventField,
    EventKind,
    EventStatus,
    Person,
    Privacy,
    Recurrence,
)
from calbridge.recurrence import Rule

log = logging.getLogger(__name__)

# calbridge's keys in `extendedProperties.private` (visible only to this calendar's copy).
MARKER_PROPERTY = "calbridgeLinkId"
ORGANIZER_PROPERTY = "calbridgeOrganizer"
# Namespaces the event id derived from an idempotency key (stable across runs).
_ID_NAMESPACE = b"calbridge-google-event-id:"
_PRIVATE_VISIBILITIES = frozenset({"private", "confidential"})


# ------------------------------------------------------------------ identifiers


def event_id_for(idempotency_key: str) -> str:
    """The event id calbridge asks Google to use for an idempotency key: base32hex
    (lowercase a-v and 0-9, as Google requires of client-chosen ids), 32 characters,
    the same for the same key, so a retried insert answers 409 instead of duplicating."""
    digest = hashlib.sha256(_ID_NAMESPACE + idempotency_key.encode()).digest()[:20]
    return base64.b32hexencode(digest).decode().lower()


def marker_query(marker: str) -> str:
    """The `privateExtendedProperty` constraint finding calbridge's copy of a link."""
    return f"{MARKER_PROPERTY}={marker}"


# ------------------------------------------------------------------ times


def zone_name(value: str | None, fallback: str = "UTC") -> str:
    """An IANA zone name Google gave, or the fallback when it is missing or unknown."""
    if not value:
        return fallback
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("unknown time zone", extra={"bridge": "google_calendar", "zone": value})
        return fallback
    return value


def parse_instant(value: str) -> datetime:
    """An RFC 3339 date-time (`Z` or an offset) as an aware instant in UTC."""
    moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("RFC 3339 date-time without an offset")
    return moment.astimezone(UTC)


def read_boundary(value: Any) -> datetime | date:
    """A Google `start`/`end`/`originalStartTime`: a date (all-day) or an aware instant."""
    if not isinstance(value, dict):
        raise ValueError("event time is not an object")
    if value.get("date"):
        return date.fromisoformat(str(value["date"]))
    return parse_instant(str(value["dateTime"]))


def write_boundary(value: datetime | date, all_day: bool, zone: str, *,
                   clearing: bool = False) -> dict[str, Any]:
    """A boundary as Google takes it: `date`, or `dateTime` on the zone's wall clock with
    its offset plus `timeZone`. `clearing` (a PATCH) sends the other form as null, so an
    event switching between all-day and timed does not keep both."""
    if all_day:
        day = value.date() if isinstance(value, datetime) else value
        out: dict[str, Any] = {"date": day.isoformat()}
        return {**out, "dateTime": None, "timeZone": None} if clearing else out
    moment = value if isinstance(value, datetime) else datetime.combine(value, time(),
                                                                        tzinfo=UTC)
    local = moment.astimezone(ZoneInfo(zone))
    out = {"dateTime": local.isoformat(timespec="seconds"), "timeZone": zone}
    return {**out, "date": None} if clearing else out


def rfc3339(moment: datetime) -> str:
    """An instant for query parameters (`timeMin`, `timeMax`)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ------------------------------------------------------------------ recurrence


def recurrence_refusal(lines: list[str]) -> str | None:
    """Why Google `recurrence` lines cannot be carried as one canonical rule, or None."""
    names = [line.split(":", 1)[0].split(";", 1)[0].strip().upper() for line in lines]
    rules = names.count("RRULE")
    if rules != 1:
        return ("the series has several RRULEs" if rules > 1
                else "the series has no RRULE")
    for name, what in (("RDATE", "RDATEs (extra dates)"), ("EXRULE", "an EXRULE")):
        if name in names:
            return f"the series has {what}, which calbridge carries only as occurrences"
    unknown = sorted(set(names) - {"RRULE", "EXDATE"})
    if unknown:
        return f"the series has {', '.join(unknown)} lines"
    return None


def recurrence_from_lines(lines: list[str], zone: str) -> Recurrence | None:
    """A master's `recurrence` as a canonical `Recurrence`; None when it is not one RRULE
    with EXDATEs (the series then goes across one occurrence at a time)."""
    why = recurrence_refusal(lines)
    if why is not None:
        log.info("series rule not read", extra={"bridge": "google_calendar", "reason": why})
        return None
    rrule, exdates = "", []
    for line in lines:
        head, _, value = line.partition(":")
        name = head.split(";", 1)[0].strip().upper()
        if name == "RRULE":
            try:
                rrule = Rule.parse(value).text()
            except ValidationFailed:
                return None
        else:
            exdates += _exdates(head, value, zone)
    return Recurrence(rrule=rrule, exdates=exdates)


def _exdates(head: str, value: str, zone: str) -> list[datetime | date]:
    """EXDATE values: dates, UTC instants (`Z`), or wall times in TZID (else the zone)."""
    params = dict(part.split("=", 1) for part in head.split(";")[1:] if "=" in part)
    tz = ZoneInfo(zone_name(params.get("TZID"), zone))
    out: list[datetime | date] = []
    for raw in value.split(","):
        raw = raw.strip()
        if not raw:
            continue
        if len(raw) == 8 or params.get("VALUE", "").upper() == "DATE":
            out.append(datetime.strptime(raw[:8], "%Y%m%d").date())
        elif raw.endswith("Z"):
            out.append(datetime.strptime(raw, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC))
        else:
            wall = datetime.strptime(raw, "%Y%m%dT%H%M%S")
            out.append(wall.replace(tzinfo=tz))
    return out


def recurrence_lines(recurrence: Recurrence, zone: str, all_day: bool) -> list[str]:
    """A canonical `Recurrence` as Google `recurrence` lines: its RRULE, and its
    exceptions as EXDATEs on the series' wall clock in `zone`."""
    lines = [f"RRULE:{Rule.parse(recurrence.rrule).text()}"]
    if recurrence.exdates:
        if all_day:
            days = sorted({(d.date() if isinstance(d, datetime) else d).strftime("%Y%m%d")
                           for d in recurrence.exdates})
            lines.append(f"EXDATE;VALUE=DATE:{','.join(days)}")
        else:
            tz = ZoneInfo(zone)
            walls = sorted({(d.astimezone(tz) if isinstance(d, datetime) and d.tzinfo
                             else _wall_of(d, tz)).strftime("%Y%m%dT%H%M%S")
                            for d in recurrence.exdates})
            lines.append(f"EXDATE;TZID={zone}:{','.join(walls)}")
    return lines


def _wall_of(value: datetime | date, tz: ZoneInfo) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=tz)
    return datetime.combine(value, time(), tzinfo=tz)


def refusal(event: Event) -> str | None:
    """Why Google cannot hold a canonical series as one master, or None."""
    if event.kind is not EventKind.SERIES:
        return None
    if event.recurrence is None:
        return "the series' rule could not be read"
    if "\n" in event.recurrence.rrule or "RRULE:" in event.recurrence.rrule.upper()[1:]:
        return "the series has several RRULEs"
    try:
        rule = Rule.parse(event.recurrence.rrule)
    except ValidationFailed as exc:
        return exc.message
    if rule.rscale and rule.rscale != "GREGORIAN":
        return f"the series uses the {rule.rscale.lower()} calendar scale"
    return None


# ------------------------------------------------------------------ events


def _person(value: Any) -> Person | None:
    if not isinstance(value, dict):
        return None
    name, address = value.get("displayName") or None, value.get("email") or None
    return Person(name=name, email=address) if name or address else None


def _private(data: dict[str, Any]) -> dict[str, Any]:
    extended = data.get("extendedProperties")
    private = extended.get("private") if isinstance(extended, dict) else None
    return private if isinstance(private, dict) else {}


def organizer_property(person: Person) -> str:
    """Who booked an event, kept beside it: Google makes the calendar the organizer of
    every event written into it."""
    return email.utils.formataddr((person.name or "", person.email or ""))


def _organizer(data: dict[str, Any]) -> Person | None:
    kept = _private(data).get(ORGANIZER_PROPERTY)
    if isinstance(kept, str) and kept:
        name, address = email.utils.parseaddr(kept)
        if name or address:
            return Person(name=name or None, email=address or None)
    return _person(data.get("organizer"))


def event_from_google(data: dict[str, Any], calendar_id: str | None = None,
                      default_zone: str = "UTC", master: dict[str, Any] | None = None) -> Event:
    """A Google event as a canonical `Event`. `default_zone` is the calendar's zone (the
    list's `timeZone`); `master`, when known, tells an exception (an instance changed on
    its own) from a plain occurrence."""
    if "start" not in data and isinstance(data.get("originalStartTime"), dict):
        # A cancelled instance of a series carries only its id, series, original start and
        # status (Calendar API: "only the fields id, recurringEventId, originalStartTime
        # and status are guaranteed to be filled" for cancelled exceptions).
        data = {**data, "start": data["originalStartTime"], "end": data["originalStartTime"]}
    start_raw, end_raw = data["start"], data["end"]
    start, end = read_boundary(start_raw), read_boundary(end_raw)
    all_day = isinstance(start, date) and not isinstance(start, datetime)
    zone = zone_name(start_raw.get("timeZone"), zone_name(default_zone))
    if all_day:
        end_day = end if not isinstance(end, datetime) else end.date()
        end = end_day if end_day > start else start + timedelta(days=1)  # type: ignore[operator]
    elif end < start:  # type: ignore[operator]
        end = start
    lines = data.get("recurrence")
    kind = EventKind.SINGLE
    recurrence = None
    series_id = None
    original_start: datetime | date | None = None
    if isinstance(lines, list) and lines:
        kind = EventKind.SERIES
        recurrence = recurrence_from_lines([str(x) for x in lines], zone)
    elif data.get("recurringEventId"):
        series_id = str(data["recurringEventId"])
        original_start = (read_boundary(data["originalStartTime"])
                          if isinstance(data.get("originalStartTime"), dict) else start)
        kind = (EventKind.EXCEPTION if is_exception(data, start, end, original_start, master)
                else EventKind.OCCURRENCE)
    updated = data.get("updated")
    private = _private(data)
    marker = private.get(MARKER_PROPERTY)
    visibility = str(data.get("visibility") or "default").lower()
    return Event(
        id=data.get("id"),
        calendar_id=calendar_id,
        title=data.get("summary") or "",
        description=plain_description(data.get("description") or ""),
        start=start,
        end=end,
        all_day=all_day,
        timezone=zone,
        location=data.get("location") or "",
        organizer=_organizer(data),
        attendees=[p for p in (_person(a) for a in data.get("attendees") or []) if p],
        recurrence=recurrence,
        kind=kind,
        series_id=series_id,
        original_start=original_start,
        status=(EventStatus.CANCELLED if data.get("status") == "cancelled"
                else EventStatus.CONFIRMED),
        privacy=Privacy.PRIVATE if visibility in _PRIVATE_VISIBILITIES else Privacy.NORMAL,
        etag=data.get("etag") or None,
        last_modified=parse_instant(str(updated)) if updated else None,
        marker=marker if isinstance(marker, str) and marker else None,
        native_zone=start_raw.get("timeZone") or None,
    )


def is_exception(data: dict[str, Any], start: datetime | date, end: datetime | date,
                 original_start: datetime | date, master: dict[str, Any] | None) -> bool:
    """An instance moved from its original start, or (its master known) whose title,
    description, location or length differs from the master's."""
    if start != original_start:
        return True
    if master is None:
        return False
    for key in ("summary", "description", "location"):
        if (data.get(key) or "") != (master.get(key) or ""):
            return True
    try:
        length = _length(start, end)
        master_length = _length(read_boundary(master["start"]), read_boundary(master["end"]))
    except (KeyError, ValueError, TypeError):
        return False
    return length != master_length


def _length(start: datetime | date, end: datetime | date) -> timedelta:
    return end - start  # type: ignore[operator,return-value]


# The Google properties each event field is written as (a cancellation is a delete).
_FIELD_PROPERTIES: dict[EventField, tuple[str, ...]] = {
    EventField.TITLE: ("summary",), EventField.DESCRIPTION: ("description",),
    EventField.WHEN: ("start", "end"), EventField.LOCATION: ("location",),
    EventField.PRIVACY: ("visibility",), EventField.STATUS: (),
    EventField.RECURRENCE: ("recurrence",),
}


def event_to_google(event: Event, *, event_id: str | None = None,
                    fields: frozenset[EventField] | None = None) -> dict[str, Any]:
    """A canonical `Event` as a Google insert body (with the client-chosen `event_id`),
    or (with `fields`) a PATCH body of only those fields. Times are written in the
    event's IANA zone, in which a series is also expanded."""
    zone = zone_name(event.timezone)
    patch = fields is not None
    body: dict[str, Any] = {
        "summary": event.title,
        "description": event.description,
        "location": event.location,
        "visibility": "private" if event.privacy is Privacy.PRIVATE else "default",
        "start": write_boundary(event.start, event.all_day, zone, clearing=patch),
    }
    end = event.end
    if event.all_day:
        start_day = event.start.date() if isinstance(event.start, datetime) else event.start
        end_day = end.date() if isinstance(end, datetime) else end
        end = end_day if end_day > start_day else start_day + timedelta(days=1)
    body["end"] = write_boundary(end, event.all_day, zone, clearing=patch)
    if event.kind is EventKind.SERIES and event.recurrence is not None:
        body["recurrence"] = recurrence_lines(event.recurrence, zone, event.all_day)
    if fields is not None:
        wanted = {name for field in fields for name in _FIELD_PROPERTIES[field]}
        return {name: value for name, value in body.items() if name in wanted}
    private: dict[str, str] = {}
    if event.marker:
        private[MARKER_PROPERTY] = event.marker
    if event.organizer and (event.organizer.name or event.organizer.email):
        private[ORGANIZER_PROPERTY] = organizer_property(event.organizer)
    if private:
        body["extendedProperties"] = {"private": private}
    if event_id is not None:
        body["id"] = event_id
    return body


# ------------------------------------------------------------------ calendars


def calendar_from_entry(entry: dict[str, Any]) -> Calendar | None:
    """A `calendarList` entry as a calendar (id = Google's calendar id, an address)."""
    calendar_id = entry.get("id")
    if not calendar_id or entry.get("deleted"):
        return None
    name = entry.get("summaryOverride") or entry.get("summary") or calendar_id
    kind = "room" if str(calendar_id).endswith("@resource.calendar.google.com") else "calendar"
    return Calendar(id=str(calendar_id), name=str(name), kind=kind,
                    email=str(calendar_id) if "@" in str(calendar_id) else None)


def calendar_from_resource(item: dict[str, Any]) -> Calendar | None:
    """A Directory API `CalendarResource` as a calendar: its `resourceEmail` is the
    calendar id; `resourceCategory` OTHER (equipment) is a resource, anything else
    (CONFERENCE_ROOM, legacy CATEGORY_UNKNOWN) a room."""
    email = item.get("resourceEmail")
    if not isinstance(email, str) or "@" not in email:
        return None
    name = item.get("resourceName") or item.get("generatedResourceName") or email
    capacity = item.get("capacity")
    kind = "resource" if item.get("resourceCategory") == "OTHER" else "room"
    return Calendar(id=email, name=str(name), kind=kind, email=email,
                    capacity=capacity if isinstance(capacity, int) and capacity >= 0 else None)
