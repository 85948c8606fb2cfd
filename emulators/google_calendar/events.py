"""Event resources: checking what a client sends, and rendering what Google answers.

Looked up: the Events resource reference (writable properties; `start`/`end` as `{date}`
for all-day or `{dateTime, timeZone}`, "A time zone offset is required unless a time zone
is explicitly specified in timeZone", and for recurring events `timeZone` "is required";
`extendedProperties.private`/`shared` string maps; `status`; `id` rules: "characters
allowed in the ID are those used in base32hex encoding, i.e. lowercase letters a-v and
digits 0-9 … the length of the ID must be between 5 and 1024 characters"), and the
"Handle API errors" guide (400 `timeRangeEmpty`, 400 `required`, 400 `invalid`). Where
the docs give no wording, messages are the ones Google is observed to answer ("Missing end
time.", "Missing time zone definition for start time.", "Invalid resource id value.",
"Invalid recurrence rule.").

Date-times are answered in the calendar's time zone (or the request's `timeZone`) with
the event's own `timeZone` kept beside them, as Google does.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .api import GoogleError, bad_request
from .recurrence import Timing, check_lines, instance_suffix
from .store import CalendarRecord, EventRecord

EVENT_ID = re.compile(r"^[a-v0-9]{5,1024}$")
STATUSES = {"confirmed", "tentative", "cancelled"}
# What a client may set; Google ignores properties it does not know, and so do we.
WRITABLE = {
    "summary", "description", "location", "colorId", "start", "end", "recurrence",
    "extendedProperties", "status", "transparency", "visibility", "attendees", "reminders",
    "source", "guestsCanInviteOthers", "guestsCanModify", "guestsCanSeeOtherGuests",
    "anyoneCanAddSelf", "endTimeUnspecified", "attendeesOmitted", "locked",
}


def invalid(message: str, location: str | None = None) -> GoogleError:
    """400 `invalid`."""
    return GoogleError(400, "invalid", message, location=location)


def zone_of(name: str) -> ZoneInfo:
    """An IANA zone; KeyError-free."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise invalid(f"Invalid time zone: {name}") from exc


def check_event_id(event_id: object) -> str:
    """A client-supplied id, checked against Google's rules."""
    if not isinstance(event_id, str) or not EVENT_ID.match(event_id):
        raise invalid("Invalid resource id value.", "id")
    return event_id


def _moment(value: object, which: str, recurring: bool) -> dict[str, str]:
    """A start/end checked and normalised: `{date}` or `{dateTime (with offset), timeZone?}`."""
    if not isinstance(value, dict) or not (value.get("date") or value.get("dateTime")):
        raise GoogleError(400, "required", f"Missing {which} time.")
    zone_name = value.get("timeZone")
    if zone_name is not None:
        try:
            ZoneInfo(str(zone_name))
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise invalid(f"Invalid time zone definition for {which} time.") from exc
    if value.get("date"):
        if value.get("dateTime"):
            raise invalid(f"Invalid {which} time.")
        try:
            day = dt.date.fromisoformat(str(value["date"]))
        except ValueError as exc:
            raise invalid(f"Invalid {which} time.") from exc
        return {"date": day.isoformat()}
    text = str(value["dateTime"])
    try:
        moment = dt.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError as exc:
        raise invalid(f"Invalid {which} time.") from exc
    if zone_name is None and (moment.tzinfo is None or recurring):
        raise GoogleError(400, "required", f"Missing time zone definition for {which} time.")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(str(zone_name)))
    result = {"dateTime": moment.isoformat()}
    if zone_name is not None:
        result["timeZone"] = str(zone_name)
    return result


def timing_of(fields: dict[str, Any], calendar: CalendarRecord) -> Timing:
    """When an event (or its series' first instance) happens."""
    start, end = fields["start"], fields["end"]
    if "date" in start:
        return Timing(True, dt.date.fromisoformat(start["date"]),
                      dt.date.fromisoformat(end["date"]), zone_of(calendar.time_zone))
    zone = zone_of(start.get("timeZone") or calendar.time_zone)
    return Timing(False, dt.datetime.fromisoformat(start["dateTime"]).astimezone(zone),
                  dt.datetime.fromisoformat(end["dateTime"]).astimezone(zone), zone)


def check_fields(body: dict[str, Any], calendar: CalendarRecord) -> dict[str, Any]:
    """The writable properties of a complete event (insert, update, or a patch merged onto
    the stored one), checked and normalised."""
    fields = {k: v for k, v in body.items() if k in WRITABLE and v is not None}
    recurrence = fields.get("recurrence")
    if recurrence is not None and (not isinstance(recurrence, list)
                                   or not all(isinstance(x, str) for x in recurrence)):
        raise invalid("Invalid recurrence rule.", "recurrence")
    if recurrence == []:
        fields.pop("recurrence")
        recurrence = None
    fields["start"] = _moment(body.get("start"), "start", bool(recurrence))
    fields["end"] = _moment(body.get("end"), "end", bool(recurrence))
    if ("date" in fields["start"]) != ("date" in fields["end"]):
        raise invalid("Start and end times must either both be date or both be dateTime.")
    timing = timing_of(fields, calendar)
    start_utc, end_utc = timing.utc_bounds()
    if end_utc < start_utc or (timing.all_day and end_utc == start_utc):
        raise GoogleError(400, "timeRangeEmpty", "The specified time range is empty.",
                          location="end")
    if recurrence:
        try:
            check_lines(recurrence, timing)
        except (ValueError, KeyError, ZoneInfoNotFoundError) as exc:
            raise invalid("Invalid recurrence rule.", "recurrence") from exc
    status = fields.get("status", "confirmed")
    if status not in STATUSES:
        raise invalid(f"Invalid value for: {status}", "status")
    fields["status"] = status
    props = fields.get("extendedProperties")
    if props is not None:
        if not isinstance(props, dict) or not all(
                k in ("private", "shared") and isinstance(v, dict)
                and all(isinstance(x, str) for x in v.values()) for k, v in props.items()):
            raise invalid("Invalid extended properties.", "extendedProperties")
    for name in ("summary", "description", "location"):
        if name in fields and not isinstance(fields[name], str):
            raise bad_request(location=name)
    return fields


def merge_patch(stored: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Patch semantics: objects merge key by key (null removes), anything else replaces."""
    result = dict(stored)
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict) and isinstance(result.get(key), dict) \
                and key not in ("start", "end"):
            result[key] = merge_patch(result[key], value)
        else:
            result[key] = value
    return result


def display_moment(value: dict[str, str], zone: ZoneInfo) -> dict[str, str]:
    """A stored start/end as answered: dates as they are, date-times in ``zone``."""
    if "date" in value:
        return {"date": value["date"]}
    moment = dt.datetime.fromisoformat(value["dateTime"]).astimezone(zone)
    out = {"dateTime": moment.isoformat()}
    if "timeZone" in value:
        out["timeZone"] = value["timeZone"]
    return out


def moment_json(moment: dt.datetime | dt.date, zone_name: str | None) -> dict[str, str]:
    """`{date}` or `{dateTime, timeZone?}` for a computed instance time."""
    if isinstance(moment, dt.datetime):
        out = {"dateTime": moment.isoformat()}
        if zone_name:
            out["timeZone"] = zone_name
        return out
    return {"date": moment.isoformat()}


def render(record: EventRecord, calendar: CalendarRecord, principal: str, base_url: str,
           zone: ZoneInfo, master: EventRecord | None = None) -> dict[str, Any]:
    """The Events resource for a stored event. A cancelled exception of a series carries
    only what identifies it, as Google's do."""
    body: dict[str, Any] = {"kind": "calendar#event", "etag": record.etag, "id": record.id,
                            "status": record.status}
    if record.recurring_event_id:
        body["recurringEventId"] = record.recurring_event_id
        body["originalStartTime"] = _display_original(record.original_start or {}, zone)
        if record.status == "cancelled" and master is not None and master.status != "cancelled":
            return body
    fields = record.fields
    body.update({
        "htmlLink": f"{base_url}/calendar/event?eid={record.id}",
        "created": record.created,
        "updated": record.updated,
        "creator": {"email": record.creator},
        "organizer": {"email": calendar.id, "displayName": calendar.summary,
                      **({"self": True} if principal == calendar.id.lower() else {})},
        "iCalUID": record.ical_uid,
        "sequence": record.sequence,
        "reminders": {"useDefault": True},
        "eventType": "default",
    })
    for key, value in fields.items():
        if key in ("start", "end"):
            body[key] = display_moment(value, zone)
        elif key != "status":
            body[key] = value
    return body


def render_instance(master: EventRecord, calendar: CalendarRecord, principal: str,
                    base_url: str, zone: ZoneInfo, original: dt.datetime | dt.date,
                    timing: Timing) -> dict[str, Any]:
    """An unchanged instance of a series: the master's properties at this instance's time."""
    body = render(master, calendar, principal, base_url, zone)
    body.pop("recurrence", None)
    zone_name = master.fields["start"].get("timeZone")
    instance = timing.shifted(original)
    body["id"] = f"{master.id}_{instance_suffix(original)}"
    body["recurringEventId"] = master.id
    body["originalStartTime"] = _display(moment_json(original, zone_name), zone)
    body["start"] = _display(moment_json(instance.start, zone_name), zone)
    body["end"] = _display(moment_json(instance.end, master.fields["end"].get("timeZone")),
                           zone)
    return body


def _display(value: dict[str, str], zone: ZoneInfo) -> dict[str, str]:
    return display_moment(value, zone)


def _display_original(value: dict[str, str], zone: ZoneInfo) -> dict[str, str]:
    return display_moment(value, zone) if value else {}


def original_start_json(original: dt.datetime | dt.date, master: EventRecord) -> dict[str, str]:
    """An instance's `originalStartTime` as stored on its exception."""
    return moment_json(original, master.fields["start"].get("timeZone"))
