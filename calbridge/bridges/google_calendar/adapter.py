"""The Google Calendar bridge: calendars, events and push channels through the Calendar
API v3."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime
from datetime import time as dt_time
from typing import Any, ClassVar

import requests

from calbridge.bridges.base import (
    BridgeHealth,
    Calendar,
    CalendarBridge,
    Capabilities,
    ChangeNotice,
    ChangeSet,
    PushSemantics,
    PushSubscription,
    TimeWindow,
    signed_in_health,
)
from calbridge.bridges.google_calendar.auth import GoogleTokens
from calbridge.bridges.google_calendar.client import (
    QUOTA_PERIOD,
    GoogleClient,
    google_error,
    json_body,
    path_segment,
    rate_limited,
    with_query,
)
from calbridge.bridges.google_calendar.convert import (
    calendar_from_entry,
    calendar_from_resource,
    event_from_google,
    event_id_for,
    event_to_google,
    marker_query,
    refusal,
    rfc3339,
)
from calbridge.bridges.google_calendar.notifications import (
    channel_from_google,
    clamp_expiry,
    expiration_ms,
    parse_channel_notification,
)
from calbridge.bridges.google_calendar.settings import GoogleCalendarSettings
from calbridge.bridges.http import HttpClient
from calbridge.bridges.pacing import Pacer
from calbridge.bridges.registry import register
from calbridge.config import Settings, SettingsModel
from calbridge.errors import (
    AlreadyExists,
    AuthError,
    CalbridgeError,
    CalendarNotFound,
    Inexpressible,
    NotFound,
    SyncStateExpired,
    UpstreamError,
)
from calbridge.model import Event, EventField, EventOrigin, EventStatus

log = logging.getLogger(__name__)

# A mapping's check must answer at once: one attempt; the next run asks again.
CHECK_ATTEMPTS = 1
# resources.calendars.list answers at most 500 a page.
DIRECTORY_PAGE_SIZE = 500
_GONE = (404, 410)


@register
class GoogleCalendarBridge(CalendarBridge):
    """Google Calendar: calendars from the user's calendar list, events with their
    recurring series, sync tokens, client-chosen ids and push channels."""

    type_name: ClassVar[str] = "google_calendar"
    capabilities: ClassVar[Capabilities] = Capabilities(
        write=True, delta=True, push=True, recurrence=True, batch=False, tombstones=True)
    settings_model: ClassVar[type[SettingsModel] | None] = GoogleCalendarSettings
    # Channels cannot be extended: a renewal opens a new channel and stops the old one.
    # Each notification names its channel and carries the channel's token (compared as
    # the client state) and the watched resource's id (compared with the one the watch
    # answer gave); it has an empty body, its headers say everything.
    push: ClassVar[PushSemantics] = PushSemantics(
        subscriptions=True, renewal_keeps_id=False, client_state=True,
        notice_in_headers=True, notice_names_resource=True)

    def __init__(self, name: str, settings: GoogleCalendarSettings, api: GoogleClient) -> None:
        super().__init__(name)
        self.settings = settings
        self.api = api
        # Each calendar's own zone, learnt from its listings: the zone of an event read
        # alone whose times name none.
        self._zones: dict[str, str] = {}

    @classmethod
    def from_settings(cls, name: str, settings: Settings) -> GoogleCalendarBridge:
        google = GoogleCalendarSettings.from_env(settings.instance_env(name, cls.type_name))
        tokens = GoogleTokens(google, timeout=settings.http_timeout_seconds)
        http = HttpClient(cls.type_name, timeout=settings.http_timeout_seconds,
                          verify=google.ca_bundle or True, throttled=rate_limited)
        pacer = Pacer(cls.type_name, google.max_concurrency, google.requests_per_minute,
                      QUOTA_PERIOD)
        return cls(name, google, GoogleClient(google.api_base_url, tokens, http, pacer))

    # ------------------------------------------------------------ helpers

    def _events(self, calendar_id: str, *tail: str, query: dict[str, Any] | None = None) -> str:
        return self.api.url("calendars", calendar_id, "events", *tail, query=query)

    def _missing(self, calendar_id: str) -> CalendarNotFound:
        return CalendarNotFound(f"{self.name}: calendar {calendar_id!r} does not exist",
                                bridge=self.name, calendar_id=calendar_id)

    def _gone(self, calendar_id: str) -> None:
        """After a 404/410 naming an event: `CalendarNotFound` when the calendar itself is
        the one missing (Google answers 404 notFound for both)."""
        if not self.calendar_exists(calendar_id):
            raise self._missing(calendar_id)

    def _event(self, data: dict[str, Any], calendar_id: str, zone: str | None = None,
               master: dict[str, Any] | None = None) -> Event:
        try:
            return event_from_google(data, calendar_id,
                                     zone or self._zones.get(calendar_id, "UTC"), master)
        except (KeyError, TypeError, ValueError) as exc:
            raise UpstreamError(f"{self.type_name}: malformed event from Google "
                                f"({type(exc).__name__})") from None

    def _zone_of(self, calendar_id: str, body: dict[str, Any]) -> str | None:
        zone = body.get("timeZone")
        if isinstance(zone, str) and zone:
            self._zones[calendar_id] = zone
            return zone
        return None

    # ------------------------------------------------------------ calendars

    def list_calendars(self) -> list[Calendar]:
        """The user's calendar list and, with `GOOGLE_CALENDAR_LIST_ROOMS`, the
        Workspace's room calendars (once each: a room also in the list reads as a room)."""
        url = self.api.url("users", "me", "calendarList",
                           query={"maxResults": min(self.settings.page_size, 250)})
        calendars: dict[str, Calendar] = {}
        for _, page in self.api.pages(url):
            for entry in page.get("items") or []:
                if isinstance(entry, dict) and (found := calendar_from_entry(entry)):
                    calendars.setdefault(found.id.casefold(), found)
        if self.settings.list_rooms:
            for room in self.list_rooms():
                listed = calendars.get(room.id.casefold())
                calendars[room.id.casefold()] = room if listed is None else room.model_copy(
                    update={"id": listed.id})
        return list(calendars.values())

    def list_rooms(self) -> list[Calendar]:
        """`resources.calendars.list` of the Admin SDK Directory API, every page: the
        customer's room and resource calendars. A refusal (the subject is no administrator,
        or the delegation lacks the scope) is an `AuthError` naming the setting."""
        base = self.settings.directory_api_base_url
        url = with_query(f"{base}/customer/{path_segment(self.settings.customer)}"
                         "/resources/calendars", {"maxResults": DIRECTORY_PAGE_SIZE})
        rooms: list[Calendar] = []
        try:
            for _, page in self.api.pages(url):
                for item in page.get("items") or []:
                    if isinstance(item, dict) and (found := calendar_from_resource(item)):
                        rooms.append(found)
        except AuthError as exc:
            raise AuthError(f"{exc.message}: GOOGLE_CALENDAR_LIST_ROOMS needs "
                            "GOOGLE_CALENDAR_SUBJECT to be an administrator of customer "
                            f"{self.settings.customer!r} who may read calendar resources"
                            ) from None
        return rooms

    def calendar_exists(self, calendar_id: str) -> bool:
        """`calendars.get`: 404 (or 400 for an id that cannot be one) is no calendar."""
        response = self.api.request("GET", self.api.url("calendars", calendar_id),
                                    ok=(400, 404), max_attempts=CHECK_ATTEMPTS)
        return response.status_code < 400

    # ------------------------------------------------------------ reading

    def list_events(self, calendar_id: str, window: TimeWindow) -> Iterator[Event]:
        url = self._events(calendar_id, query={
            "timeMin": rfc3339(window.start), "timeMax": rfc3339(window.end),
            "singleEvents": True, "maxResults": self.settings.page_size})
        for response, page in self.api.pages(url, ok=_GONE):
            if response.status_code in _GONE:
                raise self._missing(calendar_id)
            zone = self._zone_of(calendar_id, page)
            for item in page.get("items") or []:
                if isinstance(item, dict) and item.get("status") != "cancelled":
                    yield self._event(item, calendar_id, zone)

    def get_event(self, calendar_id: str, event_id: str) -> Event | None:
        response = self.api.request("GET", self._events(calendar_id, event_id), ok=(400, *_GONE))
        if response.status_code >= 400:
            self._gone(calendar_id)
            return None
        return self._event(json_body(response), calendar_id)

    def refuses(self, event: Event) -> str | None:
        """One RRULE (with EXDATEs) is what a Google master holds here; a series the
        engine cannot carry that way is refused with the reason."""
        return refusal(event)

    def instances(self, calendar_id: str, series_id: str, window: TimeWindow) -> list[Event]:
        """`events.instances`: the series' occurrences and exceptions in the window
        (cancelled ones left out); an instance differing from its master is an exception."""
        master = self.api.request("GET", self._events(calendar_id, series_id),
                                  ok=(400, *_GONE))
        if master.status_code >= 400:
            self._gone(calendar_id)
            return []
        master_body = json_body(master)
        if master_body.get("status") == "cancelled":
            return []
        url = self._events(calendar_id, series_id, "instances", query={
            "timeMin": rfc3339(window.start), "timeMax": rfc3339(window.end),
            "maxResults": self.settings.page_size})
        found: list[Event] = []
        for response, page in self.api.pages(url, ok=_GONE):
            if response.status_code in _GONE:
                return []  # deleted since the master was read
            zone = self._zone_of(calendar_id, page)
            for item in page.get("items") or []:
                if isinstance(item, dict) and item.get("status") != "cancelled":
                    event = self._event(item, calendar_id, zone, master_body)
                    found.append(event if event.series_id else event.model_copy(
                        update={"series_id": series_id}))
        return found

    def find_by_marker(self, calendar_id: str, marker: str,
                       origin: EventOrigin | None = None) -> Event | None:
        # Without singleEvents a series is found by its master, which holds the marker.
        url = self._events(calendar_id, query={
            "privateExtendedProperty": marker_query(marker), "maxResults": 5})
        response = self.api.request("GET", url, ok=_GONE)
        if response.status_code in _GONE:
            raise self._missing(calendar_id)
        body = json_body(response)
        found = [item for item in body.get("items") or []
                 if isinstance(item, dict) and item.get("status") != "cancelled"]
        if len(found) > 1:
            log.warning("marker on several events", extra={"bridge": self.name,
                                                            "calendar": calendar_id})
        return self._event(found[0], calendar_id, self._zone_of(calendar_id, body)) \
            if found else None

    # ------------------------------------------------------------ changes (sync tokens)

    def changes(self, calendar_id: str, cursor: str | None, window: TimeWindow) -> ChangeSet:
        """No cursor: a complete listing of the window, with the `nextSyncToken` its last
        page gives. A cursor (a sync token): what changed since, deletions included, for
        the whole calendar (Google refuses a window with a sync token). A token Google
        no longer honours (410, `fullSyncRequired`) is `SyncStateExpired`."""
        query: dict[str, Any] = {"singleEvents": True, "showDeleted": True,
                                 "maxResults": self.settings.page_size}
        if cursor is None:
            query.update({"timeMin": rfc3339(window.start), "timeMax": rfc3339(window.end)})
        else:
            query["syncToken"] = cursor
        latest: dict[str, Event | None] = {}  # id → event, None when cancelled
        token: str | None = None
        for response, page in self.api.pages(self._events(calendar_id, query=query),
                                             ok=_GONE):
            if response.status_code == 410:
                raise SyncStateExpired(f"{self.type_name}: the sync token of "
                                       f"{calendar_id!r} expired (full sync required)")
            if response.status_code == 404:
                raise self._missing(calendar_id)
            zone = self._zone_of(calendar_id, page)
            for item in page.get("items") or []:
                if not isinstance(item, dict) or not item.get("id"):
                    continue
                # A cancelled entry may hold nothing but its id and status.
                latest[str(item["id"])] = (None if item.get("status") == "cancelled"
                                           else self._event(item, calendar_id, zone))
            token = page.get("nextSyncToken") or token
        if not token:
            raise UpstreamError(f"{self.type_name}: the listing ended without a sync token")
        # An incremental answer covers the whole calendar: an event now outside the window
        # is reported as gone from it, as a window's delta (and a complete listing) would.
        changed = [e for e in latest.values() if e is not None and _inside(e, window)]
        deleted = [i for i, e in latest.items() if e is None or not _inside(e, window)]
        return ChangeSet(changed=changed, deleted=deleted, cursor=token,
                         complete=cursor is None)

    # ------------------------------------------------------------ writing

    def create(self, calendar_id: str, event: Event, idempotency_key: str) -> Event:
        """`events.insert` under an id derived from the idempotency key: a retried insert
        (after a lost answer) is refused with 409, and the event it made is returned."""
        if (why := refusal(event)) is not None:
            raise Inexpressible(why, rule=event.recurrence.rrule if event.recurrence else None)
        event_id = event_id_for(idempotency_key)
        response = self.api.request("POST", self._events(calendar_id),
                                    json=event_to_google(event, event_id=event_id),
                                    ok=(409, 404), idempotent=True)
        if response.status_code == 404:
            raise self._missing(calendar_id)
        if response.status_code == 409:
            return self._existing(calendar_id, event_id, event)
        return self._event(json_body(response), calendar_id)

    def _existing(self, calendar_id: str, event_id: str, event: Event) -> Event:
        """The event an earlier insert with the same id made, when it is calbridge's copy
        of the same link; a foreign or deleted event under that id is `AlreadyExists`."""
        existing = self.get_event(calendar_id, event_id)
        if (existing is not None and existing.status is not EventStatus.CANCELLED
                and existing.marker == event.marker):
            return existing
        by_marker = self.find_by_marker(calendar_id, event.marker) if event.marker else None
        if by_marker is not None:
            return by_marker
        raise AlreadyExists(f"{self.type_name}: an event with id {event_id!r} exists "
                            "and is not this link's copy")

    def update(self, calendar_id: str, event_id: str, event: Event,
               etag: str | None = None,
               fields: frozenset[EventField] | None = None) -> Event:
        """`events.patch` of only `fields`; with an etag, `If-Match` makes a stale write
        `EtagConflict` (412). Patching an instance makes it an exception."""
        body = event_to_google(event, fields=frozenset(EventField) if fields is None
                               else fields)
        if not body:  # nothing Google carries changed
            current = self.get_event(calendar_id, event_id)
            if current is None:
                raise NotFound(f"{self.type_name}: no event {event_id!r}")
            return current
        headers = {"If-Match": etag} if etag else None
        # Without If-Match a PATCH is idempotent; with it, a retry could trip on itself.
        response = self.api.request("PATCH", self._events(calendar_id, event_id), json=body,
                                    headers=headers, ok=_GONE, idempotent=etag is None)
        if response.status_code in _GONE:
            self._gone(calendar_id)
            raise NotFound(f"{self.type_name}: no event {event_id!r}",
                           details={"status": response.status_code})
        return self._event(json_body(response), calendar_id)

    def delete(self, calendar_id: str, event_id: str) -> bool:
        """`events.delete` (of an instance: cancels that occurrence). Google answers 410
        for an event deleted before, 404 for one it never had."""
        response = self.api.request("DELETE", self._events(calendar_id, event_id),
                                    ok=(400, *_GONE))
        if response.status_code >= 400:
            if response.status_code != 410:
                self._gone(calendar_id)
            return False
        return True

    # ------------------------------------------------------------ health

    def health(self) -> BridgeHealth:
        return signed_in_health(self.api.tokens.token, self.list_calendars)

    # ------------------------------------------------------------ push

    def subscribe(self, calendar_id: str, notification_url: str, client_state: str,
                  expires_at: datetime, lifecycle_url: str | None = None) -> PushSubscription:
        """`events.watch`: a new channel (a fresh UUID) whose token is the client state,
        asked to live until `expires_at` but no longer than a channel's life
        (`MAX_CHANNEL_TTL`). Google may grant a shorter life than asked; its answer is kept."""
        channel_id = str(uuid.uuid4())
        expiry = clamp_expiry(expires_at, datetime.now(UTC))
        body = {"id": channel_id, "type": "web_hook", "address": notification_url,
                "token": client_state, "expiration": expiration_ms(expiry)}
        response = self.api.request("POST", self._events(calendar_id, "watch"), json=body,
                                    ok=(400, 404))
        if response.status_code == 404:
            raise self._missing(calendar_id)
        if response.status_code == 400:
            raise _rejected_watch(response)
        return channel_from_google(json_body(response), channel_id)

    def unsubscribe(self, subscription_id: str, resource: str | None = None) -> None:
        """`channels.stop`, which needs the channel's `resourceId` (kept as the
        subscription's resource). A channel Google no longer knows is already stopped."""
        if not resource:
            log.warning("channel not stopped: its resource id is unknown",
                        extra={"bridge": self.name, "subscription_id": subscription_id})
            return
        self.api.request("POST", self.api.url("channels", "stop"),
                         json={"id": subscription_id, "resourceId": resource},
                         ok=(404,), idempotent=True)

    def parse_notification(self, headers: Mapping[str, str], body: Any) -> list[ChangeNotice]:
        return parse_channel_notification(headers)

    def describe(self) -> dict[str, Any]:
        described = super().describe()
        described["api_base_url"] = self.settings.api_base_url
        return described


def _inside(event: Event, window: TimeWindow) -> bool:
    """Whether an event overlaps the window (all-day dates from UTC midnight)."""
    start, end = _instant(event.start), _instant(event.end)
    return start < window.end and (end > window.start or start >= window.start)


def _instant(value: datetime | date) -> datetime:
    return value if isinstance(value, datetime) else datetime.combine(value, dt_time(0),
                                                                      tzinfo=UTC)


def _rejected_watch(response: requests.Response) -> Exception:
    """Google's 400 for a notification address it will not call (not HTTPS, or a domain
    it cannot reach) is our endpoint's fault (WEBHOOK_BASE_URL), not the calendar's."""
    error = google_error(response, "google_calendar: POST events/watch")
    if isinstance(error, CalbridgeError):
        error.message = (f"{error.message}: Google refused the notification address "
                         "(WEBHOOK_BASE_URL must be a public https:// URL)")
        error.args = (error.message,)
    return error

