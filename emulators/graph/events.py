"""Graph event JSON in and out: validation, time zones, extended properties, $filter/$expand."""

from __future__ import annotations

import datetime as dt
import html
import re
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from . import recurrence as patterns
from .api import GraphError, iso_utc, utc_now
from .store import EventRecord, Mailbox, new_change_key, outlook_id
from .timezones import format_local, is_midnight, parse_local, resolve_zone

WRITABLE = {
    "subject", "body", "start", "end", "isAllDay", "location", "locations", "attendees",
    "sensitivity", "showAs", "importance", "categories", "isReminderOn",
    "reminderMinutesBeforeStart", "recurrence", "responseRequested", "allowNewTimeProposals",
    "isOnlineMeeting", "onlineMeetingProvider", "hideAttendees", "isCancelled",
    "transactionId", "singleValueExtendedProperties", "organizer",
}
READ_ONLY = {
    "id", "createdDateTime", "lastModifiedDateTime", "changeKey", "iCalUId", "uid",
    "bodyPreview", "type", "webLink", "seriesMasterId", "originalStartTimeZone",
    "originalEndTimeZone", "isOrganizer", "hasAttachments", "responseStatus", "isDraft",
    "onlineMeeting", "onlineMeetingUrl", "occurrenceId",
}
ENUMS = {
    "sensitivity": {"normal", "personal", "private", "confidential"},
    "showAs": {"free", "tentative", "busy", "oof", "workingElsewhere", "unknown"},
    "importance": {"low", "normal", "high"},
}
_STRING = r"'((?:[^']|'')*)'"
_ANY_FILTER = re.compile(
    r"^\s*singleValueExtendedProperties/any\(\s*(\w+)\s*:\s*(.+)\)\s*$", re.IGNORECASE
)
_EP_CLAUSE = re.compile(r"^\s*(\w+)/(id|value)\s+eq\s+" + _STRING + r"\s*$", re.IGNORECASE)
_SIMPLE_FILTER = re.compile(
    r"^\s*(iCalUId|transactionId|subject)\s+eq\s+" + _STRING + r"\s*$", re.IGNORECASE
)
_EXPAND = re.compile(
    r"^\s*singleValueExtendedProperties\s*(?:\(\s*\$filter\s*=\s*(.+)\))?\s*$", re.IGNORECASE
)
_EXPAND_ID = re.compile(r"^\s*id\s+eq\s+" + _STRING + r"\s*$", re.IGNORECASE)


def property_key(prop_id: str) -> str:
    """The comparable form of an extended property id (case and spacing insensitive)."""
    return " ".join(prop_id.split()).lower()


def _unquote(literal: str) -> str:
    return literal.replace("''", "'")


def body_preview(body: dict[str, Any]) -> str:
    """Plain text of the body, whitespace collapsed, at most 255 characters (as Graph does)."""
    content = str(body.get("content") or "")
    if str(body.get("contentType", "text")).lower() == "html":
        content = re.sub(r"(?is)<(script|style|head).*?</\1>", " ", content)
        content = html.unescape(re.sub(r"<[^>]+>", " ", content))
    return " ".join(content.split())[:255]


def _bad_body(message: str) -> GraphError:
    return GraphError(400, "RequestBodyRead", message)


def validate_payload(payload: Any, creating: bool) -> dict[str, Any]:
    """Reject what Graph rejects: unknown properties, bad enums, missing start/end."""
    if not isinstance(payload, dict):
        raise _bad_body("The request body must be a JSON object of type 'microsoft.graph.event'.")
    for name, value in payload.items():
        if name.startswith("@odata") or name in READ_ONLY:
            continue
        if name not in WRITABLE:
            raise _bad_body(
                f"The property '{name}' does not exist on type 'microsoft.graph.event'. Make sure "
                "to only use property names that are defined by the type or mark the type as open "
                "type."
            )
        if name in ENUMS and value not in ENUMS[name]:
            raise _bad_body(f"Requested value '{value}' was not found for property '{name}'.")
    if creating:
        for name in ("start", "end"):
            if not isinstance(payload.get(name), dict) or not payload[name].get("dateTime"):
                raise GraphError(
                    400, "ErrorInvalidRequest", f"Your request can't be completed. '{name}' "
                    "with a dateTime and a timeZone is required."
                )
    return payload


def apply_payload(record: EventRecord, payload: dict[str, Any]) -> None:
    """Copy writable fields into ``record`` and recompute its instants (creation and PATCH)."""
    fields = record.fields
    for name, value in payload.items():
        # transactionId is set once at creation and is immutable afterwards
        if name in WRITABLE and name not in {
            "singleValueExtendedProperties", "organizer", "transactionId"
        }:
            fields[name] = value
    for item in payload.get("singleValueExtendedProperties") or []:
        if not isinstance(item, dict) or "id" not in item or "value" not in item:
            raise _bad_body("An extended property needs an 'id' and a 'value'.")
        record.ext_props[property_key(str(item["id"]))] = {
            "id": str(item["id"]),
            "value": str(item["value"]),
        }
    start_spec = fields.get("start") or {}
    end_spec = fields.get("end") or {}
    start_zone = start_spec.get("timeZone") or "UTC"
    end_zone = end_spec.get("timeZone") or start_zone
    start = parse_local(str(start_spec.get("dateTime")), start_zone)
    end = parse_local(str(end_spec.get("dateTime")), end_zone)
    if end < start:
        raise GraphError(400, "ErrorInvalidRequest", "The end date occurs before the start date.")
    if fields.get("isAllDay"):
        if not (is_midnight(start, start_zone) and is_midnight(end, end_zone)) or end == start:
            raise GraphError(
                400,
                "ErrorPropertyValidationFailure",
                "Your request can't be completed. If you're creating an all-day event, the start "
                "and end times must be set to midnight and be in the same time zone.",
            )
        local = start.astimezone(resolve_zone(start_zone)).replace(tzinfo=None)
        local_end = end.astimezone(resolve_zone(end_zone)).replace(tzinfo=None)
        fields["_allDayStart"] = local.isoformat()
        fields["_allDayEnd"] = local_end.isoformat()
    else:
        fields.pop("_allDayStart", None)
        fields.pop("_allDayEnd", None)
    fields["originalStartTimeZone"] = start_zone
    fields["originalEndTimeZone"] = end_zone
    record.start, record.end = start, end
    if fields.get("recurrence"):
        settle_recurrence(record, strict="recurrence" in payload)


def local_start_date(record: EventRecord) -> dt.date:
    """The date the event starts on in its own time zone."""
    if record.fields.get("isAllDay"):
        return dt.date.fromisoformat(record.fields["_allDayStart"][:10])
    zone = resolve_zone(record.fields.get("originalStartTimeZone") or "UTC")
    return record.start.astimezone(zone).date()


def settle_recurrence(record: EventRecord, strict: bool) -> None:
    """Validate a series' recurrence, store it in the form Graph answers with, and start the
    master on the series' first occurrence (Exchange moves a master whose start does not fit
    the pattern there). ``strict`` when the request set the recurrence: its startDate must
    then be the start's date; otherwise the stored range follows a moved start."""
    fields = record.fields
    zone_name = fields.get("originalStartTimeZone") or "UTC"
    start_date = local_start_date(record)
    raw = fields["recurrence"]
    if not strict and isinstance(raw, dict) and isinstance(raw.get("range"), dict):
        raw = {**raw, "range": {**raw["range"], "startDate": start_date.isoformat()}}
    normal = patterns.normalize(raw, start_date, zone_name)
    first = patterns.first_date(normal)
    if first is None:
        raise GraphError(400, "ErrorRecurrenceHasNoOccurrence",
                         "Recurrence has no occurrences in the specified range.")
    if first != start_date:
        shift_to(record, first)
        normal["range"]["startDate"] = first.isoformat()
    fields["recurrence"] = normal


def shift_to(record: EventRecord, day: dt.date) -> None:
    """Move the event to ``day`` keeping its local start time and its duration."""
    fields = record.fields
    start_zone = fields.get("originalStartTimeZone") or "UTC"
    end_zone = fields.get("originalEndTimeZone") or start_zone
    if fields.get("isAllDay"):
        old = dt.datetime.fromisoformat(fields["_allDayStart"])
        length = dt.datetime.fromisoformat(fields["_allDayEnd"]) - old
        local = dt.datetime.combine(day, dt.time())
        fields["_allDayStart"] = local.isoformat()
        fields["_allDayEnd"] = (local + length).isoformat()
        zone = resolve_zone(start_zone)
        record.start = local.replace(tzinfo=zone).astimezone(dt.UTC)
        record.end = (local + length).replace(tzinfo=zone).astimezone(dt.UTC)
        fields["start"] = {"dateTime": fields["_allDayStart"], "timeZone": start_zone}
        fields["end"] = {"dateTime": fields["_allDayEnd"], "timeZone": end_zone}
        return
    length = record.end - record.start
    zone = resolve_zone(start_zone)
    local = dt.datetime.combine(day, record.start.astimezone(zone).time(), tzinfo=zone)
    record.start = local.astimezone(dt.UTC)
    record.end = record.start + length
    fields["start"] = _local_spec(record.start, start_zone)
    fields["end"] = _local_spec(record.end, end_zone)


def _local_spec(moment: dt.datetime, zone_name: str) -> dict[str, str]:
    local = moment.astimezone(resolve_zone(zone_name)).replace(tzinfo=None)
    return {"dateTime": local.isoformat(), "timeZone": zone_name}


def new_record(mailbox: Mailbox, calendar_id: str, payload: dict[str, Any]) -> EventRecord:
    """A fresh event built from a POST body (not yet stored)."""
    now = utc_now()
    record = EventRecord(
        id=outlook_id("AAMkAD"),
        immutable_id=outlook_id("AAkALg"),
        mailbox_id=mailbox.id,
        calendar_id=calendar_id,
        fields={},
        start=now,
        end=now,
        created=now,
        modified=now,
        change_key=new_change_key(),
        ical_uid="040000008200E00074C5B7101A82E00800000000" + uuid.uuid4().hex.upper(),
    )
    apply_payload(record, payload)
    if payload.get("transactionId"):
        record.fields["transactionId"] = str(payload["transactionId"])
    return record


def render(
    record: EventRecord,
    mailbox: Mailbox,
    zone: str,
    immutable: bool,
    expand_ids: list[str] | None = None,
    select: list[str] | None = None,
) -> dict[str, Any]:
    """The event as Graph returns it, times shown in ``zone``."""
    f = record.fields
    event_id = record.immutable_id if immutable else record.id
    body = f.get("body") or {"contentType": "text", "content": ""}
    location = {"displayName": "", "locationType": "default", "uniqueIdType": "unknown",
                "address": {}, "coordinates": {}}
    location.update(f.get("location") or {})
    if location.get("displayName") and location.get("uniqueIdType") == "unknown":
        location.setdefault("uniqueId", location["displayName"])
        location["uniqueIdType"] = "private"
    if f.get("isAllDay"):
        start = {"dateTime": f["_allDayStart"] + ".0000000", "timeZone": zone}
        end = {"dateTime": f["_allDayEnd"] + ".0000000", "timeZone": zone}
    else:
        start, end = format_local(record.start, zone), format_local(record.end, zone)
    out: dict[str, Any] = {
        "@odata.etag": f'W/"{record.change_key}"',
        "id": event_id,
        "createdDateTime": iso_utc(record.created),
        "lastModifiedDateTime": iso_utc(record.modified),
        "changeKey": record.change_key,
        "categories": f.get("categories") or [],
        "transactionId": f.get("transactionId"),
        "originalStartTimeZone": f.get("originalStartTimeZone"),
        "originalEndTimeZone": f.get("originalEndTimeZone"),
        "iCalUId": record.ical_uid,
        "uid": record.ical_uid,
        "reminderMinutesBeforeStart": f.get("reminderMinutesBeforeStart", 15),
        "isReminderOn": f.get("isReminderOn", True),
        "hasAttachments": False,
        "subject": f.get("subject") or "",
        "bodyPreview": body_preview(body),
        "importance": f.get("importance", "normal"),
        "sensitivity": f.get("sensitivity", "normal"),
        "isAllDay": bool(f.get("isAllDay", False)),
        "isCancelled": bool(f.get("isCancelled", False)),
        "isOrganizer": not f.get("_organizer"),
        "responseRequested": f.get("responseRequested", True),
        "seriesMasterId": None,
        "showAs": f.get("showAs", "busy"),
        "type": "seriesMaster" if f.get("recurrence") else "singleInstance",
        "webLink": "https://outlook.office365.com/owa/?itemid="
        f"{quote(event_id, safe='')}&exvsurl=1&path=/calendar/item",
        "onlineMeetingUrl": None,
        "isOnlineMeeting": bool(f.get("isOnlineMeeting", False)),
        "onlineMeetingProvider": f.get("onlineMeetingProvider", "unknown"),
        "allowNewTimeProposals": f.get("allowNewTimeProposals", True),
        "occurrenceId": None,
        "isDraft": False,
        "hideAttendees": bool(f.get("hideAttendees", False)),
        "responseStatus": {"response": "accepted" if f.get("_organizer") else "organizer",
                           "time": "0001-01-01T00:00:00Z"},
        "body": {
            "contentType": body.get("contentType", "text"),
            "content": body.get("content", ""),
        },
        "start": start,
        "end": end,
        "location": location,
        "locations": f.get("locations") or ([location] if location.get("displayName") else []),
        "recurrence": f.get("recurrence"),
        "attendees": [_attendee(a) for a in f.get("attendees") or []],
        # An app's event in a mailbox is organised by the mailbox; an accepted invitation
        # by whoever sent it.
        "organizer": {"emailAddress": f.get("_organizer")
                      or {"name": mailbox.display_name, "address": mailbox.upn}},
        "onlineMeeting": None,
    }
    instance = f.get("_instance")
    if instance:  # an occurrence or exception of a series (see series.py)
        out["type"] = instance["type"]
        out["seriesMasterId"] = instance["masterImmutableId" if immutable else "masterId"]
        out["originalStart"] = instance["originalStart"]
    if select:
        wanted = {s.strip().lower() for s in select if s.strip()}
        out = {k: v for k, v in out.items() if k in {"@odata.etag", "id"} or k.lower() in wanted}
    if expand_ids is not None:
        props = [
            {"id": p["id"], "value": p["value"]}
            for key, p in record.ext_props.items()
            if not expand_ids or key in expand_ids
        ]
        if props:
            out["singleValueExtendedProperties"] = props
    return out


def _attendee(attendee: dict[str, Any]) -> dict[str, Any]:
    result = {"type": "required", "status": {"response": "none", "time": "0001-01-01T00:00:00Z"}}
    result.update(attendee)
    return result


def parse_filter(text: str | None) -> Callable[[EventRecord], bool]:
    """A predicate for the `$filter` forms calbridge uses; 400 for anything else."""
    if not text:
        return lambda _record: True
    found = _ANY_FILTER.match(text)
    if found:
        var, body = found.group(1), found.group(2)
        wanted: dict[str, str] = {}
        for clause in re.split(r"\s+and\s+", body, flags=re.IGNORECASE):
            part = _EP_CLAUSE.match(clause)
            if not part or part.group(1) != var or part.group(2).lower() in wanted:
                raise _unsupported_filter(text)
            wanted[part.group(2).lower()] = _unquote(part.group(3))
        if "id" not in wanted:
            raise _unsupported_filter(text)
        key = property_key(wanted["id"])
        value = wanted.get("value")
        return lambda r: key in r.ext_props and (
            value is None or r.ext_props[key]["value"] == value
        )
    simple = _SIMPLE_FILTER.match(text)
    if simple:
        name, value = simple.group(1).lower(), _unquote(simple.group(2))
        if name == "icaluid":
            return lambda r: r.ical_uid == value
        if name == "transactionid":
            return lambda r: r.fields.get("transactionId") == value
        return lambda r: (r.fields.get("subject") or "") == value
    raise _unsupported_filter(text)


def _unsupported_filter(text: str) -> GraphError:
    return GraphError(400, "ErrorInvalidUrlQueryFilter", f"Invalid filter clause: {text}")


def parse_expand(text: str | None) -> list[str] | None:
    """Extended property keys asked for with `$expand`, [] for all, None when not asked."""
    if not text:
        return None
    found = _EXPAND.match(text)
    if not found:
        raise GraphError(400, "BadRequest", f"Parsing OData Select and Expand failed: {text}")
    if found.group(1) is None:
        return []
    keys = []
    for clause in re.split(r"\s+or\s+", found.group(1), flags=re.IGNORECASE):
        part = _EXPAND_ID.match(clause)
        if not part:
            raise _unsupported_filter(found.group(1))
        keys.append(property_key(_unquote(part.group(1))))
    return keys


def overlaps(record: EventRecord, start: dt.datetime, end: dt.datetime) -> bool:
    """True when the event intersects [start, end); zero-length events count at the start."""
    if record.fields.get("isAllDay"):
        # all-day events are floating dates: compare them in their original zone
        zone = resolve_zone(record.fields.get("originalStartTimeZone") or "UTC")
        ev_start = dt.datetime.fromisoformat(record.fields["_allDayStart"]).replace(tzinfo=zone)
        ev_end = dt.datetime.fromisoformat(record.fields["_allDayEnd"]).replace(tzinfo=zone)
    else:
        ev_start, ev_end = record.start, record.end
    if ev_start == ev_end:
        return start <= ev_start < end
    return ev_start < end and ev_end > start
