"""The booking system bridge against the example booking system (and, for OAuth2, a
small token-checking server): paging, change cursors, cancellations, retries, auth."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from calbridge.bridges.base import TimeWindow
from calbridge.bridges.booking_system import BookingSystemBridge, BookingSystemSettings
from calbridge.bridges.http import HttpClient
from calbridge.config import Settings
from calbridge.errors import (
    AuthError,
    EtagConflict,
    NotFound,
    SyncStateExpired,
    Unauthorized,
    UpstreamThrottled,
)
from calbridge.model import Event, EventStatus, new_id
from examples.booking_system import BookingSystemServer
from tests.fixtures.booking import BOOKING_API_KEY

ROOM = "room_101"
START = datetime(2031, 3, 10, 9, 0, tzinfo=UTC)
PINNED = "2031-01-01T00:00:00.000Z"


WINDOW = TimeWindow(start=START - timedelta(days=30), end=START + timedelta(days=60))


def make_event(title: str, hours: int = 0) -> Event:
    start = START + timedelta(hours=hours)
    return Event(title=title, start=start, end=start + timedelta(hours=1),
                 timezone="Europe/Oslo", marker=new_id())


def make_bridge(server: BookingSystemServer, *, sleeps: list[float] | None = None,
                session: requests.Session | None = None, page_size: int = 500,
                **env: str) -> BookingSystemBridge:
    config = BookingSystemSettings.from_env({
        "BOOKING_SYSTEM_BASE_URL": server.base_url, "BOOKING_SYSTEM_API_KEY": BOOKING_API_KEY,
        **env})
    recorded = sleeps if sleeps is not None else []
    http = HttpClient("booking_system", timeout=5, session=session, sleep=recorded.append)
    return BookingSystemBridge("booking_system", config, http, page_size=page_size)


def admin(server: BookingSystemServer, method: str, path: str, **kwargs: Any) -> Any:
    response = requests.request(method, server.base_url + path, timeout=5, **kwargs)
    assert response.ok, response.text
    return response.json()


def fault(server: BookingSystemServer, **spec: Any) -> None:
    admin(server, "POST", "/_admin/faults", json=spec)


def request_count(server: BookingSystemServer, route: str) -> int:
    return admin(server, "GET", "/_admin/requests")["requests"].get(route, 0)


@pytest.fixture
def bridge(booking: BookingSystemServer) -> BookingSystemBridge:
    return make_bridge(booking)


# ---------------------------------------------------------------- paging and changes


def test_listing_follows_every_page(booking: BookingSystemServer) -> None:
    bridge = make_bridge(booking, page_size=7)
    titles = {f"Booking {n}" for n in range(40)}
    for n, title in enumerate(sorted(titles)):
        bridge.create(ROOM, make_event(title, hours=n), idempotency_key=new_id())
    before = request_count(booking, "GET /api/events")
    listed = [event.title for event in bridge.list_events(ROOM, WINDOW)]
    assert sorted(listed) == sorted(titles)
    assert request_count(booking, "GET /api/events") - before == 6  # 40 bookings, 7 a page


def test_changes_miss_nothing_when_change_times_are_equal(
        booking: BookingSystemServer) -> None:
    # Every write gets the same updated_at, and pages end in the middle of that instant.
    booking.app.bookings.store.clock = lambda: PINNED
    bridge = make_bridge(booking, page_size=2)
    first = [bridge.create(ROOM, make_event(f"First {n}", n), new_id()) for n in range(5)]
    initial = bridge.changes(ROOM, None, WINDOW)
    assert initial.complete and {e.id for e in initial.changed} == {e.id for e in first}

    quiet = bridge.changes(ROOM, initial.cursor, WINDOW)
    assert quiet.changed == []

    later = bridge.create(ROOM, make_event("Later", 9), new_id())
    assert first[0].id is not None
    bridge.update(ROOM, first[0].id, make_event("First 0, renamed"))
    changed = bridge.changes(ROOM, quiet.cursor, WINDOW)
    assert {e.id: e.title for e in changed.changed} == {
        later.id: "Later", first[0].id: "First 0, renamed"}
    assert all(e.last_modified == datetime(2031, 1, 1, tzinfo=UTC) for e in changed.changed)

    again = bridge.changes(ROOM, changed.cursor, WINDOW)
    assert again.changed == [] and again.cursor


def test_changes_see_a_booking_moved_out_of_the_window(bridge: BookingSystemBridge) -> None:
    created = bridge.create(ROOM, make_event("Moving"), new_id())
    initial = bridge.changes(ROOM, None, WINDOW)
    assert created.id is not None
    bridge.update(ROOM, created.id, make_event("Moving", hours=24 * 365))
    moved = bridge.changes(ROOM, initial.cursor, WINDOW)
    assert [e.id for e in moved.changed] == [created.id]


def test_changes_of_other_resources_are_not_reported(bridge: BookingSystemBridge) -> None:
    initial = bridge.changes(ROOM, None, WINDOW)
    bridge.create("room_102", make_event("Elsewhere"), new_id())
    assert bridge.changes(ROOM, initial.cursor, WINDOW).changed == []


# ---------------------------------------------------------------- cancel and re-enable


def test_cancel_then_re_enable(bridge: BookingSystemBridge) -> None:
    written = make_event("Council meeting")
    created = bridge.create(ROOM, written, written.marker or "")
    assert created.id is not None
    initial = bridge.changes(ROOM, None, WINDOW)

    assert bridge.delete(ROOM, created.id) is True
    cancelled = bridge.get_event(ROOM, created.id)
    assert cancelled is not None and cancelled.status is EventStatus.CANCELLED
    after_cancel = bridge.changes(ROOM, initial.cursor, WINDOW)
    assert [(e.id, e.status) for e in after_cancel.changed] == [
        (created.id, EventStatus.CANCELLED)]

    again = bridge.update(ROOM, created.id, written)
    assert again.status is EventStatus.CONFIRMED and again.id == created.id
    after_enable = bridge.changes(ROOM, after_cancel.cursor, WINDOW)
    assert [(e.id, e.status) for e in after_enable.changed] == [
        (created.id, EventStatus.CONFIRMED)]


def test_create_with_the_marker_of_a_cancelled_booking_re_enables_it(
        bridge: BookingSystemBridge) -> None:
    written = make_event("Back again")
    created = bridge.create(ROOM, written, written.marker or "")
    assert created.id is not None and bridge.delete(ROOM, created.id)
    recreated = bridge.create(ROOM, written, written.marker or "")
    assert recreated.id == created.id and recreated.status is EventStatus.CONFIRMED


def test_stale_etag_and_unknown_booking_are_refused(bridge: BookingSystemBridge) -> None:
    written = make_event("Versioned")
    created = bridge.create(ROOM, written, new_id())
    assert created.id is not None and created.etag is not None
    updated = bridge.update(ROOM, created.id, written.model_copy(update={"title": "v2"}),
                            etag=created.etag)
    assert updated.etag != created.etag
    with pytest.raises(EtagConflict):
        bridge.update(ROOM, created.id, written, etag=created.etag)
    with pytest.raises(NotFound):
        bridge.update(ROOM, "999999", written)
    assert bridge.delete(ROOM, "999999") is False


def test_unknown_resource_is_not_found(bridge: BookingSystemBridge) -> None:
    with pytest.raises(NotFound):
        list(bridge.list_events("no_such_room", WINDOW))
    with pytest.raises(NotFound):
        bridge.changes("no_such_room", None, WINDOW)


def test_unreadable_cursor_asks_for_a_full_listing(bridge: BookingSystemBridge) -> None:
    with pytest.raises(SyncStateExpired):
        bridge.changes(ROOM, "not-a-cursor", WINDOW)


# ---------------------------------------------------------------- retries and throttling


def test_503_then_success_is_retried(booking: BookingSystemServer) -> None:
    sleeps: list[float] = []
    bridge = make_bridge(booking, sleeps=sleeps)
    fault(booking, status=503, times=2, path_regex="^/api/resources$", method="GET")
    assert ROOM in {c.id for c in bridge.list_calendars()}
    assert len(sleeps) == 2
    assert request_count(booking, "GET /api/resources") == 3


def test_429_honours_retry_after(booking: BookingSystemServer) -> None:
    sleeps: list[float] = []
    bridge = make_bridge(booking, sleeps=sleeps)
    fault(booking, status=429, times=1, retry_after=7, path_regex="^/api/events$")
    written = make_event("Throttled once")
    created = bridge.create(ROOM, written, written.marker or "")
    assert sleeps == [7.0]
    assert [e.id for e in bridge.list_events(ROOM, WINDOW)] == [created.id]


def test_throttling_that_does_not_end_is_reported(
        booking: BookingSystemServer) -> None:
    bridge = make_bridge(booking)
    fault(booking, status=429, times=10, retry_after=3, path_regex="^/api/resources$")
    with pytest.raises(UpstreamThrottled) as raised:
        bridge.list_calendars()
    assert raised.value.retry_after == 3.0


def test_health_without_retries_reports_a_failing_system(
        booking: BookingSystemServer) -> None:
    fault(booking, status=503, times=1, path_regex="^/api/resources$")
    settings = Settings.from_env({
        "AzureWebJobsStorage": "UseDevelopmentStorage=true",
        "BOOKING_SYSTEM_BASE_URL": booking.base_url, "BOOKING_SYSTEM_API_KEY": BOOKING_API_KEY})
    bridge = BookingSystemBridge.from_settings("booking_system", settings)
    health = bridge.health()
    assert health.status == "unhealthy" and health.latency_ms is not None
    assert bridge.health().status == "healthy"


# ---------------------------------------------------------------- authentication


def test_wrong_api_key_is_an_auth_error(booking: BookingSystemServer) -> None:
    bridge = make_bridge(booking, BOOKING_SYSTEM_API_KEY="not-the-key")
    with pytest.raises(AuthError):
        bridge.list_calendars()
    health = bridge.health()
    assert health.status == "unhealthy" and health.authenticated is False
    assert "not-the-key" not in (health.error or "")


def test_healthy_system_reports_its_resources(bridge: BookingSystemBridge) -> None:
    health = bridge.health()
    assert (health.status, health.authenticated, health.calendars_available) == (
        "healthy", True, 3)


# ---------------------------------------------------------------- creates with unknown outcome


class LosesCreateResponses(requests.Session):
    """Sends the create, then behaves as if the response never arrived."""

    def __init__(self, losses: int = 1) -> None:
        super().__init__()
        self.losses = losses

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        response = super().request(method, url, *args, **kwargs)
        if method == "POST" and url.endswith("/api/events") and self.losses > 0:
            self.losses -= 1
            raise requests.ReadTimeout("response lost")
        return response


def test_create_whose_response_timed_out_does_not_duplicate(
        booking: BookingSystemServer) -> None:
    bridge = make_bridge(booking, session=LosesCreateResponses())
    written = make_event("Timed out")
    created = bridge.create(ROOM, written, written.marker or "")
    assert created.id and created.marker == written.marker
    assert [e.id for e in bridge.list_events(ROOM, WINDOW)] == [created.id]
    # The booking was found by its marker, so it was not sent a second time.
    assert request_count(booking, "POST /api/events") == 1


def test_throttled_create_is_not_looked_up_and_resent(
        booking: BookingSystemServer) -> None:
    bridge = make_bridge(booking)
    fault(booking, status=429, times=10, path_regex="^/api/events$", method="POST")
    with pytest.raises(UpstreamThrottled):
        bridge.create(ROOM, make_event("Throttled"), new_id())
    assert request_count(booking, "POST /api/events") == 5
    assert request_count(booking, "GET /api/events") == 0


def test_create_that_failed_before_it_was_made_is_sent_again(
        booking: BookingSystemServer) -> None:
    bridge = make_bridge(booking)
    fault(booking, status=503, times=1, path_regex="^/api/events$", method="POST")
    written = make_event("Second try")
    created = bridge.create(ROOM, written, written.marker or "")
    assert [e.id for e in bridge.list_events(ROOM, WINDOW)] == [created.id]
    assert request_count(booking, "POST /api/events") == 2


# ---------------------------------------------------------------- webhooks


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.received.append((dict(self.headers.items()), body))  # type: ignore[attr-defined]
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


StartServer = Callable[[type[BaseHTTPRequestHandler]], ThreadingHTTPServer]


@pytest.fixture
def local_server() -> Iterator[StartServer]:
    """Starts small loopback HTTP servers for a test and stops them after it."""
    servers: list[ThreadingHTTPServer] = []

    def start(handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.received = []  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_signed_webhooks_from_the_example_system_are_accepted(
        booking: BookingSystemServer, local_server: StartServer) -> None:
    receiver = local_server(_Receiver)
    url = f"http://127.0.0.1:{receiver.server_address[1]}/webhooks/booking"
    booking.set_webhook(url, "hook-secret")
    bridge = make_bridge(booking, BOOKING_SYSTEM_WEBHOOK_SECRET="hook-secret")
    created = bridge.create(ROOM, make_event("Announced"), new_id())
    deadline = time.monotonic() + 5
    while not receiver.received and time.monotonic() < deadline:
        time.sleep(0.05)
    headers, body = receiver.received[0]
    [notice] = bridge.parse_notification(headers, body)
    assert (notice.calendar_id, notice.event_id, notice.change_type) == (
        ROOM, created.id, "created")
    with pytest.raises(Unauthorized, match="signature"):
        make_bridge(booking, BOOKING_SYSTEM_WEBHOOK_SECRET="other").parse_notification(
            headers, body)


# ---------------------------------------------------------------- OAuth2 client credentials


class _TokenAndApi(BaseHTTPRequestHandler):
    """A token endpoint (client credentials, Basic auth) and `GET /api/resources`
    that accepts only the bearer tokens it issued and has not revoked."""

    def do_POST(self) -> None:
        state = self.server.state  # type: ignore[attr-defined]
        form = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
        state["token_requests"] += 1
        expected = requests.auth._basic_auth_str("calbridge", "client-secret")
        if self.headers.get("Authorization") != expected or "client_credentials" not in form:
            return self._send(401, {"error": "invalid_client"})
        token = f"token-{state['token_requests']}"
        state["valid"].add(token)
        state["scopes"].append(form)
        self._send(200, {"access_token": token, "token_type": "Bearer",
                         "expires_in": state["expires_in"]})

    def do_GET(self) -> None:
        state = self.server.state  # type: ignore[attr-defined]
        token = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
        if token not in state["valid"]:
            return self._send(401, {"error": {"code": "unauthorized"}})
        state["api_calls"].append(token)
        self._send(200, {"resources": [{"id": "room_1", "name": "Room 1"}]})

    def _send(self, status: int, body: dict[str, Any]) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def oauth_bridge(server: ThreadingHTTPServer, secret: str) -> BookingSystemBridge:
    base = f"http://127.0.0.1:{server.server_address[1]}"
    config = BookingSystemSettings.from_env({
        "BOOKING_SYSTEM_BASE_URL": base, "BOOKING_SYSTEM_TOKEN_URL": base + "/oauth/token",
        "BOOKING_SYSTEM_CLIENT_ID": "calbridge", "BOOKING_SYSTEM_CLIENT_SECRET": secret,
        "BOOKING_SYSTEM_SCOPE": "bookings.readwrite"})
    http = HttpClient("booking_system", timeout=5, sleep=lambda _: None)
    return BookingSystemBridge("booking_system", config, http)


@pytest.fixture
def token_server(local_server: StartServer) -> ThreadingHTTPServer:
    server = local_server(_TokenAndApi)
    server.state = {"token_requests": 0, "valid": set(), "api_calls": [], "scopes": [],
                    "expires_in": 3600}
    return server


def test_oauth2_token_is_fetched_once_and_reused(token_server: Any) -> None:
    bridge = oauth_bridge(token_server, "client-secret")
    for _ in range(3):
        assert [c.id for c in bridge.list_calendars()] == ["room_1"]
    assert token_server.state["token_requests"] == 1
    assert token_server.state["api_calls"] == ["token-1"] * 3
    assert "scope=bookings.readwrite" in token_server.state["scopes"][0]


def test_oauth2_token_is_refreshed_before_it_expires(token_server: Any) -> None:
    token_server.state["expires_in"] = 0  # expires at once: every call needs a new one
    bridge = oauth_bridge(token_server, "client-secret")
    bridge.list_calendars()
    bridge.list_calendars()
    assert token_server.state["api_calls"] == ["token-1", "token-2"]


def test_oauth2_revoked_token_is_replaced_once(token_server: Any) -> None:
    bridge = oauth_bridge(token_server, "client-secret")
    bridge.list_calendars()
    token_server.state["valid"].clear()
    assert [c.id for c in bridge.list_calendars()] == ["room_1"]
    assert token_server.state["api_calls"] == ["token-1", "token-2"]


def test_oauth2_refused_client_is_an_auth_error(token_server: Any) -> None:
    bridge = oauth_bridge(token_server, secret="wrong")
    with pytest.raises(AuthError) as raised:
        bridge.list_calendars()
    assert "wrong" not in str(raised.value)
    assert bridge.health().authenticated is False
