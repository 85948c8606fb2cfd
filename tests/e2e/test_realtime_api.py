"""Real time over HTTP through a running local host (timers quiet, queue triggers on):
Graph subscriptions against the emulator, changes on each side reaching the other by
push alone, the handshake as Graph performs it, and every endpoint of the usage guide."""

from __future__ import annotations

import random
import re
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from calbridge.config import Settings
from calbridge.host.azurite import Azurite
from calbridge.store import Storage
from calbridge.store.queues import NOTIFICATIONS
from examples.booking_system import BookingSystemServer, sign_delivery
from tests.fixtures.booking import BookingApi
from tests.fixtures.graph import GraphClient
from tests.fixtures.host import Api, HostProcess, host_env
from tests.fixtures.two_bridges import RESOURCE, ROOM, outlook_settings, stamp

SECRET = "e2e-realtime-secret"


def wait_until(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


@pytest.fixture(scope="module")
def host(azurite: Azurite, e2e_booking_system: BookingSystemServer, graph_emulator,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostProcess]:
    folder: Path = tmp_path_factory.mktemp("realtime-host")
    env = host_env(azurite, e2e_booking_system, CALBRIDGE_BRIDGES="booking_system,outlook",
                   CALBRIDGE_TABLE_PREFIX="r" + uuid.uuid4().hex[:10],
                   BOOKING_SYSTEM_WEBHOOK_SECRET=SECRET,
                   **outlook_settings(graph_emulator))
    process = HostProcess(env, folder / "host.log")
    env["WEBHOOK_BASE_URL"] = process.url
    process.start()
    e2e_booking_system.set_webhook(f"{process.url}/bridges/webhook/booking_system", SECRET)
    yield process
    e2e_booking_system.set_webhook(None, None)
    process.stop()


@pytest.fixture
def api(host: HostProcess, e2e_booking_system: BookingSystemServer, graph: GraphClient) -> Api:
    e2e_booking_system.reset()
    return Api(host.url)


def ensure_mapping(api: Api) -> None:
    answer = api("POST", "/mappings/resources", json={
        "booking_system_resource_id": RESOURCE, "calendar_system": "outlook",
        "calendar_resource_id": ROOM, "calendar_resource_name": "Conference Room A"})
    assert answer.status_code in (201, 409), answer.text


def outlook_subjects(graph: GraphClient) -> list[str]:
    answer = graph.get(f"/users/{ROOM}/events", params={"$top": "200"})
    return [e["subject"] for e in answer.json()["value"]]


def titled(bookings: BookingApi, title: str) -> list[dict[str, Any]]:
    return [b for b in bookings.list_all(resource_id=RESOURCE) if b["title"] == title]


def test_the_handshake_as_graph_sends_it(host: HostProcess) -> None:
    token = "Validation: Testing client application reachability <script>x</script> & é"
    for path in ("/webhook/outlook-notifications", "/bridges/webhook/outlook",
                 "/webhook/outlook-lifecycle"):
        # requests URL-encodes the token, as Graph does; the echo is the decoded token.
        answer = requests.post(host.url + path, params={"validationToken": token},
                               headers={"Content-Type": "text/plain"}, timeout=10)
        assert answer.status_code == 200
        assert answer.text == token
        assert answer.headers["Content-Type"].startswith("text/plain")
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
    too_long = requests.post(host.url + "/bridges/webhook/outlook",
                             params={"validationToken": "t" * 5000}, timeout=10)
    assert too_long.status_code == 400
    alive = requests.get(host.url + "/webhook/outlook-notifications", timeout=10)
    assert alive.status_code == 200 and alive.json()["success"] is True
    assert requests.post(host.url + "/bridges/webhook/nope", data=b"{}",
                         timeout=10).status_code == 404


def test_changes_on_each_side_reach_the_other_by_push_alone(
        api: Api, graph: GraphClient, bookings: BookingApi,
        e2e_booking_system: BookingSystemServer) -> None:
    refused = api("POST", "/webhook/create", json={"calendar_id": "room-c@rooms.example.org"})
    assert refused.status_code == 409, refused.text
    ensure_mapping(api)
    created = api("POST", "/webhook/create", json={"calendar_id": ROOM})
    assert created.status_code == 201, created.text
    subscription = created.json()["subscription"]
    assert "client_state" not in created.text and "clientState" not in created.text
    listed = api("GET", "/webhook/subscriptions").json()
    assert [s["id"] for s in listed["subscriptions"]] == [subscription["id"]]
    assert api("GET", "/bridges/subscriptions").json()["count"] == 1
    assert "client_state" not in api("GET", "/webhook/subscriptions").text
    health = api("GET", "/bridges/health").json()
    assert health["subscriptions"]["total"] == 1

    # Outlook → booking system: an edit straight in Graph, no sync call.
    event = graph.post(f"/users/{ROOM}/events", json={
        "subject": "Pushed from Outlook",
        "start": {"dateTime": stamp(0)[:-1], "timeZone": "UTC"},
        "end": {"dateTime": stamp(1)[:-1], "timeZone": "UTC"}}).json()
    assert wait_until(lambda: titled(bookings, "Pushed from Outlook"))
    graph.patch(f"/users/{ROOM}/events/{event['id']}", json={"subject": "Renamed in Outlook"})
    assert wait_until(lambda: titled(bookings, "Renamed in Outlook"))

    # Booking system → Outlook: a booking, announced by its signed webhook.
    booking = bookings.create(resource_id=RESOURCE, title="Pushed from booking",
                              start_time=stamp(3), end_time=stamp(4))
    assert wait_until(lambda: "Pushed from booking" in outlook_subjects(graph))
    bookings.request("PUT", f"/api/events/{booking['id']}",
                     json={"title": "Renamed in booking"}).raise_for_status()
    assert wait_until(lambda: "Renamed in booking" in outlook_subjects(graph))
    assert outlook_subjects(graph).count("Renamed in booking") == 1

    # A deletion in Outlook cancels the booking.
    graph.delete(f"/users/{ROOM}/events/{event['id']}")
    assert wait_until(lambda: not [b for b in titled(bookings, "Renamed in Outlook")
                                   if b["active"] in (1, True)])
    assert len(titled(bookings, "Renamed in Outlook")) == 1
    assert e2e_booking_system.notifier.stats()["failed"] == 0
    # Every Graph notification was answered 2xx within Graph's 3 seconds, first time.
    delivered = graph.admin("GET", "/state").json()["notifications"]
    assert delivered["delivered"] >= 3 and delivered["failed"] == 0

    renewed = api("POST", f"/webhook/renew/{subscription['id']}")
    assert renewed.status_code == 200, renewed.text
    assert renewed.json()["message"] == "Webhook subscription renewed"
    # Graph drops the subscription behind calbridge's back: renewing it makes it again,
    # and Outlook's changes are pushed once more.
    assert graph.delete(f"/subscriptions/{subscription['id']}").status_code == 204
    remade = api("POST", f"/webhook/renew/{subscription['id']}")
    assert remade.status_code == 200, remade.text
    assert "made again" in remade.json()["message"]
    subscription = remade.json()["subscription"]
    assert [s["id"] for s in graph.get("/subscriptions").json()["value"]] == [subscription["id"]]
    assert [s["id"] for s in api("GET", "/webhook/subscriptions").json()["subscriptions"]
            if s["calendar_id"] == ROOM] == [subscription["id"]]
    again = graph.post(f"/users/{ROOM}/events", json={
        "subject": "Pushed after the renewal",
        "start": {"dateTime": stamp(5)[:-1], "timeZone": "UTC"},
        "end": {"dateTime": stamp(6)[:-1], "timeZone": "UTC"}}).json()
    assert again["id"] and wait_until(lambda: titled(bookings, "Pushed after the renewal"))
    deleted = api("DELETE", f"/webhook/delete/{subscription['id']}")
    assert deleted.status_code == 200, deleted.text
    assert graph.get("/subscriptions").json()["value"] == []
    assert api("DELETE", f"/webhook/delete/{subscription['id']}").status_code == 404

    # The bridge-generic form; the booking system has signed webhooks, no subscriptions.
    generic = api("POST", "/bridges/outlook/subscriptions", json={"calendar_id": ROOM})
    assert generic.status_code == 201, generic.text
    assert api("POST", "/bridges/booking_system/subscriptions",
               json={"calendar_id": RESOURCE}).status_code == 409
    assert api("POST", "/bridges/outlook/subscriptions", json={}).status_code == 422
    api("DELETE", f"/webhook/delete/{generic.json()['subscription']['id']}")


def event_reads(graph: GraphClient) -> int:
    """Graph requests that read one event."""
    routes = graph.admin("GET", "/requests").json()["by_route"]
    return sum(count for route, count in routes.items()
               if re.fullmatch(r"GET /users/\{[^}]+\}/events/\{[^}]+\}", route))


def test_a_thousand_item_batch_reaches_the_booking_system_one_read_per_event(
        host: HostProcess, api: Api, graph: GraphClient, bookings: BookingApi,
        e2e_booking_system: BookingSystemServer) -> None:
    ensure_mapping(api)
    # Made before the subscription, so only the batch below announces them.
    events = [graph.post(f"/users/{ROOM}/events", json={
        "subject": f"Announced {n:02d}",
        "start": {"dateTime": stamp(12 + n)[:-1], "timeZone": "UTC"},
        "end": {"dateTime": stamp(12.5 + n)[:-1], "timeZone": "UTC"}}).json()
        for n in range(20)]
    created = api("POST", "/webhook/create", json={"calendar_id": ROOM})
    assert created.status_code == 201, created.text
    storage = Storage(Settings.from_env(host.env))
    subscription = storage.subscriptions.get("outlook", created.json()["subscription"]["id"])
    [remote] = [s for s in graph.get("/subscriptions").json()["value"]
                if s["id"] == subscription.id]
    items = [{"subscriptionId": subscription.id, "clientState": remote["clientState"],
              "changeType": "updated", "resource": f"Users/{ROOM}/Events/{event['id']}",
              "resourceData": {"id": event["id"]}} for event in events] * 50
    random.Random(3).shuffle(items)
    e2e_booking_system.set_webhook(None, None)  # only the batch's own work is counted
    graph.admin("DELETE", "/requests").raise_for_status()
    try:
        answer = requests.post(host.url + "/bridges/webhook/outlook",
                               json={"value": items}, timeout=30)
        assert answer.status_code == 202, answer.text
        assert answer.json() == {"success": True, "accepted": 1000, "ignored": 0,
                                 "duplicates": 980}
        wanted = {f"Announced {n:02d}" for n in range(20)}
        assert wait_until(lambda: wanted <= {b["title"] for b in
                                             bookings.list_all(resource_id=RESOURCE)}, 60)
        assert wait_until(lambda: storage.queue(NOTIFICATIONS).depth() == 0)
    finally:
        e2e_booking_system.set_webhook(f"{host.url}/bridges/webhook/booking_system", SECRET)
        api("DELETE", f"/webhook/delete/{subscription.id}")
    assert event_reads(graph) == 20
    for title in wanted:
        assert len(titled(bookings, title)) == 1


def signed_delivery(body: bytes, delivery: str) -> dict[str, str]:
    timestamp = str(int(time.time()))
    return {"Content-Type": "application/json", "X-Booking-Timestamp": timestamp,
            "X-Booking-Delivery": delivery,
            "X-Booking-Signature": sign_delivery(SECRET, delivery, timestamp, body)}


def test_a_replayed_booking_delivery_is_accepted_once(host: HostProcess) -> None:
    body = b'{"event_type": "created", "event": {"id": "1", "resource_id": "room_101"}}'
    delivery = signed_delivery(body, uuid.uuid4().hex)
    url = host.url + "/bridges/webhook/booking_system"
    first = requests.post(url, data=body, headers=delivery, timeout=10)
    assert first.status_code == 202, first.text
    replay = requests.post(url, data=body, headers=delivery, timeout=10)
    assert replay.status_code == 200, replay.text
    assert replay.json()["replayed"] is True and replay.json()["accepted"] == 0
    fresh = requests.post(url, data=body, headers=signed_delivery(body, uuid.uuid4().hex),
                          timeout=10)
    assert fresh.status_code == 202, fresh.text


def test_a_booking_webhook_without_the_signature_is_refused(host: HostProcess) -> None:
    body = b'{"event_type": "created", "event": {"id": "1", "resource_id": "room_101"}}'
    answer = requests.post(host.url + "/bridges/webhook/booking_system", data=body,
                           headers={"X-Booking-Timestamp": str(int(time.time())),
                                    "X-Booking-Signature": "sha256=00"}, timeout=10)
    assert answer.status_code == 401
    assert answer.json()["success"] is False


def test_every_guide_endpoint_answers(api: Api, graph: GraphClient,
                                      bookings: BookingApi) -> None:
    ensure_mapping(api)
    booking = bookings.create(resource_id=RESOURCE, title="Guide walk",
                              start_time=stamp(6), end_time=stamp(7))
    graph.post(f"/users/{ROOM}/events", json={
        "subject": "Walk-in", "start": {"dateTime": stamp(9)[:-1], "timeZone": "UTC"},
        "end": {"dateTime": stamp(10)[:-1], "timeZone": "UTC"}})

    def call(method: str, path: str) -> dict[str, Any]:
        answer = api(method, path)
        assert answer.status_code == 200, f"{method} {path}: {answer.text}"
        body = answer.json()
        assert body["success"] is True
        return body

    assert call("POST", "/polling/initialize")["results"]["calendars"] >= 2
    call("POST", "/sync/populate-mapping")
    call("GET", "/sync/outlook-events")
    call("GET", "/sync/pending-items")
    call("POST", "/sync/to-outlook")
    call("POST", "/sync/from-outlook")
    call("GET", "/booking/pending-imports")
    assert "reservation_ids" in call("POST", "/booking/process-imports")["results"]
    call("GET", "/booking/processed-imports")
    call("GET", "/booking/processing-stats")
    stats = call("GET", "/sync/stats")["statistics"]
    assert isinstance(stats["summary"]["pending"], int)
    assert isinstance(stats["summary"]["error"], int)
    call("POST", f"/sync/item/booking/{booking['id']}/{RESOURCE}")
    bookings.request("DELETE", f"/api/events/{booking['id']}").raise_for_status()
    cancelled = call("POST", f"/cancel/booking/booking/{booking['id']}/{RESOURCE}")
    assert cancelled["results"]["deleted"] in (0, 1)
    call("GET", "/cancel/stats")
    assert call("GET", "/cancel/cancelled-reservations")["count"] >= 0
    call("POST", "/bridges/poll-changes")
    polled = call("GET", "/polling/stats")["statistics"]
    assert {row["bridge"] for row in polled["calendars"]} == {"outlook", "booking_system"}
    automation = call("GET", "/bridge/automation-stats")["statistics"]
    assert "notifications" in automation["queues"]
    for path in ("/bridges/sync-deletions-stats", "/bridges/sync-deletionsion-stats"):
        assert "cancelled" in call("GET", path)["statistics"]
    call("DELETE", "/sync/cleanup-orphaned")
    assert api("POST", "/sync/item/booking/1/no_such_room").status_code == 404


def test_two_quick_edits_of_one_booking_end_at_the_second_everywhere(
        api: Api, graph: GraphClient, bookings: BookingApi) -> None:
    """A booking system that saves a form in two requests (title, then more) sends two
    webhooks a moment apart; both are applied at once, by two workers. Events made in
    Outlook (the origin wins a conflict) must still end with the booking's last edit:
    calbridge's own write of the first edit is no edit of Outlook's."""
    ensure_mapping(api)
    assert api("POST", "/webhook/create", json={"calendar_id": ROOM}).status_code in (201, 409)
    # The second edit lands while the first one's write is under way, whenever that is.
    gaps = [0.05, 0.15, 0.25, 0.35, 0.5, 0.7]
    made = [graph.post(f"/users/{ROOM}/events", json={
        "subject": f"Made in Outlook {n}",
        "start": {"dateTime": stamp(10 + 2 * n)[:-1], "timeZone": "UTC"},
        "end": {"dateTime": stamp(11 + 2 * n)[:-1], "timeZone": "UTC"}}).json()
        for n in range(len(gaps))]
    copies = [wait_until(lambda n=n: titled(bookings, f"Made in Outlook {n}"))
              for n in range(len(gaps))]
    assert all(copies)
    for n, (found, gap) in enumerate(zip(copies, gaps, strict=True)):
        booking_id = found[0]["id"]
        for step in ("first", "second"):
            bookings.request("PUT", f"/api/events/{booking_id}",
                             json={"title": f"Edit {n} {step}"}).raise_for_status()
            time.sleep(gap)

    def settled() -> bool:
        subjects = {e["id"]: e["subject"] for e in
                    graph.get(f"/users/{ROOM}/events", params={"$top": "200"}).json()["value"]}
        return all(subjects.get(event["id"]) == f"Edit {n} second"
                   for n, event in enumerate(made))
    wait_until(settled, timeout=30)
    subjects = {e["id"]: e["subject"] for e in
                graph.get(f"/users/{ROOM}/events", params={"$top": "200"}).json()["value"]}
    assert [subjects.get(event["id"]) for event in made] == [
        f"Edit {n} second" for n in range(len(gaps))]
    assert all(titled(bookings, f"Edit {n} second") for n in range(len(gaps)))
