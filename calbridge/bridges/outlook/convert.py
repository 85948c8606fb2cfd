"""Graph event JSON ⇄ canonical `Event`: pure functions, no I/O."""

from __future__ import annotations

import email.utils
import logging
import re
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from calbridge.bridges.base import Calendar
from calbridge.bridges.text import html_to_text
from calbridge.bridges.timezones import UTC_NAME, is_iana, to_iana, zone
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
from calbridge.recurrence import pattern_to_rrule, rrule_to_pattern

log = logging.getLogger(__name__)

# calbridge's own property set: the marker lives in a named single-value extended property.
MARKER_PROPERTY_SET = "75bf7a9a-e951-4459-89da-a87d4033172e"
MARKER_PROPERTY_ID = f"String {{{MARKER_PROPERTY_SET}}} Name calbridgeLinkId"
# Who booked an event calbridge wrote (`Name <address>`): Graph makes the mailbox the
# organizer of every event an app creates in it, so the booker is kept here.
ORGANIZER_PROPERTY_ID = f"String {{{MARKER_PROPERTY_SET}}} Name calbridgeOrganizer"
# transactionId is derived from the idempotency key in this namespace (stable across runs).
TRANSACTION_NAMESPACE = uuid.UUID("763d560f-50bd-4037-b209-a275018e1a1b")

_PRIVATE_SENSITIVITIES = frozenset({"private", "confidential"})
# Graph's event `type` values.
_KINDS = {"singleInstance": EventKind.SINGLE, "seriesMaster": EventKind.SERIES,
          "occurrence": EventKind.OCCURRENCE, "exception": EventKind.EXCEPTION}


# ------------------------------------------------------------------ identifiers


def transaction_id(idempotency_key: str) -> str:
    """The Graph `transactionId` for an idempotency key: the same key, the same id."""
    return str(uuid.uuid5(TRANSACTION_NAMESPACE, idempotency_key))


def marker_expand() -> str:
    """`$expand` value that brings calbridge's marker and organizer back with an event."""
    return (f"singleValueExtendedProperties($filter=id eq '{MARKER_PROPERTY_ID}' "
            f"or id eq '{ORGANIZER_PROPERTY_ID}')")


def marker_filter(marker: str) -> str:
    """`$filter` that finds the event carrying a marker."""
    value = marker.replace("'", "''")
    return (f"singleValueExtendedProperties/Any(ep: ep/id eq '{MARKER_PROPERTY_ID}' "
            f"and ep/value eq '{value}')")


def _property(data: dict[str, Any], property_id: str) -> str | None:
    wanted = " ".join(property_id.split()).lower()
    for prop in data.get("singleValueExtendedProperties") or []:
        if isinstance(prop, dict) and " ".join(str(prop.get("id", "")).split()).lower() == wanted:
            value = prop.get("value")
            return str(value) if value else None
    return None


def marker_of(data: dict[str, Any]) -> str | None:
    """calbridge's marker from an event's expanded extended properties, if present."""
    return _property(data, MARKER_PROPERTY_ID)


def organizer_property(person: Person) -> str:
    """A person as the organizer property holds them."""
    return email.utils.formataddr((person.name or "", person.email or ""))


def organizer_of(data: dict[str, Any], mailbox: str | None) -> Person | None:
    """Who organised an event: the booker calbridge recorded, else Graph's organizer —
    unless that is the calendar's own mailbox (an event an app wrote into it)."""
    recorded = _property(data, ORGANIZER_PROPERTY_ID)
    if recorded:
        name, address = email.utils.parseaddr(recorded)
        if name or address:
            return Person(name=name or None, email=address or None)
    person = _person(data.get("organizer"))
    if person is not None and mailbox and (person.email or "").lower() == mailbox.lower():
        return None
    return person


# ------------------------------------------------------------------ bodies


def body_text(body: Any) -> str:
    """A Graph `itemBody` as plain text."""
    if not isinstance(body, dict):
        return ""
    content = body.get("content")
    if not isinstance(content, str) or not content:
        return ""
    if str(body.get("contentType", "")).lower() == "html":
        return html_to_text(content)
    return content.replace("\r\n", "\n").strip()


def text_body(text: str) -> dict[str, str]:
    """Plain text as a Graph `itemBody`."""
    return {"contentType": "text", "content": text}


# ------------------------------------------------------------------ date and time


def parse_graph_datetime(value: str) -> datetime:
    """A Graph timestamp (up to 7 fractional digits, optional Z/offset) as a datetime."""
    text = value.strip()
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    match = re.match(r"^(.*?T\d\d:\d\d(?::\d\d)?)(?:\.(\d+))?(.*)$", text)
    if match:
        head, fraction, tail = match.groups()
        text = head + (f".{fraction[:6].ljust(6, '0')}" if fraction else "") + tail
    return datetime.fromisoformat(text)


def instant_from_graph(value: dict[str, Any]) -> datetime:
    """A Graph `dateTimeTimeZone` as an aware instant in UTC."""
    moment = parse_graph_datetime(str(value["dateTime"]))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone(value.get("timeZone")))
    return moment.astimezone(UTC)


def date_from_graph(value: dict[str, Any]) -> date:
    """The calendar date of an all-day boundary (Graph gives local midnight)."""
    return parse_graph_datetime(str(value["dateTime"])).date()


def graph_time(moment: datetime, zone_name: str) -> dict[str, str]:
    """An aware instant as a Graph `dateTimeTimeZone` in `zone_name` (IANA or Windows,
    named as given), or in UTC when the zone is unknown or the local time is ambiguous
    (a DST fall-back hour)."""
    iana = zone_name if is_iana(zone_name) else to_iana(zone_name)
    if iana != UTC_NAME:
        tz = ZoneInfo(iana)
        wall = moment.astimezone(tz).replace(tzinfo=None)
        instants = {wall.replace(tzinfo=tz, fold=fold).astimezone(UTC) for fold in (0, 1)}
        if instants == {moment.astimezone(UTC)}:
            return {"dateTime": _wall(wall), "timeZone": zone_name}
    return {"dateTime": _wall(moment.astimezone(UTC).replace(tzinfo=None)), "timeZone": UTC_NAME}


def graph_date(day: date, zone_name: str) -> dict[str, str]:
    """An all-day boundary: midnight of `day`, in the event's zone as Graph requires."""
    iana = zone_name if is_iana(zone_name) else to_iana(zone_name)
    named = zone_name if iana != UTC_NAME else UTC_NAME
    return {"dateTime": _wall(datetime.combine(day, time())), "timeZone": named}


def _wall(moment: datetime) -> str:
    if moment.microsecond:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def iso_utc(moment: datetime) -> str:
    """An instant as Graph query parameters and subscriptions want it (`...Z`)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ------------------------------------------------------------------ events


def _person(value: Any) -> Person | None:
    if not isinstance(value, dict):
        return None
    address = value.get("emailAddress")
    if not isinstance(address, dict):
        return None
    name, email = address.get("name") or None, address.get("address") or None
    if not (name or email):
        return None
    return Person(name=name, email=email)


def event_from_graph(data: dict[str, Any], calendar_id: str | None = None) -> Event:
    """A Graph event as a canonical `Event` (start/end in UTC, original zone kept)."""
    all_day = bool(data.get("isAllDay"))
    original_zone = data.get("originalStartTimeZone") or (data.get("start") or {}).get("timeZone")
    start: datetime | date
    end: datetime | date
    if all_day:
        start, end = date_from_graph(data["start"]), date_from_graph(data["end"])
        if end <= start:
            end = start + timedelta(days=1)
    else:
        start, end = instant_from_graph(data["start"]), instant_from_graph(data["end"])
        if end < start:
            end = start
    location = data.get("location") if isinstance(data.get("location"), dict) else {}
    attendees = [p for p in (_person(a) for a in data.get("attendees") or []) if p]
    modified = data.get("lastModifiedDateTime")
    sensitivity = str(data.get("sensitivity") or "normal").lower()
    kind = _KINDS.get(str(data.get("type") or ""), EventKind.SINGLE)
    original_start: datetime | date | None = None
    if kind.in_series and data.get("originalStart"):
        # Graph gives it in UTC; an all-day occurrence is known by its date.
        moment = parse_graph_datetime(str(data["originalStart"]))
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
        original_start = (moment.astimezone(zone(original_zone)).date() if all_day
                          else moment)
    recurrence = (series_rule(data["recurrence"], start, original_zone)
                  if kind is EventKind.SERIES and isinstance(data.get("recurrence"), dict)
                  else None)
    return Event(
        id=data.get("id"),
        calendar_id=calendar_id,
        title=data.get("subject") or "",
        description=body_text(data.get("body")),
        start=start,
        end=end,
        all_day=all_day,
        timezone=to_iana(original_zone),
        location=(location or {}).get("displayName") or "",
        organizer=organizer_of(data, calendar_id),
        attendees=attendees,
        recurrence=recurrence,
        kind=kind,
        series_id=(data.get("seriesMasterId") or None) if kind.in_series else None,
        original_start=original_start,
        status=EventStatus.CANCELLED if data.get("isCancelled") else EventStatus.CONFIRMED,
        privacy=Privacy.PRIVATE if sensitivity in _PRIVATE_SENSITIVITIES else Privacy.NORMAL,
        etag=data.get("changeKey") or None,
        last_modified=parse_graph_datetime(modified).astimezone(UTC) if modified else None,
        marker=marker_of(data),
        native_zone=original_zone or None,
    )


def series_rule(recurrence: dict[str, Any], start: datetime | date,
                zone_name: str | None) -> Recurrence | None:
    """A series master's `patternedRecurrence` as an RRULE, on the series' own wall clock
    (`recurrenceTimeZone`, else the event's zone); None when Graph gave a pattern that
    cannot be read (the series then goes across one occurrence at a time)."""
    series_zone = (recurrence.get("range") or {}).get("recurrenceTimeZone") or zone_name
    try:
        return Recurrence(rrule=pattern_to_rrule(recurrence, start, to_iana(series_zone)))
    except ValidationFailed as exc:
        log.warning("series rule not read", extra={"bridge": "outlook", "code": exc.code})
        return None


def graph_recurrence(event: Event, zone_name: str) -> dict[str, Any]:
    """A series' rule as the `patternedRecurrence` Graph takes, its time zone named as the
    event's times are. Raises `Inexpressible` for a rule Outlook has no pattern for."""
    assert event.recurrence is not None
    iana = zone_name if is_iana(zone_name) else to_iana(zone_name)
    pattern = rrule_to_pattern(event.recurrence.rrule, event.start, iana)
    pattern["range"]["recurrenceTimeZone"] = zone_name
    return pattern


# The Graph properties each event field is written as (status is not writable: a
# cancellation is a delete).
_FIELD_PROPERTIES = {
    EventField.TITLE: ("subject",), EventField.DESCRIPTION: ("body",),
    EventField.WHEN: ("isAllDay", "start", "end"), EventField.LOCATION: ("location",),
    EventField.PRIVACY: ("sensitivity",), EventField.STATUS: (),
    EventField.RECURRENCE: ("recurrence",),
}


def event_to_graph(event: Event, *, idempotency_key: str | None = None,
                   with_attendees: bool = False, organizer_as_attendee: bool = False,
                   fields: frozenset[EventField] | None = None) -> dict[str, Any]:
    """A canonical `Event` as a Graph create body, or (with `fields`) a PATCH body of
    only those fields. Times are written in the event's own zone name (`native_zone`,
    a Windows name Graph gave, else the IANA zone).

    Attendees are only sent when asked, because Exchange mails an invitation to each of
    them; the organizer is kept in calbridge's organizer property when the event is made.
    """
    zone_name = event.native_zone or event.timezone
    body: dict[str, Any] = {
        "subject": event.title,
        "body": text_body(event.description),
        "isAllDay": event.all_day,
        "location": {"displayName": event.location},
        "sensitivity": "private" if event.privacy is Privacy.PRIVATE else "normal",
    }
    if event.all_day:
        start_day, end_day = _as_date(event.start), _as_date(event.end)
        if end_day <= start_day:
            end_day = start_day + timedelta(days=1)
        body["start"] = graph_date(start_day, zone_name)
        body["end"] = graph_date(end_day, zone_name)
    else:
        body["start"] = graph_time(_as_instant(event.start), zone_name)
        body["end"] = graph_time(_as_instant(event.end), zone_name)
    if event.kind is EventKind.SERIES and event.recurrence is not None:
        body["recurrence"] = graph_recurrence(event, zone_name)
    if fields is not None:
        wanted = {name for field in fields for name in _FIELD_PROPERTIES[field]}
        return {name: value for name, value in body.items() if name in wanted}
    people = list(event.attendees) if with_attendees else []
    if organizer_as_attendee and event.organizer and event.organizer.email \
            and all(p.email != event.organizer.email for p in people):
        people.append(event.organizer)
    if people:
        body["attendees"] = [
            {"emailAddress": {"address": p.email, "name": p.name or p.email}, "type": "required"}
            for p in people if p.email
        ]
    properties = []
    if event.marker:
        properties.append({"id": MARKER_PROPERTY_ID, "value": event.marker})
    if event.organizer and (event.organizer.name or event.organizer.email):
        properties.append({"id": ORGANIZER_PROPERTY_ID,
                           "value": organizer_property(event.organizer)})
    if properties:
        body["singleValueExtendedProperties"] = properties
    if idempotency_key is not None:
        body["transactionId"] = transaction_id(idempotency_key)
    return body


def _as_date(value: datetime | date) -> date:
    return value.date() if isinstance(value, datetime) else value


def _as_instant(value: datetime | date) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.combine(value, time(), tzinfo=UTC)


# ------------------------------------------------------------------ rooms


def calendar_from_room(room: dict[str, Any]) -> Calendar | None:
    """A Graph `room` place as a calendar (id = the room's mailbox address)."""
    email = room.get("emailAddress")
    if not email:
        return None
    capacity = room.get("capacity")
    return Calendar(id=email, name=room.get("displayName") or email, kind="room", email=email,
                    capacity=capacity if isinstance(capacity, int) else None)
