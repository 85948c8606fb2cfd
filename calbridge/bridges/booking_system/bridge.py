"""The booking system bridge: an operator's booking system behind the REST contract of
the usage guide (`/api/events`, `/api/resources`), one resource = one calendar."""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime
from datetime import time as day_start
from typing import Any, ClassVar
from urllib.parse import quote
from zoneinfo import ZoneInfo

import requests

from calbridge.bridges.base import (
    BridgeHealth,
    Calendar,
    CalendarBridge,
    Capabilities,
    ChangeNotice,
    ChangeSet,
    PushSemantics,
    TimeWindow,
)
from calbridge.bridges.booking_system.auth import ApiKey, ClientCredentials, Credentials
from calbridge.bridges.booking_system.cursor import ChangeCursor, RecentBookings
from calbridge.bridges.booking_system.payloads import (
    SOURCE_SYSTEM,
    BookingPayload,
    create_payload,
    event_from_booking,
    format_instant,
    known_zone,
    read_booking,
    update_payload,
)
from calbridge.bridges.booking_system.settings import BookingSystemSettings
from calbridge.bridges.booking_system.webhooks import notices_from_body, verify_signature
from calbridge.bridges.http import HttpClient
from calbridge.bridges.registry import register
from calbridge.config import Settings
from calbridge.errors import (
    AuthError,
    BadRequest,
    CalbridgeError,
    CalendarNotFound,
    EtagConflict,
    NotFound,
    UpstreamError,
    UpstreamThrottled,
    UpstreamUnavailable,
    WebhookSecretMissing,
)
from calbridge.model import Event, EventField, EventOrigin, EventStatus

log = logging.getLogger(__name__)

PAGE_SIZE = 500
# How often a create whose outcome was unknown (timeout, 5xx) is looked up and retried.
CREATE_ATTEMPTS = 3
HEALTH_TIMEOUT = 10.0
WEBHOOKS_REFUSED = ("BOOKING_SYSTEM_WEBHOOK_SECRET is not set: booking system webhooks "
                    "cannot be verified and are refused (503); polling keeps calendars in step")


@register
class BookingSystemBridge(CalendarBridge):
    """Bookings of one resource are the events of one calendar; calbridge's own bookings
    carry `source_system = "calbridge"` and the link id as `external_id`."""

    type_name: ClassVar[str] = "booking_system"
    capabilities: ClassVar[Capabilities] = Capabilities(
        write=True, delta=True, push=True, recurrence=False, batch=False, tombstones=False,
        bookings=True)
    settings_model = BookingSystemSettings
    # Signed webhooks: nothing to subscribe to; `parse_notification` verifies each
    # delivery's signature with BOOKING_SYSTEM_WEBHOOK_SECRET.
    push: ClassVar[PushSemantics] = PushSemantics()

    def __init__(self, name: str, config: BookingSystemSettings, http: HttpClient, *,
                 health_http: HttpClient | None = None, page_size: int = PAGE_SIZE) -> None:
        super().__init__(name)
        self.config = config
        self.page_size = page_size
        self._base = config.base_url
        self._http = http
        self._health_http = health_http or http
        self._credentials: Credentials = (
            ClientCredentials(http, config.token_url, config.client_id or "",
                              config.client_secret or "", config.scope)
            if config.token_url else ApiKey(config.api_key_header, config.api_key or ""))

    @classmethod
    def from_settings(cls, name: str, settings: Settings) -> BookingSystemBridge:
        config = BookingSystemSettings.from_env(settings.instance_env(name, cls.type_name))
        verify: str | bool = config.ca_bundle or True
        http = HttpClient(name, timeout=settings.http_timeout_seconds, verify=verify)
        health_http = HttpClient(name, timeout=min(settings.http_timeout_seconds, HEALTH_TIMEOUT),
                                 verify=verify, max_attempts=1, session=http.session)
        return cls(name, config, http, health_http=health_http)

    # ------------------------------------------------------------ reading

    def list_calendars(self) -> list[Calendar]:
        return self._calendars(self._http)

    def calendar_exists(self, calendar_id: str) -> bool:
        """Whether `GET /api/resources` lists the resource (the contract's one resource
        call), asked once with the health check's short timeout: a mapping's check must
        answer at once, and an unanswered one is repeated by the next run."""
        return calendar_id in {c.id for c in self._calendars(self._health_http)}

    def list_events(self, calendar_id: str, window: TimeWindow) -> Iterator[Event]:
        self._require_resource(calendar_id)
        params = {"resource_id": calendar_id, "starts_before": format_instant(window.end),
                  "ends_after": format_instant(window.start)}
        for booking in self._pages(params):
            event = event_from_booking(booking)
            # Filtered here too: the contract does not oblige a booking system to filter.
            if overlaps(event, window):
                yield event

    def get_event(self, calendar_id: str, event_id: str) -> Event | None:
        response = self._call("GET", f"/api/events/{quote(event_id, safe='')}", ok=(404,))
        booking = read_booking(self._json(response)) if response.status_code != 404 else None
        if booking is not None and booking.resource_id == calendar_id:
            return event_from_booking(booking)
        # Gone, or moved to another resource — unless the resource itself is gone, which
        # is no reason to take its bookings for deleted.
        self._require_resource(calendar_id)
        return None

    def calendar_of(self, event_id: str) -> str | None:
        response = self._call("GET", f"/api/events/{quote(event_id, safe='')}", ok=(404,))
        if response.status_code == 404:
            return None
        return read_booking(self._json(response)).resource_id

    def find_by_marker(self, calendar_id: str, marker: str,
                       origin: EventOrigin | None = None) -> Event | None:
        """By origin (`source_system` + `external_id`) when given, then by the marker
        calbridge wrote as `external_id` before it recorded origins."""
        wanted = [(origin.system, origin.id)] if origin is not None else []
        for system, external_id in [*wanted, (SOURCE_SYSTEM, marker)]:
            params = {"external_id": external_id, "source_system": system,
                      "resource_id": calendar_id, "limit": "1"}
            body = self._json(self._call("GET", "/api/events", params=params))
            for raw in _events_of(body):
                booking = read_booking(raw)
                if (booking.external_id == external_id and booking.source_system == system
                        and booking.resource_id == calendar_id):
                    return event_from_booking(booking)
        return None

    def changes(self, calendar_id: str, cursor: str | None, window: TimeWindow) -> ChangeSet:
        """`cursor` None: every booking of the window (cancelled ones included) and a
        fresh cursor. Later: every booking of the resource changed since, window or not,
        so a booking moved out of the window is still seen."""
        if cursor is None:
            return self._full_listing(calendar_id, window)
        position = ChangeCursor.decode(cursor)
        changed: list[Event] = []
        read = RecentBookings()
        started: datetime | None = None
        for answered_at, page in self._page_lists({"resource_id": calendar_id,
                                                   "since": position.since}):
            started = started or answered_at
            for booking in page:
                read.add(booking)
                if position.is_new(booking):
                    changed.append(event_from_booking(booking))
        assert started is not None  # the first page always answers
        return ChangeSet(changed=changed, cursor=read.next_cursor(started).encode())

    def _full_listing(self, calendar_id: str, window: TimeWindow) -> ChangeSet:
        started = self._require_resource(calendar_id)
        params = {"resource_id": calendar_id, "starts_before": format_instant(window.end),
                  "ends_after": format_instant(window.start)}
        listed = list(self._pages(params))
        events = [event_from_booking(booking) for booking in listed]
        return ChangeSet(changed=[e for e in events if overlaps(e, window)],
                         cursor=ChangeCursor.opening(started, listed).encode(),
                         complete=True)

    # ------------------------------------------------------------ writing

    def create(self, calendar_id: str, event: Event, idempotency_key: str) -> Event:
        """POST with the marker as `external_id`; when the outcome is unknown (timeout,
        5xx) or another writer got there first, look the booking up before sending again."""
        marker = event.marker or idempotency_key
        body = create_payload(calendar_id, event, marker)
        failure: CalbridgeError | None = None
        for attempt in range(1, CREATE_ATTEMPTS + 1):
            try:
                response = self._call("POST", "/api/events", json=body, idempotent=False)
                made = event_from_booking(read_booking(_event_of(self._json(response))))
                return self._reactivated(calendar_id, made, event)
            except UpstreamThrottled:
                raise  # refused before it was processed, and already retried
            except (UpstreamUnavailable, EtagConflict) as exc:
                failure = exc
                log.info("booking create outcome unknown", extra={
                    "bridge": self.name, "calendar": calendar_id, "link_id": marker,
                    "attempt": attempt, "error": exc.code})
            found = self.find_by_marker(calendar_id, marker, event.origin)
            if found is not None:
                return self._reactivated(calendar_id, found, event)
        assert failure is not None
        raise failure

    def _reactivated(self, calendar_id: str, existing: Event, wanted: Event) -> Event:
        # A repeated create finds the booking made the first time; if it has been
        # cancelled since, creating it again means it is wanted again.
        if existing.status is EventStatus.CANCELLED and wanted.status is EventStatus.CONFIRMED:
            assert existing.id is not None
            return self.update(calendar_id, existing.id, wanted)
        return existing

    def update(self, calendar_id: str, event_id: str, event: Event,
               etag: str | None = None,
               fields: frozenset[EventField] | None = None) -> Event:
        """PUT the given fields (not the origin or the organizer); a CONFIRMED event
        re-enables a cancelled booking (`active: true`), a CANCELLED one cancels it."""
        body = update_payload(calendar_id, event, fields)
        if not body:  # nothing the booking system can carry changed
            current = self.get_event(calendar_id, event_id)
            if current is None:
                raise NotFound(f"{self.name}: no booking {event_id!r}")
            return current
        headers = {"If-Match": f'"{etag}"'} if etag else None
        response = self._call("PUT", f"/api/events/{quote(event_id, safe='')}",
                              json=body, headers=headers)
        return event_from_booking(read_booking(_event_of(self._json(response))))

    def delete(self, calendar_id: str, event_id: str) -> bool:
        """Cancel the booking (`DELETE` sets `active: false`); False when it was already
        cancelled or does not exist."""
        current = self.get_event(calendar_id, event_id)
        if current is None or current.status is EventStatus.CANCELLED:
            return False
        response = self._call("DELETE", f"/api/events/{quote(event_id, safe='')}", ok=(404,))
        return response.status_code != 404

    # ------------------------------------------------------------ health and push

    def health(self) -> BridgeHealth:
        refused = None if self.config.webhook_secret else WEBHOOKS_REFUSED
        return self._reachability().model_copy(update={"webhooks": refused})

    def _reachability(self) -> BridgeHealth:
        started = time.perf_counter()
        try:
            calendars = self._calendars(self._health_http)
        except AuthError as exc:
            return BridgeHealth.failed("unhealthy", started, exc, authenticated=False)
        except UpstreamThrottled as exc:
            return BridgeHealth.failed("degraded", started, exc, authenticated=True)
        except CalbridgeError as exc:
            return BridgeHealth.failed("unhealthy", started, exc)
        except Exception as exc:
            log.exception("booking system health check failed", extra={"bridge": self.name})
            return BridgeHealth.failed("unhealthy", started, exc)
        return BridgeHealth.healthy(started, len(calendars))

    def parse_notification(self, headers: Mapping[str, str], body: Any) -> list[ChangeNotice]:
        """Verify and parse one booking system webhook. `body` must be the raw request
        bytes (a str is taken as UTF-8): the signature covers them exactly.
        Raises `Unauthorized` (bad, missing or stale signature), `ValidationFailed`."""
        secret = self.config.webhook_secret
        if not secret:
            raise WebhookSecretMissing(WEBHOOKS_REFUSED)
        if isinstance(body, str):
            body = body.encode("utf-8")
        if not isinstance(body, bytes | bytearray):
            raise BadRequest("booking system webhook body must be the raw request bytes")
        delivery = verify_signature(secret, headers, bytes(body))
        return notices_from_body(bytes(body), delivery)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "base_url": self._base,
                "auth": "oauth2" if self.config.uses_oauth else "api_key"}

    # ------------------------------------------------------------ HTTP

    def _call(self, method: str, path: str, *, client: HttpClient | None = None,
              headers: dict[str, str] | None = None, **kwargs: Any) -> requests.Response:
        """One request with credentials; an expired OAuth2 token is fetched again once."""
        client = client or self._http
        for attempt in (1, 2):
            sent = {"Accept": "application/json", **(headers or {}),
                    **self._credentials.headers()}
            try:
                return client.request(method, self._base + path, headers=sent, **kwargs)
            except AuthError:
                if attempt == 2 or not self._credentials.invalidate():
                    raise
        raise AssertionError("unreachable")

    def _json(self, response: requests.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            raise UpstreamError(
                f"{self.name}: {response.request.method} answered with a body that is not "
                "JSON") from None

    def _pages(self, params: dict[str, str]) -> Iterator[BookingPayload]:
        """Every booking matching `params`, following `next_cursor`."""
        for _, page in self._page_lists(params):
            yield from page

    def _page_lists(self, params: dict[str, str]
                    ) -> Iterator[tuple[datetime, list[BookingPayload]]]:
        """Each page of bookings matching `params`, with the booking system's clock when
        it answered."""
        query = {**params, "limit": str(self.page_size)}
        seen_cursors: set[str] = set()
        while True:
            response = self._call("GET", "/api/events", params=query)
            body = self._json(response)
            yield _server_now(response), [read_booking(raw) for raw in _events_of(body)]
            next_cursor = body.get("next_cursor") if isinstance(body, dict) else None
            if not next_cursor:
                return
            if next_cursor in seen_cursors:
                raise UpstreamError(f"{self.name}: paging of /api/events does not advance")
            seen_cursors.add(next_cursor)
            query = {**query, "cursor": str(next_cursor)}

    def _calendars(self, client: HttpClient) -> list[Calendar]:
        return _calendars_of(self._json(self._call("GET", "/api/resources", client=client)))

    def _require_resource(self, calendar_id: str) -> datetime:
        """Raise `CalendarNotFound` for an unknown resource; else the booking system's
        clock. (Only `GET /api/resources` is in the contract, so the listing is checked.)"""
        response = self._call("GET", "/api/resources")
        if calendar_id not in {c.id for c in _calendars_of(self._json(response))}:
            raise CalendarNotFound(f"{self.name}: no resource {calendar_id!r}",
                                   bridge=self.name, calendar_id=calendar_id)
        return _server_now(response)


def _calendars_of(body: Any) -> list[Calendar]:
    raw_resources = body.get("resources") if isinstance(body, dict) else body
    if not isinstance(raw_resources, list):
        raise UpstreamError("booking system /api/resources answered without a list")
    return [Calendar(id=str(resource["id"]), name=str(resource.get("name") or resource["id"]),
                     kind="resource")
            for resource in raw_resources
            if isinstance(resource, dict) and resource.get("id") is not None]


def _server_now(response: requests.Response) -> datetime:
    """The booking system's clock (the response's `Date` header), else ours."""
    try:
        when = email.utils.parsedate_to_datetime(response.headers.get("Date", ""))
    except (TypeError, ValueError):
        return datetime.now(UTC)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _events_of(body: Any) -> list[Any]:
    events = body.get("events") if isinstance(body, dict) else None
    if not isinstance(events, list):
        raise UpstreamError("booking system listing has no events list")
    return events


def _event_of(body: Any) -> Any:
    """The booking in a write response: `{"id", "event": {...}}` or the booking itself."""
    if isinstance(body, dict) and isinstance(body.get("event"), dict):
        return body["event"]
    return body


def overlaps(event: Event, window: TimeWindow) -> bool:
    """Does the event overlap the window (all-day dates from midnight in its zone)?"""
    zone = ZoneInfo(known_zone(event.timezone) or "UTC")

    def instant(value: datetime | date) -> datetime:
        if isinstance(value, datetime):
            return value
        return datetime.combine(value, day_start(0, 0), tzinfo=zone)

    return instant(event.start) < window.end and instant(event.end) > window.start
