"""Calendar API v3 resources: calendarList, calendars, events (list, get, insert, patch,
update, delete, instances, watch).

Looked up (Calendar API v3 reference and guides):
- `events.list`: `timeMin` "Lower bound (exclusive) for an event's end time", `timeMax`
  "Upper bound (exclusive) for an event's start time" (RFC 3339 with offset), so an event
  is listed when it overlaps the window; `maxResults` default 250, "can never be larger
  than 2500"; `orderBy` `startTime` ("only available when querying single events") or
  `updated`; `showDeleted` ("Cancelled instances of recurring events (but not the
  underlying recurring event) will still be included if showDeleted and singleEvents are
  both False. If showDeleted and singleEvents are both True, only single instances of
  deleted events (but not the underlying recurring events) are returned");
  `singleEvents`; `privateExtendedProperty` / `sharedExtendedProperty` (`name=value`,
  repeatable, all must match); `updatedMin` ("entries deleted since this time will always
  be included regardless of showDeleted"); `iCalUID`; `q`; `timeZone`.
- Sync ("Synchronize resources efficiently" guide, `syncToken` parameter): `nextSyncToken`
  only on the last page; with a `syncToken`, deleted events always come back (as
  `cancelled`) and `iCalUID`, `orderBy`, `privateExtendedProperty`, `q`,
  `sharedExtendedProperty`, `timeMin`, `timeMax`, `updatedMin` are not allowed, nor
  `showDeleted=false` — answered 400 "Sync token cannot be used with other request
  restrictions." (`syncTokenWithRequestRestrictions`, as observed); an expired or unknown
  token → 410 `fullSyncRequired` "Sync token is no longer valid, a full sync is required."
- Errors guide: 404 `notFound`, 409 `duplicate` ("The requested identifier already
  exists." — also for the id of a deleted event, as client-library issues report), 410
  `deleted` ("Resource has been deleted") for deleting a deleted event, 412
  `conditionNotMet` for a stale `If-Match`, 403 `requiredAccessLevel` ("You need to have
  writer access to this calendar.") for a reader writing.
- `orderBy=startTime` without `singleEvents=true` → 400 "The requested ordering is not
  available for the particular query." (observed wording).

Where the docs are silent: a series with no end and no `timeMax` is expanded two years
ahead (at most 5000 instances); `instances` of a non-recurring event lists that event;
`calendarList` answers no `nextSyncToken`.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..routing import Router
from .api import GoogleError, Request, Response, bad_request, not_found, parse_rfc3339, utc_now
from .events import (
    check_event_id,
    check_fields,
    merge_patch,
    moment_json,
    original_start_json,
    render,
    render_instance,
    timing_of,
    zone_of,
)
from .recurrence import instance_suffix, parse_suffix, starts, to_instant
from .store import CalendarRecord, EventRecord

if TYPE_CHECKING:
    from .service import CalendarService

HORIZON = dt.timedelta(days=730)
SYNC_RESTRICTIONS = ("iCalUID", "orderBy", "privateExtendedProperty", "q",
                     "sharedExtendedProperty", "timeMin", "timeMax", "updatedMin")
PAGING_PARAMS = {"pageToken", "maxResults"}


@dataclass
class Item:
    """One listed event: its JSON and what it sorts and filters by."""

    body: dict[str, Any]
    start: dt.datetime
    end: dt.datetime
    updated: str
    order: tuple[int, dt.datetime]
    props: dict[str, Any] = field(default_factory=dict)
    ical_uid: str = ""


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode()


def _unb64(text: str) -> dict[str, Any]:
    value = json.loads(base64.urlsafe_b64decode(text.encode()))
    if not isinstance(value, dict):
        raise ValueError("not a token")
    return value


def _flag(req: Request, name: str, default: bool = False) -> bool:
    value = req.param(name)
    if value is None:
        return default
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise bad_request(f"Invalid value '{value}'.", "invalid", name)


def _max_results(req: Request, default: int, ceiling: int) -> int:
    value = req.param("maxResults")
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        number = 0
    if not 1 <= number <= ceiling:
        raise bad_request(f"Invalid value '{value}'. Values must be within the range: "
                          f"[1, {ceiling}]", "invalid", "maxResults")
    return number


class CalendarApi:
    """Handlers for `/calendar/v3/...` (paths below the API root)."""

    def __init__(self, service: CalendarService) -> None:
        self.service = service
        self.store = service.store

    def register(self, router: Router) -> None:
        """Add every route."""
        add = router.add
        add("GET", "/users/me/calendarList", self.list_calendar_list)
        add("GET", "/users/me/calendarList/{calendarId}", self.get_calendar_list_entry)
        add("GET", "/calendars/{calendarId}", self.get_calendar)
        add("GET", "/calendars/{calendarId}/events", self.list_events)
        add("POST", "/calendars/{calendarId}/events", self.insert_event)
        add("POST", "/calendars/{calendarId}/events/watch", self.watch_events)
        add("GET", "/calendars/{calendarId}/events/{eventId}", self.get_event)
        add("PATCH", "/calendars/{calendarId}/events/{eventId}", self.patch_event)
        add("PUT", "/calendars/{calendarId}/events/{eventId}", self.update_event)
        add("DELETE", "/calendars/{calendarId}/events/{eventId}", self.delete_event)
        add("GET", "/calendars/{calendarId}/events/{eventId}/instances", self.list_instances)
        add("POST", "/channels/stop", self.service.channels.stop_channel)

    # calendars -------------------------------------------------------------------------

    def _list_entry(self, calendar: CalendarRecord, principal: str) -> dict[str, Any]:
        role = calendar.access[principal]
        entry: dict[str, Any] = {
            "kind": "calendar#calendarListEntry", "etag": f'"{abs(hash(calendar.id)) % 10**15}"',
            "id": calendar.id, "summary": calendar.summary, "timeZone": calendar.time_zone,
            "accessRole": role, "defaultReminders": [], "selected": True,
        }
        if calendar.description:
            entry["description"] = calendar.description
        if calendar.id.lower() == principal:
            entry["primary"] = True
        return entry

    def list_calendar_list(self, req: Request, params: dict[str, str]) -> Response:
        """`GET users/me/calendarList`: the calendars the caller can reach, paged (default
        100 a page, at most 250)."""
        principal = self.service.principal_of(req, scopes="calendarList")
        size = _max_results(req, 100, 250)
        roles = ["freeBusyReader", "reader", "writer", "owner"]
        minimum = req.param("minAccessRole")
        with self.store.lock:
            entries = [self._list_entry(c, principal) for c in self.store.calendars.values()
                       if not c.deleted and c.listed and principal in c.access
                       and (minimum is None or roles.index(c.access[principal])
                            >= roles.index(minimum))]
        offset = self._page_offset(req)
        body: dict[str, Any] = {"kind": "calendar#calendarList",
                                "etag": f'"{self.store.version}"',
                                "items": entries[offset:offset + size]}
        if offset + size < len(entries):
            body["nextPageToken"] = self._page_token(req, offset + size, self.store.version)
        return Response(200, body)

    def get_calendar_list_entry(self, req: Request, params: dict[str, str]) -> Response:
        """`GET users/me/calendarList/{calendarId}`."""
        principal = self.service.principal_of(req, scopes="calendarList")
        calendar, _ = self.service.calendar_for(params["calendarId"], principal)
        return Response(200, self._list_entry(calendar, principal))

    def get_calendar(self, req: Request, params: dict[str, str]) -> Response:
        """`GET calendars/{calendarId}` (404 `notFound` when unknown or out of reach)."""
        principal = self.service.principal_of(req)
        calendar, _ = self.service.calendar_for(params["calendarId"], principal)
        return Response(200, {"kind": "calendar#calendar", "etag": f'"{self.store.version}"',
                              "id": calendar.id, "summary": calendar.summary,
                              "description": calendar.description,
                              "timeZone": calendar.time_zone})

    # paging ----------------------------------------------------------------------------

    @staticmethod
    def _fingerprint(req: Request) -> str:
        items = sorted((k, v) for k, vs in req.query.items() if k not in PAGING_PARAMS
                       for v in vs)
        return hashlib.sha1(json.dumps(items).encode()).hexdigest()[:12]  # noqa: S324

    def _page_token(self, req: Request, offset: int, at: int) -> str:
        return _b64({"o": offset, "a": at, "f": self._fingerprint(req)})

    def _page_offset(self, req: Request) -> int:
        token = req.param("pageToken")
        if not token:
            return 0
        try:
            data = _unb64(token)
            if data["f"] != self._fingerprint(req):
                raise ValueError("another query")
            return int(data["o"])
        except (ValueError, KeyError, TypeError) as exc:
            raise bad_request("Invalid page token value.", "invalid", "pageToken") from exc

    def _page_at(self, req: Request) -> int:
        token = req.param("pageToken")
        return int(_unb64(token)["a"]) if token else self.store.version

    # events.list -----------------------------------------------------------------------

    def list_events(self, req: Request, params: dict[str, str]) -> Response:
        """`GET calendars/{calendarId}/events`."""
        principal = self.service.principal_of(req)
        calendar, role = self.service.calendar_for(params["calendarId"], principal)
        size = _max_results(req, 250, 2500)
        single = _flag(req, "singleEvents")
        order_by = req.param("orderBy")
        if order_by not in (None, "startTime", "updated"):
            raise bad_request(f"Invalid value '{order_by}'.", "invalid", "orderBy")
        if order_by == "startTime" and not single:
            raise bad_request("The requested ordering is not available for the particular "
                              "query.")
        zone = zone_of(req.param("timeZone") or calendar.time_zone)
        sync_token = req.param("syncToken")
        offset = self._page_offset(req)
        with self.store.lock:
            at = self._page_at(req)
            if sync_token:
                since = self._check_sync_token(req, sync_token, calendar)
                items = self._changed_items(calendar, principal, zone, since, single)
            else:
                items = self._window_items(req, calendar, principal, zone, single)
        if order_by == "startTime":
            items.sort(key=lambda i: (i.start, i.body["id"]))
        elif order_by == "updated":
            items.sort(key=lambda i: (i.updated, i.body["id"]))
        else:
            items.sort(key=lambda i: i.order)
        page = items[offset:offset + size]
        body: dict[str, Any] = {
            "kind": "calendar#events", "etag": f'"{at}"', "summary": calendar.summary,
            "description": calendar.description,
            "updated": max((i.updated for i in items), default=_now_stamp()),
            "timeZone": calendar.time_zone, "accessRole": role, "defaultReminders": [],
            "items": [i.body for i in page],
        }
        if offset + size < len(items):
            body["nextPageToken"] = self._page_token(req, offset + size, at)
        else:
            body["nextSyncToken"] = _b64({"c": calendar.id.lower(), "s": at,
                                          "e": self.store.epoch})
        return Response(200, body)

    def _check_sync_token(self, req: Request, token: str, calendar: CalendarRecord) -> int:
        restricted = [p for p in SYNC_RESTRICTIONS if req.param(p) is not None]
        if restricted or req.param("showDeleted") == "false":
            raise bad_request("Sync token cannot be used with other request restrictions.",
                              "syncTokenWithRequestRestrictions")
        try:
            data = _unb64(token)
            valid = data["c"] == calendar.id.lower() and data["e"] == self.store.epoch
            since = int(data["s"])
        except (ValueError, KeyError, TypeError):
            valid, since = False, 0
        if not valid:
            raise GoogleError(410, "fullSyncRequired",
                              "Sync token is no longer valid, a full sync is required.")
        return since

    def _window(self, req: Request) -> tuple[dt.datetime | None, dt.datetime | None]:
        time_min = req.param("timeMin")
        time_max = req.param("timeMax")
        low = parse_rfc3339(time_min, "timeMin") if time_min else None
        high = parse_rfc3339(time_max, "timeMax") if time_max else None
        if low and high and low >= high:
            raise GoogleError(400, "timeRangeEmpty", "The specified time range is empty.",
                              domain="calendar", location="timeMax")
        return low, high

    def _window_items(self, req: Request, calendar: CalendarRecord, principal: str,
                      zone: Any, single: bool) -> list[Item]:
        low, high = self._window(req)
        updated_min = req.param("updatedMin")
        if updated_min:
            parse_rfc3339(updated_min, "updatedMin")
            stamp_min = _stamp_of(parse_rfc3339(updated_min, "updatedMin"))
        show_deleted = _flag(req, "showDeleted") or bool(updated_min)
        private = self._property_filters(req, "privateExtendedProperty")
        shared = self._property_filters(req, "sharedExtendedProperty")
        ical_uid = req.param("iCalUID")
        text = (req.param("q") or "").lower()
        items: list[Item] = []
        records = self.store.calendar_events(calendar.id)
        masters = {r.id: r for r in records if r.fields.get("recurrence")}
        for record in records:
            master = masters.get(record.recurring_event_id or "")
            if record.fields.get("recurrence") and single:
                items += self._instances(record, calendar, principal, zone, low, high,
                                         show_deleted)
                continue
            if record.recurring_event_id:
                if single:
                    continue  # listed in its series' expansion
                # Cancelled instances show without showDeleted (see the docstring).
                if master is not None and master.status == "cancelled" and not show_deleted:
                    continue
            elif record.status == "cancelled" and not show_deleted:
                continue
            item = self._item(record, calendar, principal, zone, master)
            if record.fields.get("recurrence"):
                if not self._series_overlaps(record, calendar, low, high):
                    continue
            elif not _overlaps(item, low, high):
                continue
            items.append(item)
        result = []
        for item in items:
            props = item.props
            if any(props.get("private", {}).get(k) != v for k, v in private):
                continue
            if any(props.get("shared", {}).get(k) != v for k, v in shared):
                continue
            if ical_uid and item.ical_uid != ical_uid:
                continue
            if text and not any(text in str(item.body.get(f, "")).lower()
                                for f in ("summary", "description", "location")):
                continue
            if updated_min and item.updated < stamp_min:
                continue
            result.append(item)
        return result

    @staticmethod
    def _property_filters(req: Request, name: str) -> list[tuple[str, str]]:
        filters = []
        for value in req.params(name):
            key, sep, wanted = value.partition("=")
            if not sep or not key:
                raise bad_request(f"Invalid value '{value}'.", "invalid", name)
            filters.append((key, wanted))
        return filters

    def _changed_items(self, calendar: CalendarRecord, principal: str, zone: Any, since: int,
                       single: bool) -> list[Item]:
        items: list[Item] = []
        seen: set[str] = set()
        records = self.store.calendar_events(calendar.id)
        masters = {r.id: r for r in records if r.fields.get("recurrence")}
        for record in records:
            if record.seq <= since:
                continue
            if record.fields.get("recurrence") and single:
                expanded = self._instances(record, calendar, principal, zone, None, None, True)
            else:
                master = masters.get(record.recurring_event_id or "")
                expanded = [self._item(record, calendar, principal, zone, master)]
            for item in expanded:
                if item.body["id"] not in seen:
                    seen.add(item.body["id"])
                    items.append(item)
        return items

    def _item(self, record: EventRecord, calendar: CalendarRecord, principal: str, zone: Any,
              master: EventRecord | None) -> Item:
        body = render(record, calendar, principal, self.service.base_url, zone, master)
        if "start" in record.fields:
            timing = timing_of(record.fields, calendar)
            start, end = timing.utc_bounds()
        else:
            start = end = dt.datetime.min.replace(tzinfo=dt.UTC)
        owner = master or record
        return Item(body, start, end, record.updated, (record.order, start),
                    (record.fields if "extendedProperties" in record.fields else owner.fields)
                    .get("extendedProperties", {}), owner.ical_uid)

    def _series_overlaps(self, master: EventRecord, calendar: CalendarRecord,
                         low: dt.datetime | None, high: dt.datetime | None) -> bool:
        if low is None and high is None:
            return True
        timing = timing_of(master.fields, calendar)
        until = high or max(utc_now(), timing.utc_bounds()[0]) + HORIZON
        for original in starts(master.fields["recurrence"], timing, until):
            _, end = timing.shifted(original).utc_bounds()
            if low is None or end > low:
                return True
        return False

    def _instances(self, master: EventRecord, calendar: CalendarRecord, principal: str,
                   zone: Any, low: dt.datetime | None, high: dt.datetime | None,
                   show_deleted: bool) -> list[Item]:
        """A series' instances overlapping the window: unchanged ones rendered from the
        master, changed and cancelled ones from their exceptions."""
        timing = timing_of(master.fields, calendar)
        until = high or max(utc_now(), timing.utc_bounds()[0]) + HORIZON
        exceptions = {e.id: e for e in self.store.exceptions(calendar.id, master.id)}
        cancelled_series = master.status == "cancelled"
        if cancelled_series and not show_deleted:
            return []
        items: list[Item] = []
        for original in starts(master.fields["recurrence"], timing, until):
            instance_id = f"{master.id}_{instance_suffix(original)}"
            exception = exceptions.get(instance_id)
            if exception is not None:
                if exception.status == "cancelled" and not show_deleted:
                    continue
                item = self._item(exception, calendar, principal, zone, master)
                if exception.status == "cancelled":
                    item.start, item.end = timing.shifted(original).utc_bounds()
            else:
                body = render_instance(master, calendar, principal, self.service.base_url,
                                       zone, original, timing)
                if cancelled_series:
                    body["status"] = "cancelled"
                start, end = timing.shifted(original).utc_bounds()
                item = Item(body, start, end, master.updated, (master.order, start),
                            master.fields.get("extendedProperties", {}), master.ical_uid)
            item.order = (master.order, to_instant(original, timing.zone))
            if not _overlaps(item, low, high):
                continue
            items.append(item)
        return items

    # one event -------------------------------------------------------------------------

    def _resolve(self, calendar: CalendarRecord, event_id: str
                 ) -> tuple[EventRecord | None, EventRecord | None, dt.datetime | dt.date | None]:
        """(stored record, master, original start): a stored event, or a series instance
        nobody changed yet (record None). 404 when neither."""
        record = self.store.event(calendar.id, event_id)
        if record is not None:
            master = self.store.event(calendar.id, record.recurring_event_id or "")
            return record, master, None
        master_id, sep, suffix = event_id.rpartition("_")
        master = self.store.event(calendar.id, master_id) if sep else None
        if master is None or not master.fields.get("recurrence"):
            raise not_found()
        timing = timing_of(master.fields, calendar)
        original = parse_suffix(suffix, timing.all_day, timing.zone)
        if original is None:
            raise not_found()
        limit = to_instant(original, timing.zone) + dt.timedelta(seconds=1)
        if original not in list(starts(master.fields["recurrence"], timing, limit)):
            raise not_found()
        return None, master, original

    @staticmethod
    def _check_if_match(req: Request, etag: str) -> None:
        wanted = req.header("if-match")
        if wanted and wanted != "*" and wanted != etag:
            raise GoogleError(412, "conditionNotMet", "Precondition Failed",
                              location="If-Match", location_type="header")

    def get_event(self, req: Request, params: dict[str, str]) -> Response:
        """`GET …/events/{eventId}`: deleted events too (as `cancelled`), and instances."""
        principal = self.service.principal_of(req)
        calendar, _ = self.service.calendar_for(params["calendarId"], principal)
        zone = zone_of(req.param("timeZone") or calendar.time_zone)
        with self.store.lock:
            record, master, original = self._resolve(calendar, params["eventId"])
            if record is not None:
                body = render(record, calendar, principal, self.service.base_url, zone, master)
            else:
                assert master is not None and original is not None
                body = render_instance(master, calendar, principal, self.service.base_url,
                                       zone, original, timing_of(master.fields, calendar))
        if req.header("if-none-match") == body["etag"]:
            return Response(304)
        return Response(200, body)

    def insert_event(self, req: Request, params: dict[str, str]) -> Response:
        """`POST …/events` (200 with the event; a client id that exists → 409)."""
        principal = self.service.principal_of(req, write=True)
        calendar, _ = self.service.calendar_for(params["calendarId"], principal, write=True)
        body = req.json_object()
        event_id = check_event_id(body["id"]) if "id" in body else uuid.uuid4().hex
        fields = check_fields(body, calendar)
        with self.store.lock:
            if self.store.event(calendar.id, event_id) is not None:
                raise GoogleError(409, "duplicate", "The requested identifier already exists.")
            record = EventRecord(
                calendar_id=calendar.id, id=event_id, fields=fields, created="", updated="",
                seq=0, order=0, creator=principal,
                ical_uid=str(body.get("iCalUID") or f"{event_id}@google.com"))
            self.store.put(record, new=True)
            return Response(200, self._render(record, calendar, principal, req))

    def _render(self, record: EventRecord, calendar: CalendarRecord, principal: str,
                req: Request) -> dict[str, Any]:
        master = self.store.event(calendar.id, record.recurring_event_id or "")
        zone = zone_of(req.param("timeZone") or calendar.time_zone)
        return render(record, calendar, principal, self.service.base_url, zone, master)

    def patch_event(self, req: Request, params: dict[str, str]) -> Response:
        """`PATCH …/events/{eventId}`: patch semantics; an instance becomes an exception."""
        return self._change(req, params, patch=True)

    def update_event(self, req: Request, params: dict[str, str]) -> Response:
        """`PUT …/events/{eventId}`: the whole event replaced."""
        return self._change(req, params, patch=False)

    def _change(self, req: Request, params: dict[str, str], patch: bool) -> Response:
        principal = self.service.principal_of(req, write=True)
        calendar, _ = self.service.calendar_for(params["calendarId"], principal, write=True)
        body = req.json_object()
        with self.store.lock:
            record, master, original = self._resolve(calendar, params["eventId"])
            if record is None:
                assert master is not None and original is not None
                self._check_if_match(req, master.etag)
                base = self._instance_fields(master, calendar, original)
                fields = check_fields(merge_patch(base, body) if patch else body, calendar)
                fields.pop("recurrence", None)
                record = EventRecord(
                    calendar_id=calendar.id, id=params["eventId"], fields=fields, created="",
                    updated="", seq=0, order=0, creator=master.creator,
                    ical_uid=master.ical_uid, recurring_event_id=master.id,
                    original_start=original_start_json(original, master))
                self.store.put(record, new=True)
                return Response(200, self._render(record, calendar, principal, req))
            self._check_if_match(req, record.etag)
            fields = check_fields(merge_patch(record.fields, body) if patch else body, calendar)
            if record.recurring_event_id:
                fields.pop("recurrence", None)
            if any(fields.get(k) != record.fields.get(k) for k in ("start", "end", "recurrence")):
                record.sequence += 1
            record.fields = fields
            self.store.put(record)
            return Response(200, self._render(record, calendar, principal, req))

    @staticmethod
    def _instance_fields(master: EventRecord, calendar: CalendarRecord,
                         original: dt.datetime | dt.date) -> dict[str, Any]:
        timing = timing_of(master.fields, calendar).shifted(original)
        fields = {k: v for k, v in master.fields.items() if k != "recurrence"}
        fields["start"] = moment_json(timing.start, master.fields["start"].get("timeZone"))
        fields["end"] = moment_json(timing.end, master.fields["end"].get("timeZone"))
        return fields

    def delete_event(self, req: Request, params: dict[str, str]) -> Response:
        """`DELETE …/events/{eventId}` → 204; the event stays as `cancelled` for sync."""
        principal = self.service.principal_of(req, write=True)
        calendar, _ = self.service.calendar_for(params["calendarId"], principal, write=True)
        with self.store.lock:
            record, master, original = self._resolve(calendar, params["eventId"])
            if record is None:
                assert master is not None and original is not None
                self._check_if_match(req, master.etag)
                fields = self._instance_fields(master, calendar, original)
                fields["status"] = "cancelled"
                self.store.put(EventRecord(
                    calendar_id=calendar.id, id=params["eventId"], fields=fields, created="",
                    updated="", seq=0, order=0, creator=master.creator,
                    ical_uid=master.ical_uid, recurring_event_id=master.id,
                    original_start=original_start_json(original, master)), new=True)
                return Response(204)
            self._check_if_match(req, record.etag)
            if record.status == "cancelled":
                raise GoogleError(410, "deleted", "Resource has been deleted")
            record.fields = {**record.fields, "status": "cancelled"}
            self.store.put(record)
            if record.fields.get("recurrence"):
                for exception in self.store.exceptions(calendar.id, record.id):
                    if exception.status != "cancelled":
                        exception.fields = {**exception.fields, "status": "cancelled"}
                        self.store.put(exception)
        return Response(204)

    def list_instances(self, req: Request, params: dict[str, str]) -> Response:
        """`GET …/events/{eventId}/instances`: a series' instances in a window, paged."""
        principal = self.service.principal_of(req)
        calendar, role = self.service.calendar_for(params["calendarId"], principal)
        size = _max_results(req, 250, 2500)
        zone = zone_of(req.param("timeZone") or calendar.time_zone)
        low, high = self._window(req)
        show_deleted = _flag(req, "showDeleted")
        offset = self._page_offset(req)
        with self.store.lock:
            record = self.store.event(calendar.id, params["eventId"])
            if record is None or record.recurring_event_id:
                raise not_found()
            if record.fields.get("recurrence"):
                items = self._instances(record, calendar, principal, zone, low, high,
                                        show_deleted)
            else:
                items = [self._item(record, calendar, principal, zone, None)]
            original = req.param("originalStart")
            if original:
                wanted = parse_rfc3339(original, "originalStart")
                items = [i for i in items
                         if _original_instant(i.body, wanted.tzinfo) == wanted]
        items.sort(key=lambda i: i.order)
        page = items[offset:offset + size]
        body: dict[str, Any] = {"kind": "calendar#events", "etag": f'"{self.store.version}"',
                                "summary": calendar.summary, "timeZone": calendar.time_zone,
                                "accessRole": role, "defaultReminders": [],
                                "updated": record.updated, "items": [i.body for i in page]}
        if offset + size < len(items):
            body["nextPageToken"] = self._page_token(req, offset + size, self.store.version)
        return Response(200, body)

    def watch_events(self, req: Request, params: dict[str, str]) -> Response:
        """`POST …/events/watch`: a push channel on the calendar's events."""
        principal = self.service.principal_of(req)
        calendar, _ = self.service.calendar_for(params["calendarId"], principal)
        return self.service.channels.watch(req, calendar.id)


def _overlaps(item: Item, low: dt.datetime | None, high: dt.datetime | None) -> bool:
    if low is not None and not (item.end > low or (item.end == item.start == low)):
        return False
    return not (high is not None and item.start >= high)


def _original_instant(body: dict[str, Any], tz: Any) -> dt.datetime | None:
    original = body.get("originalStartTime") or {}
    if "dateTime" in original:
        return dt.datetime.fromisoformat(original["dateTime"])
    return None


def _stamp_of(moment: dt.datetime) -> str:
    moment = moment.astimezone(dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _now_stamp() -> str:
    return _stamp_of(utc_now())
