"""iCalendar resources ⇄ canonical events, with `icalendar` doing the parsing.

One CalDAV resource holds one event, or one recurring series: its master (RRULE, EXDATE)
and the RECURRENCE-ID overrides of single occurrences (RFC 4791 4.1). Read like a calendar
view, a series is its occurrences and exceptions, each with an id of its own made of the
resource's id and its RECURRENCE-ID in UTC, so the id stays the same whatever the
occurrence is moved to. Writing changes only the properties calbridge knows, in the
component the server gave, so everything else (VALARMs, other clients' X- properties)
survives a round trip.

Times are kept in the form they have: a floating time (no TZID, no Z) stays floating, a
UTC time UTC, a date a date, and a time calbridge moves is written in the same form. A
calendar naming its zone with `X-WR-TIMEZONE` (Google's exports, some servers) is read
through the `x-wr-timezone` library, as RFC 5545 readers expect: its UTC and floating
times are that zone's wall clock, and its series repeat on it. Floating times elsewhere
are read in UTC: RFC 5545 gives them no zone, and calbridge needs an instant."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from urllib.parse import unquote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import x_wr_timezone
from icalendar import Calendar as ICalendar
from icalendar import Component, Timezone, vCalAddress, vRecur
from icalendar import Event as VEvent

from calbridge.bridges.base import TimeWindow
from calbridge.bridges.timezones import zone_keeping
from calbridge.errors import UpstreamError, ValidationFailed
from calbridge.model import (
    Event,
    EventField,
    EventKind,
    EventStatus,
    Person,
    Privacy,
    Recurrence,
)
from calbridge.recurrence import expand

log = logging.getLogger(__name__)

MARKER_PROPERTY = "X-CALBRIDGE-LINK"
# The calendar a copy was written to, on its marker: a client moving the event to another
# calendar (delete here, create there, properties and all) leaves it naming this one, so
# there the marker is known for stale and the event read as the person's own.
MARKER_CALENDAR = "X-CALBRIDGE-CALENDAR"
PRODID = "-//calbridge//calbridge//EN"
# The span VTIMEZONE blocks describe: past any sync window in both directions.
ZONE_SPAN = (date(1970, 1, 1), date(2100, 1, 1))
_OCCURRENCE = re.compile(r"^(?P<resource>.+)@(?P<rid>\d{8}(T\d{6}Z)?)$")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")


def rid_key(value: datetime | date) -> str:
    """An occurrence's RECURRENCE-ID as it goes into ids: UTC for a time, the day for a date."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return value.strftime("%Y%m%d")


def occurrence_id(resource_id: str, original: datetime | date) -> str:
    return f"{resource_id}@{rid_key(original)}"


def split_id(event_id: str) -> tuple[str, str | None]:
    """A resource's id and, for an occurrence, its RECURRENCE-ID key."""
    found = _OCCURRENCE.match(event_id)
    return (found["resource"], found["rid"]) if found else (event_id, None)


def valid_resource_id(resource_id: str) -> bool:
    """Whether an id can only name a member of its calendar (never a path elsewhere)."""
    return (bool(resource_id) and resource_id not in (".", "..") and len(resource_id) <= 512
            and not any(c in resource_id for c in "/\\?#") and resource_id.isprintable())


def resource_name(idempotency_key: str) -> str:
    """The member name a create PUTs to: the same for every retry of one create."""
    if _SAFE_NAME.match(idempotency_key):
        return f"{idempotency_key}.ics"
    return f"{hashlib.sha256(idempotency_key.encode()).hexdigest()}.ics"


# ------------------------------------------------------------------ reading


@dataclass
class Resource:
    """One parsed calendar object resource: its components as stored (what writes
    change), and, for a calendar with `X-WR-TIMEZONE`, the same read in that zone."""

    id: str
    etag: str | None
    calendar: ICalendar
    master: VEvent | None
    overrides: dict[str, VEvent] = field(default_factory=dict)
    # The zone floating times are the wall clock of (UTC without X-WR-TIMEZONE).
    floating_zone: tzinfo = UTC
    view: Resource | None = None

    @property
    def recurring(self) -> bool:
        return self.master is not None and ("RRULE" in self.master or "RDATE" in self.master)

    @property
    def read(self) -> Resource:
        """The resource as events are read from it."""
        return self.view or self


def _components(calendar: ICalendar, floating_zone: tzinfo
                ) -> tuple[VEvent | None, dict[str, VEvent]]:
    master: VEvent | None = None
    overrides: dict[str, VEvent] = {}
    for component in calendar.walk("VEVENT"):
        rid = component.get("RECURRENCE-ID")
        if rid is None:
            master = master or component
        else:
            overrides[rid_key(_aware(rid.dt, floating_zone))] = component
    return master, overrides


def _calendar_zone(calendar: ICalendar) -> ZoneInfo | None:
    """The zone a calendar names with X-WR-TIMEZONE, when it is one calbridge knows."""
    name = calendar.get("X-WR-TIMEZONE")
    if name is None:
        return None
    try:
        return ZoneInfo(str(name).strip())
    except (ZoneInfoNotFoundError, ValueError):
        return None


def parse_resource(resource_id: str, etag: str | None, data: str | bytes) -> Resource:
    """Parse calendar data; `UpstreamError` when it is not iCalendar with a VEVENT."""
    try:
        calendar = ICalendar.from_ical(data)
        zone = _calendar_zone(calendar)
        standard = x_wr_timezone.to_standard(calendar) if zone is not None else None
    except (ValueError, KeyError, IndexError) as exc:
        raise UpstreamError(f"caldav: {resource_id!r} is not iCalendar "
                            f"({type(exc).__name__})") from None
    floating_zone = zone or UTC
    master, overrides = _components(calendar, floating_zone)
    if master is None and not overrides:
        raise UpstreamError(f"caldav: {resource_id!r} holds no VEVENT")
    view = None
    if standard is not None:
        view = Resource(resource_id, etag, standard, *_components(standard, floating_zone),
                        floating_zone=floating_zone)
    return Resource(resource_id, etag, calendar, master, overrides,
                    floating_zone=floating_zone, view=view)


def written_resource(resource_id: str, etag: str | None, calendar: ICalendar) -> Resource:
    """A resource calbridge has just written (`new_resource`, `serialise`d as sent), read
    from the object it was written from instead of parsed back from its bytes: it names
    no X-WR-TIMEZONE, so its floating times are UTC's, as a parse would make them."""
    return Resource(resource_id, etag, calendar, *_components(calendar, UTC))


def _zone_of(value: object, tzid: str | None = None,
             calendar: ICalendar | None = None) -> str:
    """The IANA zone of a time: its own, or, for a zone the calendar defines in a
    VTIMEZONE under another name (Outlook's exports: "W. Europe Standard Time",
    "(UTC+01:00) Amsterdam, Berlin, …", "Customized Time Zone"), the IANA zone keeping
    the same clock — so a series repeats on that clock across daylight saving time,
    here and in the calendars it is copied to. UTC when none does (logged)."""
    tz = getattr(value, "tzinfo", None)
    key = getattr(tz, "key", None)
    if isinstance(key, str):
        return key
    if tz is None or not isinstance(value, datetime) or not tzid:
        return "UTC"
    found = zone_keeping(tz, tzid, value, _definition(calendar, tzid))
    if found is None:
        _unmatched(tzid[:100])
        return "UTC"
    return found


def _definition(calendar: ICalendar | None, tzid: str) -> str:
    """The VTIMEZONE a calendar gives for `tzid`, as text ("" when it gives none)."""
    for component in calendar.walk("VTIMEZONE") if calendar is not None else []:
        if str(component.get("TZID", "")) == tzid:
            return component.to_ical().decode(errors="replace")
    return ""


@lru_cache(maxsize=64)
def _unmatched(tzid: str) -> None:
    """Said once per zone name, not once per event of it."""
    log.warning("a CalDAV time zone matches no IANA zone; its times are kept as instants",
                extra={"zone": tzid})


def _aware(value: datetime | date, floating_zone: tzinfo = UTC) -> datetime | date:
    """A floating time read as the wall clock of `floating_zone` (see the module's
    docstring); other values as they are."""
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=floating_zone)
    return value


def _like(value: datetime | date, stored: object, floating_zone: tzinfo) -> datetime | date:
    """An instant written in the form a stored value has: floating as the wall clock of
    `floating_zone`, UTC as UTC, a zone's time in that zone (a date stays a date)."""
    if not isinstance(value, datetime) or not isinstance(stored, datetime):
        return value
    if stored.tzinfo is None:
        return value.astimezone(floating_zone).replace(tzinfo=None)
    return value.astimezone(stored.tzinfo)


def _when(component: VEvent, name: str) -> datetime | date:
    """A DTSTART or DTEND: a date or a time, else a `ValueError` naming it."""
    value = component.decoded(name)
    if not isinstance(value, date):
        raise ValueError(f"its {name} is not a date or a time ({str(value)[:40]!r})")
    return _aware(value)


def _times(component: VEvent) -> tuple[datetime | date, datetime | date, bool]:
    if "DTSTART" not in component:
        raise UpstreamError("caldav: a VEVENT without DTSTART")
    start = _when(component, "DTSTART")
    all_day = not isinstance(start, datetime)
    if "DTEND" in component:
        end = _when(component, "DTEND")
    elif "DURATION" in component:
        end = start + component.decoded("DURATION")
    else:  # RFC 5545 3.6.1: a day for a date, no length for a time
        end = start + timedelta(days=1) if all_day else start
    if type(end) is not type(start) or end < start:  # type: ignore[operator]
        # RFC 5545 3.6.1: DTEND is later than DTSTART, and of its kind. No calendar
        # takes such an event; it is read as not readable, not retried against them.
        raise ValueError("its DTEND is before its DTSTART or not of its kind")
    return start, end, all_day


def _person(value: object) -> Person | None:
    if value is None:
        return None
    address = str(value)
    email = address[7:] if address.lower().startswith("mailto:") else None
    params = getattr(value, "params", {})
    name = params.get("CN") if params else None
    return Person(name=str(name) if name else None, email=email)


def _text(component: VEvent, name: str) -> str:
    value = component.get(name)
    return str(value) if value is not None else ""


def _marker(component: VEvent, calendar_id: str) -> str | None:
    """calbridge's marker, unless it names another calendar than the one the event is
    read from: then the event was moved here by a client, and is no copy of calbridge's
    here (markers written before they named their calendar count wherever they are)."""
    value = component.get(MARKER_PROPERTY)
    if isinstance(value, list):
        value = value[0] if value else None
    if not value:
        return None
    written_to = getattr(value, "params", {}).get(MARKER_CALENDAR)
    if written_to and _same_path(str(written_to)) != _same_path(calendar_id):
        return None
    return str(value)


def _same_path(calendar_id: str) -> str:
    return unquote(calendar_id).rstrip("/")


def _last_modified(component: VEvent) -> datetime | None:
    """LAST-MODIFIED, or None when it is missing or cannot be read (given twice, or not a
    time, as some clients write it): it only helps a conflict policy, the event is
    read without it."""
    value = component.get("LAST-MODIFIED")
    try:
        modified = _aware(value.dt) if value is not None else None
    except (AttributeError, ValueError):
        return None
    return modified if isinstance(modified, datetime) else None


# What reading a resource's properties raises when one cannot be read: icalendar keeps
# a property it cannot parse and raises on its value (`BrokenCalendarProperty`, a
# ValueError); a property given twice where one is allowed is a list.
_BROKEN = (ValueError, KeyError, IndexError, TypeError, AttributeError)


@contextmanager
def reading(resource_id: str) -> Iterator[None]:
    """Turn a resource that cannot be read as events (a broken DTSTART, RRULE or EXDATE)
    into an `UpstreamError` naming it and the reason, so it fails alone."""
    try:
        yield
    except UpstreamError:
        raise
    except (*_BROKEN, ValidationFailed) as exc:  # ValidationFailed: an RRULE it cannot read
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise UpstreamError(f"caldav: {resource_id!r} cannot be read: {reason}",
                            details={"resource": resource_id}) from None


def event_from_component(component: VEvent, resource: Resource, calendar_id: str) -> Event:
    """One VEVENT as it stands on its own (a single event, or a master read whole)."""
    start, end, all_day = _times(component)
    zone_param = component["DTSTART"].params.get("TZID")
    zone = (_zone_of(start, str(zone_param) if zone_param else None, resource.calendar)
            if not all_day else "UTC")
    if zone_param and isinstance(start, datetime) and isinstance(end, datetime) and getattr(
            start.tzinfo, "key", None) is None and zone != "UTC":
        # Times in a zone the resource defines itself, as the same instants in the IANA
        # zone matched to it (reading that zone's own clock again is slow).
        start, end = start.astimezone(ZoneInfo(zone)), end.astimezone(ZoneInfo(zone))
    status = (EventStatus.CANCELLED if _text(component, "STATUS").upper() == "CANCELLED"
              else EventStatus.CONFIRMED)
    privacy = (Privacy.PRIVATE if _text(component, "CLASS").upper() in ("PRIVATE", "CONFIDENTIAL")
               else Privacy.NORMAL)
    attendees = component.get("ATTENDEE")
    if attendees is not None and not isinstance(attendees, list):
        attendees = [attendees]
    marker = _marker(component, calendar_id)
    return Event(
        id=resource.id, calendar_id=calendar_id, title=_text(component, "SUMMARY"),
        description=_text(component, "DESCRIPTION"), start=start, end=end, all_day=all_day,
        timezone=zone, location=_text(component, "LOCATION"),
        organizer=_person(component.get("ORGANIZER")),
        attendees=[p for a in attendees or [] if (p := _person(a)) is not None],
        status=status, privacy=privacy, etag=resource.etag,
        last_modified=_last_modified(component),
        marker=marker,
        native_zone=str(zone_param) if zone_param and str(zone_param) != zone else None)


def _recurrence(component: VEvent) -> Recurrence | None:
    rule = component.get("RRULE")
    if rule is None:
        return None
    rules = rule if isinstance(rule, list) else [rule]
    return Recurrence(rrule=rules[0].to_ical().decode(), exdates=_exdates(component))


def _exdates(component: VEvent) -> list[datetime | date]:
    exdates: list[datetime | date] = []
    found = component.get("EXDATE")
    for group in found if isinstance(found, list) else [found] if found is not None else []:
        exdates += [_aware(each.dt) for each in group.dts]
    return exdates


def series_event(resource: Resource, calendar_id: str) -> Event:
    """The resource read whole: a single event, or a series' master with its rule."""
    resource = resource.read
    if resource.master is None:  # only overrides (an invitation to some occurrences)
        first = min(resource.overrides)
        return _override(resource, resource.overrides[first], calendar_id)
    event = event_from_component(resource.master, resource, calendar_id)
    if not resource.recurring:
        return event
    return event.model_copy(update={"kind": EventKind.SERIES,
                                    "recurrence": _recurrence(resource.master)})


def _override(resource: Resource, component: VEvent, calendar_id: str) -> Event:
    original = _aware(component.decoded("RECURRENCE-ID"))
    event = event_from_component(component, resource, calendar_id)
    marker = event.marker
    if marker is None and resource.master is not None:
        marker = _marker(resource.master, calendar_id)
    return event.model_copy(update={
        "id": occurrence_id(resource.id, original), "kind": EventKind.EXCEPTION,
        "series_id": resource.id, "original_start": _utc(original), "marker": marker})


def _utc(value: datetime | date) -> datetime | date:
    """An original start in UTC, as Graph and Google give theirs: the engine pairs the
    occurrences of two calendars by it, so both ends must spell an instant alike."""
    return value.astimezone(UTC) if isinstance(value, datetime) else value


def _rdates(component: VEvent) -> list[datetime | date]:
    found = component.get("RDATE")
    out: list[datetime | date] = []
    for group in found if isinstance(found, list) else [found] if found is not None else []:
        out += [_aware(each.dt) for each in group.dts if not isinstance(each.dt, tuple)]
    return out


def occurrences(resource: Resource, calendar_id: str, window: TimeWindow,
                cancelled: bool = True) -> list[Event]:
    """What a calendar view shows of a resource inside the window: the event itself, or
    the series' occurrences and exceptions (cancelled exceptions only with `cancelled`)."""
    resource = resource.read
    if not resource.recurring:
        event = series_event(resource, calendar_id)
        return [event] if overlaps(event.start, event.end, window) else []
    master = resource.master
    assert master is not None
    base = event_from_component(master, resource, calendar_id)
    recurrence = _recurrence(master)
    zone = base.timezone
    starts: list[tuple[datetime | date, datetime | date]] = []
    if recurrence is not None:
        starts += [(o.start, o.end) for o in expand(
            recurrence.rrule, base.start, base.end, zone, recurrence.exdates,
            window.start, window.end, all_day=base.all_day)]
    length = _length(base)
    excluded = {rid_key(value) for value in (recurrence.exdates if recurrence is not None
                                             else _exdates(master))}
    if recurrence is None and rid_key(base.start) not in excluded and overlaps(
            base.start, base.end, window):
        # A series of RDATEs alone: its start is its first instance (RFC 5545 3.8.5.2).
        starts.append((base.start, base.end))
    for extra in _rdates(master):
        if rid_key(extra) not in excluded and overlaps(extra, extra + length, window):
            starts.append((extra, extra + length))
    out: list[Event] = []
    seen: set[str] = set()
    for start, end in starts:
        key = rid_key(start)
        if key in resource.overrides or key in seen:
            continue
        seen.add(key)
        out.append(base.model_copy(update={
            "id": occurrence_id(resource.id, start), "kind": EventKind.OCCURRENCE,
            "series_id": resource.id, "original_start": _utc(start), "start": start,
            "end": end}))
    for component in resource.overrides.values():
        event = _override(resource, component, calendar_id)
        if (cancelled or event.status is not EventStatus.CANCELLED) and overlaps(
                event.start, event.end, window):
            out.append(event)
    return sorted(out, key=lambda e: instant(e.start))


def one_occurrence(resource: Resource, rid: str, calendar_id: str) -> Event | None:
    """The occurrence with this RECURRENCE-ID key, or None when the series has none."""
    resource = resource.read
    if rid in resource.overrides:
        return _override(resource, resource.overrides[rid], calendar_id)
    if not resource.recurring or resource.master is None:
        return None
    moment = _rid_moment(rid)
    day = timedelta(days=1)
    window = TimeWindow(start=instant(moment) - day, end=instant(moment) + 2 * day)
    for event in occurrences(resource, calendar_id, window):
        if event.kind is EventKind.OCCURRENCE and rid_key(event.original_start) == rid:  # type: ignore[arg-type]
            return event
    return None


def _rid_moment(rid: str) -> datetime | date:
    if "T" in rid:
        return datetime.strptime(rid, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return datetime.strptime(rid, "%Y%m%d").date()


def _length(event: Event) -> timedelta:
    return instant(event.end) - instant(event.start)


def instant(value: datetime | date) -> datetime:
    return value if isinstance(value, datetime) else datetime.combine(value, time(0),
                                                                      tzinfo=UTC)


def overlaps(start: datetime | date, end: datetime | date, window: TimeWindow) -> bool:
    first, last = instant(start), instant(end)
    return first < window.end and (last > window.start or (last == first
                                                           and first >= window.start))


# ------------------------------------------------------------------ writing


def refusal(event: Event) -> str | None:
    """Why a CalDAV resource written by calbridge cannot carry the event, or None."""
    if event.recurrence is None:
        return None
    rule = event.recurrence.rrule.strip()
    if rule.upper().startswith("RRULE:"):
        rule = rule[6:]
    if not rule:
        return "a series without a rule (RDATE only) is not written as a series"
    try:
        vRecur.from_ical(rule)
    except ValueError:
        return f"the rule {rule!r} is not an RFC 5545 RRULE"
    return None


def _zone_for_writing(event: Event) -> ZoneInfo | None:
    for name in (event.native_zone, event.timezone):
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return None


def _local(value: datetime | date, zone: ZoneInfo | None) -> datetime | date:
    if not isinstance(value, datetime):
        return value
    return value.astimezone(zone) if zone is not None else value.astimezone(UTC)


def _set(component: VEvent, name: str, value: object) -> None:
    component.pop(name, None)
    if value not in (None, ""):
        component.add(name, value)


def _zoneless_time(component: VEvent) -> datetime | None:
    """The component's start when it is a floating or a UTC time (no TZID): times
    written into it keep that form."""
    if "DTSTART" not in component or component["DTSTART"].params.get("TZID"):
        return None
    start = component.decoded("DTSTART")
    return start if isinstance(start, datetime) else None


def _written(value: datetime | date, zone: ZoneInfo | None, form: datetime | None,
             floating_zone: tzinfo) -> datetime | date:
    return _like(value, form, floating_zone) if form is not None else _local(value, zone)


def _set_times(component: VEvent, event: Event, floating_zone: tzinfo) -> None:
    zone = _zone_for_writing(event)
    form = None if event.all_day else _zoneless_time(component)
    start, end = event.start, event.end
    if event.all_day:
        start = start.date() if isinstance(start, datetime) else start
        end = end.date() if isinstance(end, datetime) else end
    component.pop("DURATION", None)
    _set(component, "DTSTART", _written(start, zone, form, floating_zone))
    _set(component, "DTEND", _written(end, zone, form, floating_zone))


def _set_recurrence(component: VEvent, event: Event, floating_zone: tzinfo) -> None:
    for name in ("RRULE", "EXDATE", "RDATE"):
        component.pop(name, None)
    if event.recurrence is None:
        return
    rule = event.recurrence.rrule.strip()
    rule = rule[6:] if rule.upper().startswith("RRULE:") else rule
    component.add("RRULE", vRecur.from_ical(rule))
    zone = _zone_for_writing(event)
    form = _zoneless_time(component)
    # An all-day series excludes days; a timed one instants, on the series' wall clock.
    exdates = [value.astimezone(zone or UTC).date()
               if event.all_day and isinstance(value, datetime)
               else _written(value, zone, form, floating_zone)
               for value in event.recurrence.exdates]
    if exdates:
        component.add("EXDATE", exdates)


def apply_fields(component: VEvent, event: Event, fields: frozenset[EventField],
                 now: datetime, floating_zone: tzinfo = UTC) -> None:
    """Write only `fields` of the event into the component, leaving the rest as it is;
    times keep the form the component's have (`floating_zone`: their wall clock)."""
    if EventField.TITLE in fields:
        _set(component, "SUMMARY", event.title)
    if EventField.DESCRIPTION in fields:
        _set(component, "DESCRIPTION", event.description)
    if EventField.LOCATION in fields:
        _set(component, "LOCATION", event.location)
    if EventField.WHEN in fields:
        _set_times(component, event, floating_zone)
        # RFC 5545 3.8.7.4: a changed time is a new revision.
        sequence = int(component.get("SEQUENCE", 0)) + 1
        _set(component, "SEQUENCE", sequence)
    if EventField.STATUS in fields:
        _set(component, "STATUS", "CANCELLED" if event.status is EventStatus.CANCELLED
             else "CONFIRMED")
    if EventField.PRIVACY in fields:
        _set(component, "CLASS", "PRIVATE" if event.privacy is Privacy.PRIVATE else "PUBLIC")
    if EventField.RECURRENCE in fields and "RECURRENCE-ID" not in component:
        _set_recurrence(component, event, floating_zone)
    _set(component, "DTSTAMP", now)
    _set(component, "LAST-MODIFIED", now)


def new_resource(event: Event, uid: str, now: datetime, calendar_id: str = "") -> ICalendar:
    """A calendar object resource for a new event (with its rule, for a series). Its
    marker names the calendar it is written to (`MARKER_CALENDAR`)."""
    calendar = ICalendar()
    calendar.add("PRODID", PRODID)
    calendar.add("VERSION", "2.0")
    component = VEvent()
    component.add("UID", uid)
    fields = frozenset(EventField) if event.kind is EventKind.SERIES or event.recurrence \
        else frozenset(EventField) - {EventField.RECURRENCE}
    apply_fields(component, event, fields, now)
    component.pop("SEQUENCE", None)
    if event.organizer is not None and event.organizer.email:
        organizer = vCalAddress(f"mailto:{event.organizer.email}")
        if event.organizer.name:
            organizer.params["CN"] = event.organizer.name
        component.add("ORGANIZER", organizer)
    if event.marker:
        component.add(MARKER_PROPERTY, event.marker,
                      parameters={MARKER_CALENDAR: calendar_id} if calendar_id else None)
    calendar.add_component(component)
    if event.exceptions and EventField.RECURRENCE in fields:
        _add_exceptions(calendar, event.exceptions, now)
    return calendar


def _add_exceptions(calendar: ICalendar, exceptions: list[Event], now: datetime) -> None:
    """A new series' exceptions as its RECURRENCE-ID overrides, each made as an update of
    that occurrence makes it (`override_for`, then its fields). One whose original start
    the rule does not give is left out: the engine writes what is left of it after."""
    resource = written_resource("", None, calendar)
    for exception in exceptions:
        if exception.original_start is None or exception.status is EventStatus.CANCELLED:
            continue
        try:
            component = override_for(resource, rid_key(exception.original_start))
        except ValidationFailed:
            continue
        apply_fields(component, exception, frozenset(EventField) - {EventField.RECURRENCE},
                     now)


def override_for(resource: Resource, rid: str) -> VEvent:
    """The RECURRENCE-ID override of one occurrence, made from the master when the
    occurrence has none yet (RFC 5545 3.8.4.4: same UID, the original start as its id)."""
    if rid in resource.overrides:
        return resource.overrides[rid]
    master = resource.master
    if master is None:
        raise ValidationFailed("caldav: no series master to override",
                               details={"fields": ["id"]})
    original = one_occurrence(resource, rid, "")
    if original is None:
        raise ValidationFailed(f"caldav: the series has no occurrence {rid}",
                               details={"fields": ["id"]})
    component = VEvent()
    for name, value in master.property_items(recursive=False):
        if name in ("BEGIN", "END", "RRULE", "RDATE", "EXDATE", "DTSTART", "DTEND",
                    "DURATION", "SEQUENCE"):
            continue
        component.add(name, value)
    for sub in master.subcomponents:  # keep the master's alarms on the occurrence
        component.add_component(sub)
    moved = original.original_start
    assert moved is not None
    # RFC 5545 3.8.4.4: the RECURRENCE-ID has the form of the master's DTSTART.
    value = _like(moved, master.decoded("DTSTART"), resource.floating_zone)
    component.add("RECURRENCE-ID", value)
    component.add("DTSTART", value)
    component.add("DTEND", value + _length(original))
    resource.calendar.add_component(component)
    resource.overrides[rid] = component
    return component


def exclude(resource: Resource, rid: str) -> bool:
    """Remove one occurrence (an EXDATE on the master, its override dropped); False when
    it was not there to remove."""
    master = resource.master
    existing = one_occurrence(resource, rid, "")
    if master is None or existing is None or existing.original_start is None:
        return False
    if rid in resource.overrides:
        resource.calendar.subcomponents.remove(resource.overrides.pop(rid))
    master.add("EXDATE", [_like(existing.original_start, master.decoded("DTSTART"),
                                resource.floating_zone)])
    return True


@lru_cache(maxsize=64)
def _vtimezone(tzid: str) -> Timezone | None:
    """A zone's VTIMEZONE over `ZONE_SPAN`: worked out once per zone (it walks a century
    of transitions) and shared, read-only, by every resource written in that zone. Its
    yearly transitions are written as the rule they follow (`yearly`)."""
    try:
        zone = Timezone.from_tzid(tzid, first_date=ZONE_SPAN[0], last_date=ZONE_SPAN[1])
    except ValueError:
        return None
    return yearly(zone)


_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


def _weeks(moment: datetime) -> set[int]:
    """Which of its month's weekdays of its kind a day is: 1 to 5, and -1 when last."""
    following = moment + timedelta(days=7)
    return {(moment.day - 1) // 7 + 1} | ({-1} if following.month != moment.month else set())


def _rule_from(starts: list[datetime]) -> tuple[int, str | None]:
    """Where the run of yearly transitions that ends `starts` begins (at least three, one
    a year, on the same weekday of the same week of the same month at the same time, up to
    the end of `ZONE_SPAN`: a rule a zone dropped, as Moscow's in 2011, is no rule), and
    its BYDAY; `(len(starts), None)` when there is none."""
    last = starts[-1]
    if last.year < ZONE_SPAN[1].year - 1:
        return len(starts), None
    weeks = _weeks(last)
    first = len(starts) - 1
    while first > 0:
        before = starts[first - 1]
        common = weeks & _weeks(before)
        if (before.year != starts[first].year - 1 or before.month != last.month
                or before.weekday() != last.weekday() or before.time() != last.time()
                or not common):
            break
        weeks, first = common, first - 1
    if len(starts) - first < 3:
        return len(starts), None
    week = -1 if -1 in weeks else min(weeks)
    return first, f"{week}{_WEEKDAYS[last.weekday()]}"


def yearly(zone: Timezone) -> Timezone:
    """The same zone with each kind of transition (offsets and name) that recurs every
    year on a rule — the last Sunday of March — written as DTSTART and an RRULE, and the
    rest as single RDATEs, one a line. A list of dates in one RDATE is as valid, but
    Radicale keeps only the first date of such a list in a VTIMEZONE, which leaves every
    later transition out of the stored zone."""
    compact = Timezone()
    compact.add("TZID", zone["TZID"])
    for part in zone.subcomponents:
        listed = part.get("RDATE", [])
        starts = sorted([part.decoded("DTSTART"), *(
            each.dt for prop in (listed if isinstance(listed, list) else [listed])
            for each in prop.dts)])
        first, byday = _rule_from(starts)
        if first:
            compact.add_component(_transitions(part, starts[:first]))
        if byday:
            compact.add_component(_transitions(part, [starts[first]], byday))
    return compact


def _transitions(kind: Component, dates: list[datetime], byday: str | None = None
                 ) -> Component:
    """A STANDARD or DAYLIGHT component like `kind` for these transitions, one RDATE a
    line after the first; with `byday`, the first and every year after it by that rule."""
    piece = type(kind)()
    piece.add("DTSTART", dates[0])
    for moment in dates[1:]:
        piece.add("RDATE", moment)
    if byday is not None:
        piece.add("RRULE", {"FREQ": "YEARLY", "BYMONTH": dates[0].month, "BYDAY": byday})
    for name in ("TZNAME", "TZOFFSETFROM", "TZOFFSETTO"):
        if name in kind:
            piece[name] = kind[name]
    return piece


def serialise(calendar: ICalendar) -> bytes:
    """The resource as it is PUT: with a VTIMEZONE for every zone its times name."""
    position = len(calendar.timezones)
    for tzid in sorted(calendar.get_missing_tzids()):
        zone = _vtimezone(tzid)
        if zone is not None:  # a zone without tz data is left to the server, as before
            calendar.subcomponents.insert(position, zone)
            position += 1
    return calendar.to_ical()

