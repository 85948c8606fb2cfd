"""The example booking system honours the REST contract calbridge relies on."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import requests

from examples.booking_system import BookingSystemServer, verify_signature
from examples.booking_system.timestamps import now_stamp
from tests.fixtures.booking import BOOKING_API_KEY, BookingApi

REPO_ROOT = Path(__file__).resolve().parents[2]
WEBHOOK_SECRET = "test-webhook-secret"


def wait_for(condition: Callable[[], Any], timeout: float = 5.0) -> Any:
    """Poll ``condition`` until it is truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def error_of(response: requests.Response) -> dict[str, Any]:
    assert response.headers["Content-Type"].startswith("application/json")
    return response.json()["error"]


# --- authentication -------------------------------------------------------------------


def test_api_routes_need_the_key(booking: BookingSystemServer) -> None:
    url = booking.base_url + "/api/resources"
    missing = requests.get(url, timeout=5)
    wrong = requests.get(url, headers={"X-API-Key": "nope"}, timeout=5)
    right = requests.get(url, headers={"X-API-Key": BOOKING_API_KEY}, timeout=5)

    assert missing.status_code == 401 and error_of(missing)["code"] == "unauthorized"
    assert wrong.status_code == 401
    assert right.status_code == 200
    assert requests.post(booking.base_url + "/api/events", json={}, timeout=5).status_code == 401
    assert requests.get(booking.base_url + "/healthz", timeout=5).json() == {"status": "ok"}


def test_unknown_routes_and_methods_answer_json(booking_api: BookingApi) -> None:
    unknown = booking_api.request("GET", "/api/nothing")
    wrong_method = booking_api.request("PATCH", "/api/events")

    assert unknown.status_code == 404 and error_of(unknown)["code"] == "not_found"
    assert wrong_method.status_code == 405
    assert set(wrong_method.headers["Allow"].split(", ")) == {"GET", "POST"}


# --- resources ------------------------------------------------------------------------


def test_resources_are_seeded_and_can_be_added(booking_api: BookingApi) -> None:
    seeded = booking_api.request("GET", "/api/resources").json()["resources"]
    added = booking_api.request(
        "POST", "/api/resources", json={"id": "pool_1", "name": "Swimming pool"}
    )
    again = booking_api.request("POST", "/api/resources", json={"id": "pool_1", "name": "Pool"})
    nameless = booking_api.request("POST", "/api/resources", json={"id": "x"})

    assert {r["id"] for r in seeded} == {"room_101", "room_102", "gym_1"}
    assert {"id", "name", "location"} <= set(seeded[0])
    assert added.status_code == 201 and added.json()["resource"]["name"] == "Swimming pool"
    assert booking_api.request("GET", "/api/resources/pool_1").json()["id"] == "pool_1"
    assert again.status_code == 409
    assert nameless.status_code == 422 and error_of(nameless)["field"] == "name"


# --- create, get, idempotency ---------------------------------------------------------


def test_create_returns_the_stored_event(booking_api: BookingApi) -> None:
    response = booking_api.request("POST", "/api/events", json={
        "external_id": "outlook-event-123",
        "source_system": "outlook",
        "resource_id": "room_102",
        "title": "Team Meeting",
        "description": "Weekly team sync",
        "start_time": "2024-12-15T11:00:00+01:00",
        "end_time": "2024-12-15T11:00:00Z",
        "location": "Conference Room A",
        "organizer": {"name": "John Doe", "email": "john@company.com"},
        "timezone": "Europe/Oslo",
    })

    assert response.status_code == 201
    body = response.json()
    event = body["event"]
    assert isinstance(body["id"], str) and body["id"] == event["id"]
    assert event["start_time"] == "2024-12-15T10:00:00Z"
    assert event["end_time"] == "2024-12-15T11:00:00Z"
    assert event["timezone"] == "Europe/Oslo"
    assert event["organizer"] == {"name": "John Doe", "email": "john@company.com"}
    assert event["active"] is True and event["all_day"] is False and event["version"] == 1
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", event["updated_at"])
    assert response.headers["ETag"] == '"1"'
    fetched = booking_api.request("GET", f"/api/events/{event['id']}")
    assert fetched.status_code == 200 and fetched.json() == event


def test_repeated_create_with_the_same_origin_returns_the_existing_event(
    booking_api: BookingApi,
) -> None:
    body = {
        "external_id": "ext-1", "source_system": "calbridge", "resource_id": "room_101",
        "title": "Once", "start_time": "2024-12-15T10:00:00Z", "end_time": "2024-12-15T11:00:00Z",
    }
    first = booking_api.request("POST", "/api/events", json=body)
    second = booking_api.request("POST", "/api/events", json={**body, "title": "Twice"})
    other_origin = booking_api.request("POST", "/api/events", json={**body, "source_system": "g"})
    other_room = booking_api.request("POST", "/api/events",
                                     json={**body, "resource_id": "room_102"})

    assert first.status_code == 201
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    assert second.json()["event"]["title"] == "Once"
    assert other_origin.status_code == 201 and other_origin.json()["id"] != first.json()["id"]
    assert other_room.status_code == 201 and other_room.json()["id"] != first.json()["id"]
    assert len(booking_api.list_all(external_id="ext-1")) == 3


def test_all_day_events_keep_their_dates(booking_api: BookingApi) -> None:
    event = booking_api.create(
        all_day=True, start_time="2024-12-24", end_time="2024-12-26", timezone="Europe/Oslo"
    )
    not_midnight = booking_api.request("POST", "/api/events", json={
        "resource_id": "gym_1", "title": "x", "all_day": True,
        "start_time": "2024-12-24T10:00:00Z", "end_time": "2024-12-25",
    })

    assert (event["start_time"], event["end_time"], event["all_day"]) == (
        "2024-12-24", "2024-12-26", True
    )
    assert not_midnight.status_code == 422 and error_of(not_midnight)["field"] == "start_time"


def test_unknown_event_is_404(booking_api: BookingApi) -> None:
    for path in ("/api/events/999999", "/api/events/not-an-id"):
        response = booking_api.request("GET", path)
        assert response.status_code == 404 and error_of(response)["code"] == "not_found"
    assert booking_api.request("PUT", "/api/events/999999", json={"title": "x"}).status_code == 404
    assert booking_api.request("DELETE", "/api/events/999999").status_code == 404


# --- validation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"title": None}, "title"),
        ({"title": "   "}, "title"),
        ({"title": 5}, "title"),
        ({"resource_id": "no_such_room"}, "resource_id"),
        ({"start_time": "2024-12-15T10:00:00"}, "start_time"),
        ({"start_time": "tomorrow"}, "start_time"),
        ({"end_time": "2024-12-15T09:00:00Z"}, "end_time"),
        ({"end_time": "2024-12-15T10:00:00Z"}, "end_time"),
        ({"all_day": "yes"}, "all_day"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"organizer": {"email": 7}}, "organizer.email"),
        ({"organizer": "John"}, "organizer"),
        ({"external_id": ["a"]}, "external_id"),
    ],
)
def test_invalid_fields_are_422_naming_the_field(
    booking_api: BookingApi, change: dict[str, Any], field: str
) -> None:
    body = {
        "resource_id": "room_101", "title": "t",
        "start_time": "2024-12-15T10:00:00Z", "end_time": "2024-12-15T11:00:00Z", **change,
    }
    response = booking_api.request("POST", "/api/events", json=body)

    assert response.status_code == 422, response.text
    error = error_of(response)
    assert error["field"] == field and field in error["message"]


def test_missing_required_field_is_422(booking_api: BookingApi) -> None:
    response = booking_api.request("POST", "/api/events", json={"resource_id": "room_101"})

    assert response.status_code == 422
    assert error_of(response)["code"] == "missing_field"


def test_malformed_and_oversized_bodies(booking_api: BookingApi) -> None:
    headers = {"Content-Type": "application/json"}
    not_json = booking_api.request("POST", "/api/events", data=b"{nope", headers=headers)
    not_object = booking_api.request("POST", "/api/events", data=b"[1, 2]", headers=headers)
    too_big = booking_api.request(
        "POST", "/api/events", json={"resource_id": "room_101", "title": "x" * (1024 * 1024)}
    )

    assert not_json.status_code == 400 and error_of(not_json)["code"] == "malformed_json"
    assert not_object.status_code == 400
    assert too_big.status_code == 413 and error_of(too_big)["code"] == "payload_too_large"
    assert booking_api.request("GET", "/api/resources").status_code == 200


# --- update, If-Match, cancel, re-enable, purge ---------------------------------------


def test_update_is_partial_and_bumps_version(booking_api: BookingApi) -> None:
    event = booking_api.create(description="first")
    response = booking_api.request("PUT", f"/api/events/{event['id']}", json={"title": "Renamed"})

    updated = response.json()["event"]
    assert response.status_code == 200 and response.json()["id"] == event["id"]
    assert updated["title"] == "Renamed" and updated["description"] == "first"
    assert updated["version"] == 2 and updated["updated_at"] >= event["updated_at"]
    assert updated["created_at"] == event["created_at"]
    moved = booking_api.request("PUT", f"/api/events/{event['id']}", json={
        "start_time": "2024-12-16T08:00:00-05:00", "end_time": "2024-12-16T09:30:00-05:00",
    }).json()["event"]
    assert (moved["start_time"], moved["end_time"]) == ("2024-12-16T13:00:00Z",
                                                        "2024-12-16T14:30:00Z")
    backwards = booking_api.request(
        "PUT", f"/api/events/{event['id']}", json={"end_time": "2024-12-16T12:00:00Z"}
    )
    assert backwards.status_code == 422 and error_of(backwards)["field"] == "end_time"
    bad_room = booking_api.request(
        "PUT", f"/api/events/{event['id']}", json={"resource_id": "nowhere"}
    )
    assert bad_room.status_code == 422


def test_if_match_rejects_stale_versions(booking_api: BookingApi) -> None:
    event = booking_api.create()
    path = f"/api/events/{event['id']}"
    fresh = booking_api.request("PUT", path, json={"title": "v2"}, headers={"If-Match": "1"})
    stale = booking_api.request("PUT", path, json={"title": "v3"}, headers={"If-Match": "1"})
    quoted = booking_api.request("PUT", path, json={"title": "v3"}, headers={"If-Match": '"2"'})
    stale_delete = booking_api.request("DELETE", path, headers={"If-Match": "2"})

    assert fresh.status_code == 200
    assert stale.status_code == 412 and error_of(stale)["code"] == "precondition_failed"
    assert quoted.status_code == 200 and quoted.json()["event"]["version"] == 3
    assert stale_delete.status_code == 412
    assert booking_api.request("GET", path).json()["title"] == "v3"


def test_cancel_keeps_the_row_and_re_enable_restores_it(booking_api: BookingApi) -> None:
    event = booking_api.create()
    path = f"/api/events/{event['id']}"
    cancelled = booking_api.request("DELETE", path)
    again = booking_api.request("DELETE", path)
    listed = booking_api.list_all(since=event["updated_at"])

    assert cancelled.status_code == 200
    assert cancelled.json()["id"] == event["id"] and cancelled.json()["active"] is False
    assert again.status_code == 200 and again.json()["active"] is False
    assert again.json()["event"]["version"] == cancelled.json()["event"]["version"] == 2
    assert [(e["id"], e["active"]) for e in listed] == [(event["id"], False)]
    enabled = booking_api.request("PUT", path, json={"active": True}).json()["event"]
    assert enabled["active"] is True and enabled["version"] == 3


def test_purge_removes_the_row(booking_api: BookingApi) -> None:
    kept, purged = booking_api.create(title="kept"), booking_api.create(title="purged")
    response = booking_api.request("DELETE", f"/api/events/{purged['id']}?purge=true")

    assert response.status_code == 200 and response.json()["purged"] is True
    assert booking_api.request("GET", f"/api/events/{purged['id']}").status_code == 404
    purge_again = booking_api.request("DELETE", f"/api/events/{purged['id']}?purge=true")
    assert purge_again.status_code == 404
    assert [e["id"] for e in booking_api.list_all()] == [kept["id"]]


# --- listing: since, paging, filters --------------------------------------------------


def test_paging_returns_every_event_once_even_with_equal_timestamps(
    booking: BookingSystemServer, booking_api: BookingApi
) -> None:
    frozen = now_stamp()
    booking.app.bookings.store.clock = lambda: frozen
    created = [booking_api.create(title=f"b{n}")["id"] for n in range(23)]

    pages = []
    params: dict[str, Any] = {"limit": 5}
    while True:
        page = booking_api.request("GET", "/api/events", params=params).json()
        pages.append(page["events"])
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]

    seen = [event["id"] for page in pages for event in page]
    assert [len(page) for page in pages] == [5, 5, 5, 5, 3]
    assert seen == created
    assert {event["updated_at"] for page in pages for event in page} == {frozen}


def test_since_the_largest_seen_timestamp_misses_nothing(
    booking: BookingSystemServer, booking_api: BookingApi
) -> None:
    frozen = now_stamp()
    booking.app.bookings.store.clock = lambda: frozen
    first = [booking_api.create(title=f"a{n}")["id"] for n in range(3)]
    seen = booking_api.list_all(since="2000-01-01T00:00:00Z")
    high_water = max(event["updated_at"] for event in seen)
    # More changes land in the very same millisecond after the client looked.
    later = [booking_api.create(title=f"b{n}")["id"] for n in range(2)]
    booking.app.bookings.store.clock = now_stamp
    booking_api.request("PUT", f"/api/events/{first[0]}", json={"title": "changed"})

    again = booking_api.list_all(since=high_water)

    assert [e["id"] for e in seen] == first
    assert {e["id"] for e in again} == set(first) | set(later)
    assert again[-1]["id"] == first[0] and again[-1]["title"] == "changed"
    assert all(a["updated_at"] <= b["updated_at"] for a, b in pairwise(again))
    future = booking_api.list_all(since="2999-01-01T00:00:00.000Z")
    assert future == []


def test_listing_filters(booking_api: BookingApi) -> None:
    a = booking_api.create(external_id="x1", source_system="outlook", resource_id="room_101")
    b = booking_api.create(external_id="x2", source_system="google", resource_id="gym_1",
                           start_time="2024-12-20T10:00:00Z", end_time="2024-12-20T12:00:00Z")
    c = booking_api.create(resource_id="gym_1")
    booking_api.request("DELETE", f"/api/events/{c['id']}")

    def ids(**query: Any) -> list[str]:
        return [event["id"] for event in booking_api.list_all(**query)]

    assert ids(resource_id="gym_1") == [b["id"], c["id"]]
    assert ids(external_id="x1") == [a["id"]]
    assert ids(source_system="google") == [b["id"]]
    assert ids(active="false") == [c["id"]]
    assert ids(active="true") == [a["id"], b["id"]]
    assert ids(ends_after="2024-12-19T00:00:00Z") == [b["id"]]
    assert ids(starts_before="2024-12-19T00:00:00Z", active="true") == [a["id"]]
    events = booking_api.list_all()
    assert set(events[0]) == {
        "id", "external_id", "source_system", "resource_id", "title", "description",
        "start_time", "end_time", "all_day", "timezone", "location", "organizer", "active",
        "version", "created_at", "updated_at",
    }


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "501"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2024-12-15T10:00:00"}, "since"),
        ({"cursor": "garbage!"}, "cursor"),
        ({"active": "maybe"}, "active"),
    ],
)
def test_bad_listing_parameters_are_422(
    booking_api: BookingApi, query: dict[str, str], field: str
) -> None:
    response = booking_api.request("GET", "/api/events", params=query)

    assert response.status_code == 422 and error_of(response)["field"] == field


def test_default_and_maximum_page_sizes(booking: BookingSystemServer,
                                        booking_api: BookingApi) -> None:
    store = booking.app.bookings.store
    for n in range(120):
        store.insert_event({
            "resource_id": "room_101", "title": f"bulk {n}", "start_time": "2024-12-15",
            "end_time": "2024-12-16", "start_utc": "2024-12-15T00:00:00.000Z",
            "end_utc": "2024-12-16T00:00:00.000Z", "all_day": True, "active": True,
        })
    default_page = booking_api.request("GET", "/api/events").json()
    big_page = booking_api.request("GET", "/api/events", params={"limit": 500}).json()

    assert len(default_page["events"]) == 100 and default_page["next_cursor"]
    assert len(big_page["events"]) == 120 and big_page["next_cursor"] is None


# --- faults and request counts --------------------------------------------------------


def test_injected_faults_then_recovery(booking: BookingSystemServer,
                                       booking_api: BookingApi) -> None:
    admin = booking.base_url + "/_admin/faults"
    armed = requests.post(admin, json={
        "status": 503, "retry_after": 2, "times": 2, "path_regex": "^/api/events",
    }, timeout=5)
    first = booking_api.request("GET", "/api/events")
    resources = booking_api.request("GET", "/api/resources")
    second = booking_api.request("POST", "/api/events", json={})
    third = booking_api.request("GET", "/api/events")

    assert armed.status_code == 201
    assert first.status_code == 503 and first.headers["Retry-After"] == "2"
    assert resources.status_code == 200
    assert second.status_code == 503
    assert third.status_code == 200
    requests.post(admin, json={"status": 429, "retry_after": 1, "times": 5}, timeout=5)
    throttled = booking_api.request("GET", "/api/resources")
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "1"
    assert requests.delete(admin, timeout=5).json() == {"faults": []}
    assert booking_api.request("GET", "/api/resources").status_code == 200
    bad = requests.post(admin, json={"status": 200}, timeout=5)
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "status"


def test_requests_are_counted_by_route_template(booking: BookingSystemServer,
                                                booking_api: BookingApi) -> None:
    event = booking_api.create()
    booking_api.request("GET", f"/api/events/{event['id']}")
    booking_api.request("GET", "/api/events/999999")
    booking_api.request("PUT", f"/api/events/{event['id']}", json={"title": "x"})

    counts = requests.get(booking.base_url + "/_admin/requests", timeout=5).json()

    assert counts["requests"] == {
        "POST /api/events": 1, "GET /api/events/{id}": 2, "PUT /api/events/{id}": 1,
    }
    assert counts["total"] == 4


# --- webhooks -------------------------------------------------------------------------


class WebhookReceiver:
    """A loopback endpoint recording deliveries; the first ``fail_first`` answer 500."""

    def __init__(self, fail_first: int = 0):
        self.fail_first = fail_first
        self.deliveries: list[dict[str, Any]] = []
        self.attempts = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.attempts += 1
                status = 500 if receiver.attempts <= receiver.fail_first else 204
                if status == 204:
                    receiver.deliveries.append({
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": body,
                    })
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/booking"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    hook = WebhookReceiver()
    yield hook
    hook.close()


def _webhook_stats(booking: BookingSystemServer) -> dict[str, Any]:
    return requests.get(booking.base_url + "/_admin/webhooks", timeout=5).json()


def test_every_change_is_posted_with_a_valid_signature(
    booking: BookingSystemServer, booking_api: BookingApi, receiver: WebhookReceiver
) -> None:
    configured = requests.put(booking.base_url + "/_admin/webhook",
                              json={"url": receiver.url, "secret": WEBHOOK_SECRET}, timeout=5)
    event = booking_api.create()
    path = f"/api/events/{event['id']}"
    booking_api.request("PUT", path, json={"title": "Renamed"})
    booking_api.request("DELETE", path)
    booking_api.request("PUT", path, json={"active": True})
    booking_api.request("DELETE", path + "?purge=true")

    wait_for(lambda: len(receiver.deliveries) == 5)
    assert configured.status_code == 200
    bodies = []
    for delivery in receiver.deliveries:
        headers, raw = delivery["headers"], delivery["body"]
        timestamp, delivery_id = headers["x-booking-timestamp"], headers["x-booking-delivery"]
        signature = headers["x-booking-signature"]
        expected = "v2=" + hmac.new(
            WEBHOOK_SECRET.encode(), f"{delivery_id}.{timestamp}.{raw.decode()}".encode(),
            hashlib.sha256,
        ).hexdigest()
        assert hmac.compare_digest(signature, expected)
        assert verify_signature(WEBHOOK_SECRET, timestamp, raw, signature,
                                delivery_id=delivery_id)
        assert not verify_signature("other", timestamp, raw, signature,
                                    delivery_id=delivery_id)
        assert not verify_signature(WEBHOOK_SECRET, timestamp, raw, signature,
                                    delivery_id=delivery_id + "x")
        assert not verify_signature(WEBHOOK_SECRET, timestamp, raw, signature,
                                    delivery_id=delivery_id, now=time.time() + 301)
        assert abs(time.time() - int(timestamp)) < 300
        bodies.append(json.loads(raw))
    assert [b["event_type"] for b in bodies] == [
        "created", "updated", "cancelled", "reactivated", "purged",
    ]
    assert all(b["event"]["id"] == event["id"] for b in bodies)
    assert bodies[1]["event"]["title"] == "Renamed" and bodies[2]["event"]["active"] is False
    assert all(re.fullmatch(r".+T.+\.\d{3}Z", b["occurred_at"]) for b in bodies)
    stats = wait_for(lambda: (s := _webhook_stats(booking))["succeeded"] == 5 and s)
    assert stats["failed"] == 0 and stats["attempted"] == 5


def test_a_failed_delivery_is_retried(
    booking: BookingSystemServer, booking_api: BookingApi
) -> None:
    receiver = WebhookReceiver(fail_first=1)
    try:
        booking.set_webhook(receiver.url, WEBHOOK_SECRET)
        booking_api.create()
        wait_for(lambda: receiver.deliveries)
        stats = wait_for(lambda: (s := _webhook_stats(booking))["succeeded"] == 1 and s)
    finally:
        receiver.close()

    assert receiver.attempts == 2
    assert stats["attempted"] == 2 and stats["retried"] == 1 and stats["failed"] == 0
    assert stats["recent"][-1]["attempts"] == 2


def test_undeliverable_webhooks_are_counted_and_never_block_writes(
    booking: BookingSystemServer, booking_api: BookingApi
) -> None:
    receiver = WebhookReceiver(fail_first=100)
    try:
        booking.set_webhook(receiver.url, WEBHOOK_SECRET)
        started = time.monotonic()
        booking_api.create()
        write_took = time.monotonic() - started
        stats = wait_for(lambda: (s := _webhook_stats(booking))["failed"] == 1 and s)
    finally:
        receiver.close()

    assert write_took < 0.5
    assert receiver.attempts == 3 and stats["attempted"] == 3 and stats["succeeded"] == 0
    assert stats["recent"][-1]["error"] == "HTTP 500"
    assert booking_api.request("GET", "/api/resources").status_code == 200


# --- the page for people --------------------------------------------------------------


def test_page_escapes_titles(booking: BookingSystemServer, booking_api: BookingApi) -> None:
    booking_api.create(title="<script>alert('x')</script>", source_system="<b>src</b>",
                       external_id="e&1")

    page = requests.get(booking.base_url + "/", timeout=5)

    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "<script>" not in page.text and "<b>src" not in page.text
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page.text
    assert "e&amp;1" in page.text
    assert "Meeting room 101" in page.text and "Council chamber" in page.text


def test_page_forms_book_rename_cancel_and_re_enable(
    booking: BookingSystemServer, booking_api: BookingApi
) -> None:
    page = requests.get(booking.base_url + "/", timeout=5).text
    token = re.search(r'name="token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]

    def post(path: str, **fields: str) -> requests.Response:
        return requests.post(booking.base_url + path, data={"token": token, **fields},
                             allow_redirects=False, timeout=5)

    booked = post("/ui/events", resource_id="room_102", title="Choir practice",
                  start="2024-12-15T18:00", end="2024-12-15T20:00", timezone="Europe/Oslo")
    event = booking_api.list_all()[0]
    renamed = post(f"/ui/events/{event['id']}/title", title="Choir rehearsal")
    cancelled = post(f"/ui/events/{event['id']}/cancel")
    after_cancel = booking_api.request("GET", f"/api/events/{event['id']}").json()
    enabled = post(f"/ui/events/{event['id']}/reactivate")
    forged = requests.post(booking.base_url + f"/ui/events/{event['id']}/cancel",
                           data={"token": "forged"}, allow_redirects=False, timeout=5)
    invalid = post("/ui/events", resource_id="room_102", title="Backwards",
                   start="2024-12-15T18:00", end="2024-12-15T17:00", timezone="UTC")

    assert booked.status_code == 303 and booked.headers["Location"] == "/"
    assert (event["start_time"], event["end_time"]) == ("2024-12-15T17:00:00Z",
                                                        "2024-12-15T19:00:00Z")
    assert event["timezone"] == "Europe/Oslo" and event["resource_id"] == "room_102"
    assert renamed.status_code == cancelled.status_code == enabled.status_code == 303
    assert after_cancel["active"] is False and after_cancel["title"] == "Choir rehearsal"
    final = booking_api.request("GET", f"/api/events/{event['id']}").json()
    assert final["active"] is True and final["version"] == 4
    assert forged.status_code == 403
    assert invalid.status_code == 422 and "end_time" in invalid.text


# --- the command line -----------------------------------------------------------------


def _start_cli(db: Path) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "examples.booking_system", "--host", "127.0.0.1", "--port", "0",
         "--db", str(db), "--api-key", "cli-key"],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        _stop_cli(process, signal.SIGTERM)
        raise AssertionError("the booking system did not start")
    return process, json.loads(line)["base_url"]


def _stop_cli(process: subprocess.Popen[str], signum: int) -> None:
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=10)
    assert process.returncode == 0, stderr


def test_command_line_serves_a_file_database_and_stops_on_sigterm(tmp_path: Path) -> None:
    db = tmp_path / "nested" / "booking.db"
    process, base_url = _start_cli(db)
    try:
        headers = {"X-API-Key": "cli-key"}
        created = requests.post(base_url + "/api/events", headers=headers, json={
            "resource_id": "gym_1", "title": "Persisted",
            "start_time": "2024-12-15T10:00:00Z", "end_time": "2024-12-15T11:00:00Z",
        }, timeout=5).json()
    finally:
        _stop_cli(process, signal.SIGTERM)
    process, base_url = _start_cli(db)
    try:
        again = requests.get(base_url + f"/api/events/{created['id']}", headers=headers, timeout=5)
        resources = requests.get(base_url + "/api/resources", headers=headers, timeout=5)
    finally:
        _stop_cli(process, signal.SIGINT)

    assert base_url.startswith("http://127.0.0.1:")
    assert again.json()["title"] == "Persisted"
    assert len(resources.json()["resources"]) == 3


def test_server_refuses_non_loopback_hosts() -> None:
    with pytest.raises(ValueError, match="loopback"):
        BookingSystemServer(host="192.0.2.10", api_key="k")
    with pytest.raises(ValueError, match="api_key"):
        BookingSystemServer(api_key="")
