"""Graph v1.0 calendar routes: rooms, users, calendars, events (and their series instances),
calendarView."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from . import series
from .api import ApiRequest, ApiResponse, GraphError, parse_iso
from .events import (
    apply_payload,
    new_record,
    parse_expand,
    parse_filter,
    render,
    validate_payload,
)
from .routing import Router
from .store import Calendar, EventRecord, Mailbox
from .timezones import output_zone

if TYPE_CHECKING:
    from .service import GraphService

COLLECTIONS = ("/users/{user}/events", "/users/{user}/calendar/events",
               "/users/{user}/calendars/{calendar}/events")
VIEWS = ("/users/{user}/calendarView", "/users/{user}/calendar/calendarView",
         "/users/{user}/calendars/{calendar}/calendarView")
MAX_TOP = 1000


def wants_immutable_ids(req: ApiRequest) -> bool:
    """True when the request carries `Prefer: IdType="ImmutableId"`."""
    return req.prefer().get("idtype", "").lower() == "immutableid"


def preference_headers(req: ApiRequest) -> dict[str, str]:
    """`Preference-Applied` for the preferences the emulator honoured."""
    applied = []
    prefer = req.prefer()
    if "outlook.timezone" in prefer:
        applied.append(f'outlook.timezone="{prefer["outlook.timezone"]}"')
    if wants_immutable_ids(req):
        applied.append('IdType="ImmutableId"')
    return {"Preference-Applied": ", ".join(applied)} if applied else {}


class CalendarApi:
    """Handlers for the calendar part of the Graph API."""

    def __init__(self, service: GraphService) -> None:
        self.service = service
        self.store = service.store

    def register(self, router: Router) -> None:
        """Add this module's routes to ``router``."""
        router.add("GET", "/places/microsoft.graph.room", self.list_rooms)
        router.add("GET", "/users/{user}", self.get_user)
        router.add("GET", "/users/{user}/calendars", self.list_calendars)
        router.add("GET", "/users/{user}/calendar", self.get_calendar)
        router.add("GET", "/users/{user}/calendars/{calendar}", self.get_calendar)
        for base in COLLECTIONS:
            router.add("GET", base, self.list_events)
            router.add("POST", base, self.create_event)
            router.add("GET", base + "/{event}", self.get_event)
            router.add("PATCH", base + "/{event}", self.update_event)
            router.add("DELETE", base + "/{event}", self.delete_event)
            router.add("POST", base + "/{event}/cancel", self.cancel_event)
            router.add("GET", base + "/{event}/instances", self.list_instances)
        for view in VIEWS:
            router.add("GET", view, self.calendar_view)

    # helpers -----------------------------------------------------------------------------

    def _mailbox(self, params: dict[str, str]) -> Mailbox:
        return self.store.mailbox(params["user"])

    def _calendar(self, mailbox: Mailbox, params: dict[str, str]) -> Calendar:
        return self.store.calendar(mailbox, params.get("calendar"))

    def page(
        self, req: ApiRequest, items: list[Any], default_top: int
    ) -> tuple[list[Any], str | None]:
        """Slice ``items`` by `$top`/`$skip`; the `@odata.nextLink` when more remain."""
        try:
            top = int(req.q("$top") or default_top)
            skip = int(req.q("$skip") or 0)
        except ValueError as exc:
            raise GraphError(400, "BadRequest", "Invalid $top or $skip value.") from exc
        if top < 0 or skip < 0:
            raise GraphError(400, "BadRequest", "Invalid $top or $skip value.")
        top = min(top, MAX_TOP)
        chunk = items[skip : skip + top]
        if skip + top >= len(items):
            return chunk, None
        query = {k: v for k, v in req.query.items() if k.lower() != "$skip"}
        query["$skip"] = str(skip + top)
        return chunk, f"{self.service.graph_url}{req.path}?{urlencode(query, safe='$')}"

    def _render_all(self, req: ApiRequest, mailbox: Mailbox, records: list[EventRecord]
                    ) -> list[dict[str, Any]]:
        zone = output_zone(req.prefer())
        expand = parse_expand(req.q("$expand"))
        select = req.q("$select")
        return [
            render(r, mailbox, zone, wants_immutable_ids(req), expand,
                   select.split(",") if select else None)
            for r in records
        ]

    def _collection(self, req: ApiRequest, context: str, records: list[Any], default_top: int,
                    mailbox: Mailbox | None = None) -> ApiResponse:
        chunk, next_link = self.page(req, records, default_top)
        values = self._render_all(req, mailbox, chunk) if mailbox else chunk
        body: dict[str, Any] = {"@odata.context": context, "value": values}
        if next_link:
            body["@odata.nextLink"] = next_link
        return ApiResponse(200, body, preference_headers(req))

    # places, users, calendars --------------------------------------------------------------

    def list_rooms(self, req: ApiRequest, params: dict[str, str]) -> ApiResponse:
        """GET /places/microsoft.graph.room."""
        rooms = [self._room(m) for m in self.store.mailboxes.values() if m.kind == "room"]
        context = f"{self.service.graph_url}/$metadata#places/microsoft.graph.room"
        return self._collection(req, context, rooms, 100)

    def _room(self, mailbox: Mailbox) -> dict[str, Any]:
        a = mailbox.attributes
        return {
            "@odata.type": "#microsoft.graph.room",
            "id": a.get("placeId", mailbox.id),
            "displayName": mailbox.display_name,
            "emailAddress": mailbox.upn,
            "nickname": a.get("nickname", mailbox.display_name),
            "label": a.get("label"),
            "capacity": a.get("capacity"),
            "building": a.get("building"),
            "floorNumber": a.get("floorNumber"),
            "floorLabel": a.get("floorLabel"),
            "isWheelChairAccessible": a.get("isWheelChairAccessible", False),
            "bookingType": a.get("bookingType", "standard"),
            "tags": a.get("tags", []),
            "phone": a.get("phone"),
            "audioDeviceName": a.get("audioDeviceName"),
            "videoDeviceName": a.get("videoDeviceName"),
            "displayDeviceName": a.get("displayDeviceName"),
            "address": a.get("address", {}),
            "geoCoordinates": a.get("geoCoordinates"),
        }

    def get_user(self, req: ApiRequest, params: dict[str, str]) -> ApiResponse:
        """GET /users/{id | userPrincipalName}."""
        mailbox = self.store.find_mailbox(params["user"])
        if mailbox is None:
            raise GraphError(
                404,
                "Request_ResourceNotFound",
                f"Resource '{params['user']}' does not exist or one of its queried "
                "reference-property objects are not present.",
            )
        a = mailbox.attributes
        body = {
            "@odata.context": f"{self.service.graph_url}/$metadata#users/$entity",
            "businessPhones": a.get("businessPhones", []),
            "displayName": mailbox.display_name,
            "givenName": a.get("givenName"),
            "jobTitle": a.get("jobTitle"),
            "mail": mailbox.upn,
            "mobilePhone": a.get("mobilePhone"),
            "officeLocation": a.get("officeLocation", a.get("building")),
            "preferredLanguage": a.get("preferredLanguage", "en-US"),
            "surname": a.get("surname"),
            "userPrincipalName": mailbox.upn,
            "id": mailbox.id,
        }
        return ApiResponse(200, body)

    def _calendar_json(self, mailbox: Mailbox, cal: Calendar) -> dict[str, Any]:
        return {
            "id": cal.id,
            "name": cal.name,
            "color": "auto",
            "hexColor": "",
            "isDefaultCalendar": cal.is_default,
            "changeKey": "fJKVL07sbkmIfHqjbDnRgQAAAAAACA==",
            "canShare": mailbox.kind == "user",
            "canViewPrivateItems": True,
            "canEdit": True,
            "allowedOnlineMeetingProviders": ["teamsForBusiness"],
            "defaultOnlineMeetingProvider": "teamsForBusiness",
            "isTallyingResponses": True,
            "isRemovable": not cal.is_default,
            "owner": {"name": mailbox.display_name, "address": mailbox.upn},
        }

    def list_calendars(self, req: ApiRequest, params: dict[str, str]) -> ApiResponse:
        """GET /users/{id}/calendars."""
        mailbox = self._mailbox(params)
        cals = [self._calendar_json(mailbox, c) for c in mailbox.calendars.values()]
        context = f"{self.service.graph_url}/$metadata#users('{mailbox.id}')/calendars"
        return self._collection(req, context, cals, 10)

    def get_calendar(self, req: ApiRequest, params: dict[str, str]) -> ApiResponse:
        """GET /users/{id}/calendar and /users/{id}/calendars/{id}."""
        mailbox = self._mailbox(params)
        return ApiResponse(200, self._calendar_json(mailbox, self._calendar(mailbox, params)))

    # events ------------------------------------------------------------------------------

    def list_events(self, req: ApiRequest, params: dict[str, str]) -> ApiResponse:
        """GET .../events with $filter, $expand, $select, $top, $skip, $orderby."""
        mailbox = self._mailbox(params)
        cal_id = self._calendar(mailbox, params).id
        predicate = parse_filter(req.q("$filter"))
        records = [r for r in self.store.mailbox_events(mailbox, cal_id) if predicate(r)]
        records = self._order(req, records)
        context = f"{self.service.graph_url}/$metadata#users('{mailbox.id}')/events"
        return self._collection(req, context, records, 10, mailbox)

    def _order(self, req: ApiRequest, records: list[EventRecord]) -> list[EventRecord]:
        orderby = (req.q("$orderby") or "").strip()
        if not orderby:
            return records
        name, _, direction = orderby.partition(" ")
        keys = {
            "start/datetime": lambda r: r.start,
            "end/datetime": lambda r: r.end,
            "createddatetime": lambda r: r.created,
            "lastmodifieddatetime": lambda r: r.modified,
        }
        key = keys.get(name.lower())
        if key is None or direction.strip().lower() not in {"", "asc", "desc"}:
            raise GraphError(400, "BadRequest", f"Unsupported $orderby: {orderby}")
        return sorted(records, key=key, reverse=direction.strip().lower() == "desc")

    def _one(self, req: ApiRequest, mailbox: Mailbox, record: EventRecord, status: int = 200
             ) -> ApiResponse:
        body = self._render_all(req, mailbox, [record])[0]
        body = {"@odata.context": f"{self.service.graph_url}/$metadata#users('{mailbox.id}')"
                "/events/$entity", **body}
        headers = preference_headers(req)
        headers["ETag"] = body.get("@odata.etag", "")
        return ApiResponse(status, body, headers)

    def create_event(self, req: ApiRequest, params: dict[str, str]) -> ApiResponse:
        """POST .../events; a repeated transactionId answers the existing event instead."""
        mailbox = self._mailbox(params)
        cal = self._calendar(mailbox, params)
        payload = validate_payload(req.json(), creating=True)
        transaction_id = payload.get("transactionId")
        with self.store.lock:
            if transaction_id:
                for existing in self.store.mailbox_events(mailbox):
                    if existing.fields.get("transactionId") == str(transaction_id):
                        return self._one(req, mailbox, existing, 201)
            record = new_record(mailbox, cal.id, payload)
            self.store.add(record)
        return self._one(req, mailbox, record, 201)

    def _check_if_match(self, req: ApiRequest, record: EventRecord) -> None:
        if_match = req.header("if-match").strip()
        if if_match and if_match != "*" and if_match.removeprefix("W/").strip('"') != \
                record.change_key:
            raise GraphError(
                412,
                "ErrorIrresolvableConflict",
                "The send or update operation could not be performed because the change key "
                "passed in the request does not match the current change key for the item.",
            )

    def get_event(self, req: ApiRequest, params: dict[str, str]) -> ApiResponse:
        """GET .../events/{id} (an event, or an occurrence or exception of a series)."""
        mailbox = self._mailbox(params)
        with self.store.lock:
            found = series.view(self.store, mailbox, params["event"])
        return self._one(req, mailbox, found)

    def update_event(self, req: ApiRequest, params: dict[str, str]) -> ApiResponse:
        """PATCH .../events/{id}: merge properties, new changeKey. An occurrence becomes an
        exception; a master's new timing regenerates its series (series.py)."""
        mailbox = self._mailbox(params)
        payload = validate_payload(req.json(), creating=False)
        with self.store.lock:
            record, day = series.find(self.store, mailbox, params["event"])
            if day is not None:
                self._check_if_match(req, series.instance(record, day))
                return self._one(req, mailbox,
                                 series.update_instance(self.store, record, day, payload))
            self._check_if_match(req, record)
            before = series.timing(record)
            backup = (dict(record.fields), dict(record.ext_props), record.start, record.end)
            try:
                apply_payload(record, payload)
            except GraphError:
                record.fields, record.ext_props, record.start, record.end = backup
                raise
            self.store.touch(record)
            series.after_master_update(record, before)
        return self._one(req, mailbox, record)

    def delete_event(self, req: ApiRequest, params: dict[str, str]) -> ApiResponse:
        """DELETE .../events/{id} → 204 (of an occurrence: that occurrence only)."""
        mailbox = self._mailbox(params)
        with self.store.lock:
            record, day = series.find(self.store, mailbox, params["event"])
            self._check_if_match(req, record if day is None else series.instance(record, day))
            self._remove(record, day)
        return ApiResponse(204)

    def _remove(self, record: EventRecord, day: dt.date | None) -> None:
        """Delete an event, or cancel the one occurrence of a series originally on ``day``."""
        if day is None:
            self.store.remove(record)
        else:
            series.cancel_instance(self.store, record, day)

    def cancel_event(self, req: ApiRequest, params: dict[str, str]) -> ApiResponse:
        """POST .../events/{id}/cancel: the organizer's copy is removed → 202 (of an
        occurrence: that occurrence only)."""
        mailbox = self._mailbox(params)
        if req.body.strip():
            req.json()
        with self.store.lock:
            self._remove(*series.find(self.store, mailbox, params["event"]))
        return ApiResponse(202)

    def list_instances(self, req: ApiRequest, params: dict[str, str]) -> ApiResponse:
        """GET .../events/{id}/instances?startDateTime=&endDateTime=: a master's occurrences
        and exceptions in the window (a single event or an occurrence: itself)."""
        mailbox = self._mailbox(params)
        start, end = self.view_window(req)
        with self.store.lock:
            record, day = series.find(self.store, mailbox, params["event"])
            if day is None:
                found = series.instances(record, start, end)
            else:
                one = series.instance(record, day)
                found = [v for v in series.instances(record, start, end) if v.id == one.id]
        found = self._order(req, found)
        context = (f"{self.service.graph_url}/$metadata#users('{mailbox.id}')/events"
                   f"('{params['event']}')/instances")
        return self._collection(req, context, found, 10, mailbox)

    # calendarView --------------------------------------------------------------------------

    def view_window(self, req: ApiRequest) -> tuple[Any, Any]:
        """The required startDateTime/endDateTime of a calendarView request."""
        start_text, end_text = req.q("startDateTime"), req.q("endDateTime")
        if not start_text or not end_text:
            missing = "startDateTime" if not start_text else "endDateTime"
            raise GraphError(
                400,
                "ErrorInvalidParameter",
                f"This request requires a time window specified by the query string parameters "
                f"StartDateTime and EndDateTime. Missing: {missing}.",
            )
        try:
            return parse_iso(start_text), parse_iso(end_text)
        except ValueError as exc:
            raise GraphError(
                400, "ErrorInvalidParameter", "The value of startDateTime/endDateTime is invalid."
            ) from exc

    def calendar_view(self, req: ApiRequest, params: dict[str, str]) -> ApiResponse:
        """GET .../calendarView?startDateTime=&endDateTime= (events overlapping the window)."""
        mailbox = self._mailbox(params)
        cal = self._calendar(mailbox, params)
        start, end = self.view_window(req)
        predicate = parse_filter(req.q("$filter"))
        with self.store.lock:
            records = [
                v for r in self.store.mailbox_events(mailbox, cal.id)
                for v in series.instances(r, start, end) if predicate(v)
            ]
        records = self._order(req, sorted(records, key=lambda v: (v.start, v.created_seq)))
        context = f"{self.service.graph_url}/$metadata#users('{mailbox.id}')/calendarView"
        return self._collection(req, context, records, 10, mailbox)
