"""Real time in-process: webhook intake (handshake, clientState, forged and documented
payloads), lifecycle notifications, subscription renewal with a controlled clock, and
polling through delta links — against Azurite, the Graph emulator and the example
booking system."""

from __future__ import annotations

import io
import json
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.functions as func
import pytest
from azure.data.tables import UpdateMode
from azure.functions.timer import TimerRequest
from azure.storage.queue import QueueClient, QueueServiceClient

from calbridge import bootstrap, push_secrets
from calbridge.bootstrap import Container
from calbridge.cli.backup import write_backup
from calbridge.config import Settings
from calbridge.functions import webhooks as webhook_functions
from calbridge.host.app import QueueFunction, QueueOptions
from calbridge.host.azurite import Azurite
from calbridge.host.processes import free_port
from calbridge.host.triggers import QueueRunner
from calbridge.model import End, ResourceMapping, Subscription, SyncStatus, utcnow
from calbridge.services import health, polling, subscriptions, webhooks
from calbridge.store import Storage, schema
from calbridge.store.clients import development_connection_string, table_service
from calbridge.store.entities import key_hash
from calbridge.store.queues import NOTIFICATIONS, poison_queue_name
from examples.booking_system import BookingSystemServer, sign, sign_delivery
from tests.fixtures.booking import BOOKING_API_KEY, BookingApi
from tests.fixtures.graph import GraphClient, WebhookReceiver
from tests.fixtures.storage import storage_env

ROOM = "room-a@rooms.example.org"
RESOURCE = "room_101"
SECRET = "realtime-webhook-secret"
DAY = (datetime.now(UTC) + timedelta(days=2)).replace(hour=9, minute=0, second=0,
                                                      microsecond=0)


def stamp(hours: float) -> str:
    return (DAY + timedelta(hours=hours)).isoformat().replace("+00:00", "Z")


@dataclass
class World:
    container: Container
    graph: GraphClient
    booking: BookingSystemServer
    bookings: BookingApi
    mapping: ResourceMapping

    @property
    def storage(self) -> Storage:
        return self.container.storage

    @property
    def notifications(self) -> QueueClient:
        return self.storage.queue(NOTIFICATIONS).client

    def queued(self) -> list[dict[str, Any]]:
        """The notices waiting on the queue (left there), however they are packed."""
        return [notice.model_dump(mode="json")
                for message in self.notifications.peek_messages(max_messages=32)
                for notice in webhooks.read_message(message.content)]

    def take(self) -> list[Any]:
        """Every message waiting on the queue, taken off it (hidden for a few minutes)."""
        taken: list[Any] = []
        while batch := list(self.notifications.receive_messages(
                messages_per_page=32, max_messages=32, visibility_timeout=300)):
            taken += batch
        return taken

    def trigger(self, messages: list[Any]) -> list[Any]:
        """Run the queue trigger's work on `messages`, and delete them, as the host would."""
        outcomes = []
        for message in messages:
            outcomes += webhooks.process_message(self.container, message.content)
            self.notifications.delete_message(message)
        return outcomes

    def drain(self) -> list[Any]:
        """Run the queue trigger's work for every queued message."""
        return self.trigger(self.take())

    def outlook_event(self, subject: str, hours: float = 0) -> dict[str, Any]:
        answer = self.graph.post(f"/users/{ROOM}/events", json={
            "subject": subject,
            "start": {"dateTime": stamp(hours)[:-1], "timeZone": "UTC"},
            "end": {"dateTime": stamp(hours + 1)[:-1], "timeZone": "UTC"}},
            headers={"Prefer": 'IdType="ImmutableId"'})
        assert answer.status_code == 201, answer.text
        return answer.json()

    def outlook_events(self, subjects: list[str]) -> list[dict[str, Any]]:
        """Half-hour events one after another, made through Graph's `$batch` (20 a call)."""
        made: list[dict[str, Any]] = []
        for first in range(0, len(subjects), 20):
            calls = [{"id": str(n), "method": "POST", "url": f"/users/{ROOM}/events",
                      "headers": {"Content-Type": "application/json",
                                  "Prefer": 'IdType="ImmutableId"'},
                      "body": {"subject": subject,
                               "start": {"dateTime": stamp(n / 2)[:-1], "timeZone": "UTC"},
                               "end": {"dateTime": stamp(n / 2 + 0.5)[:-1],
                                       "timeZone": "UTC"}}}
                     for n, subject in enumerate(subjects[first:first + 20], first)]
            answer = self.graph.post("/$batch", json={"requests": calls})
            assert answer.status_code == 200, answer.text
            for reply in sorted(answer.json()["responses"], key=lambda r: int(r["id"])):
                assert reply["status"] == 201, reply
                made.append(reply["body"])
        return made

    def bookings_titled(self, title: str) -> list[dict[str, Any]]:
        return [b for b in self.bookings.list_all(resource_id=RESOURCE)
                if b["title"] == title]


def make_world(azurite: Azurite, booking: BookingSystemServer, graph: GraphClient,
               **extra: str) -> World:
    emulator = graph.emulator
    env = storage_env(
        azurite, CALBRIDGE_BRIDGES="booking_system,outlook",
        BOOKING_SYSTEM_BASE_URL=booking.base_url, BOOKING_SYSTEM_API_KEY=BOOKING_API_KEY,
        OUTLOOK_TENANT_ID=emulator.tenant_id, OUTLOOK_CLIENT_ID=emulator.client_id,
        OUTLOOK_CLIENT_SECRET=emulator.client_secret,
        OUTLOOK_AUTHORITY_HOST=emulator.authority_host, GRAPH_BASE_URL=emulator.graph_url,
        OUTLOOK_CA_BUNDLE=emulator.ca_path, **{"BOOKING_SYSTEM_WEBHOOK_SECRET": SECRET, **extra})
    container = bootstrap.build(Settings.from_env(env))
    container.storage.ensure()
    mapping = container.storage.mappings.add(ResourceMapping(
        booking_system_resource_id=RESOURCE, calendar_system="outlook",
        calendar_resource_id=ROOM))
    return World(container, graph, booking, BookingApi(booking.base_url), mapping)


def used_world(azurite: Azurite, booking: BookingSystemServer, graph: GraphClient,
               webhook_receiver: WebhookReceiver, **extra: str) -> Iterator[World]:
    built = make_world(azurite, booking, graph, WEBHOOK_BASE_URL=webhook_receiver.url, **extra)
    built.notifications.clear_messages()  # the queue is shared by every test
    bootstrap.use(built.container)
    try:
        yield built
    finally:
        bootstrap.use(None)
        built.bookings.close()


@pytest.fixture
def world(azurite: Azurite, booking: BookingSystemServer, graph: GraphClient,
          webhook_receiver: WebhookReceiver) -> Iterator[World]:
    """Every accepted notice waits on the queue, for the test to look at and drain."""
    yield from used_world(azurite, booking, graph, webhook_receiver,
                          CALBRIDGE_WEBHOOK_APPLY_NOW="0")


@pytest.fixture
def eager_world(azurite: Azurite, booking: BookingSystemServer, graph: GraphClient,
                webhook_receiver: WebhookReceiver) -> Iterator[World]:
    """Notices applied at once, as deployed (`CALBRIDGE_WEBHOOK_APPLY_NOW`'s default)."""
    yield from used_world(azurite, booking, graph, webhook_receiver)


def eventually(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return found


def stored_subscription(world: World, client_state: str = "s3cret-state") -> Subscription:
    return world.storage.subscriptions.add(Subscription(
        id="7f105c7d-2dc5-4530-97cd-4e7ae6534c07", bridge="outlook", calendar_id=ROOM,
        resource=f"users/{ROOM}/events", expires_at=utcnow() + timedelta(days=3),
        client_state_hash=push_secrets.digest(world.container.settings.push_key, client_state),
        mapping_id=world.mapping.id))


def graph_client_state(world: World, subscription_id: str) -> str:
    """The clientState Graph holds for a subscription (what its notifications carry)."""
    return world.graph.get(f"/subscriptions/{subscription_id}").json()["clientState"]


def request(method: str, path: str, body: bytes = b"", params: dict[str, str] | None = None,
            route_params: dict[str, str] | None = None) -> func.HttpRequest:
    return func.HttpRequest(method=method, url=f"http://127.0.0.1{path}", body=body,
                            params=params or {}, route_params=route_params or {},
                            headers={"content-type": "application/json"})


def post_outlook(body: bytes) -> func.HttpResponse:
    return webhook_functions.receive_bridge_webhook(
        request("POST", "/bridges/webhook/outlook", body, route_params={"bridge": "outlook"}))


# The shapes of Microsoft's documented examples ("Receive change notifications through
# webhooks", "Reduce missing subscriptions and change notifications"), with this
# subscription's id and clientState filled in.
def documented_change(subscription: Subscription, event_id: str, client_state: str) -> dict:
    return {"value": [{
        "id": "lsgTZMr9KwAAA",
        "subscriptionId": subscription.id,
        "subscriptionExpirationDateTime": "2016-03-19T22:11:09.952Z",
        "clientState": client_state,
        "changeType": "updated",
        "resource": f"Users/{{user_guid}}@{{tenant_guid}}/Events/{event_id}",
        "tenantId": "84bd8158-6d4d-4958-8b9f-9d6445542f95",
        "resourceData": {
            "@odata.type": "#Microsoft.Graph.Event",
            "@odata.id": f"Users/{{user_guid}}@{{tenant_guid}}/Events/{event_id}",
            "@odata.etag": "W/\"CQAAABYAAADkrWGo7bouTKlsgTZMr9KwAAAUWRHf\"",
            "id": event_id,
        },
    }]}


def documented_lifecycle(subscription: Subscription, event: str, client_state: str) -> dict:
    return {"value": [{
        "subscriptionId": subscription.id,
        "subscriptionExpirationDateTime": "2019-09-18T00:00:00.0000000Z",
        "tenantId": "84bd8158-6d4d-4958-8b9f-9d6445542f95",
        "clientState": client_state,
        "lifecycleEvent": event,
    }]}


# ---------------------------------------------------------------- handshake


def test_the_handshake_echoes_the_decoded_token_as_plain_text(world: World) -> None:
    token = "Validation: Testing client application reachability <b>&amp;</b> é"
    answer = webhook_functions.receive_bridge_webhook(request(
        "POST", "/bridges/webhook/outlook", params={"validationToken": token},
        route_params={"bridge": "outlook"}))
    assert answer.status_code == 200
    assert answer.get_body().decode() == token
    assert answer.mimetype == "text/plain"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"


def test_a_too_long_or_control_character_token_is_refused(world: World) -> None:
    for token in ("x" * (webhooks.MAX_VALIDATION_TOKEN + 1), "a\r\nb"):
        answer = webhook_functions.receive_outlook_notifications(request(
            "POST", "/webhook/outlook-notifications", params={"validationToken": token}))
        assert answer.status_code == 400
        assert answer.mimetype == "application/json"


def test_only_a_bridge_whose_adapter_declares_the_handshake_echoes_it(world: World) -> None:
    answer = webhook_functions.receive_bridge_webhook(request(
        "POST", "/bridges/webhook/booking_system", params={"validationToken": "<b>echo</b>"},
        route_params={"bridge": "booking_system"}))
    assert answer.status_code == 400 and answer.mimetype == "application/json"
    assert b"<b>echo</b>" not in answer.get_body()
    assert world.queued() == []


def test_the_handshake_needs_no_storage_even_when_it_is_slow(world: World) -> None:
    class SlowStorage:
        def __getattr__(self, name: str) -> Any:
            time.sleep(5)
            raise AssertionError(f"the handshake touched storage ({name})")

    slow = Container(settings=world.container.settings, storage=SlowStorage(),  # type: ignore[arg-type]
                     bridges=world.container.bridges)
    bootstrap.use(slow)
    started = time.monotonic()
    answer = webhook_functions.receive_outlook_notifications(request(
        "POST", "/webhook/outlook-notifications", params={"validationToken": "tok"}))
    assert answer.status_code == 200 and answer.get_body() == b"tok"
    assert time.monotonic() - started < 1


# ---------------------------------------------------------------- notifications


def test_documented_change_notification_is_queued_and_synced(world: World) -> None:
    event = world.outlook_event("Documented shape")
    subscription = stored_subscription(world)
    started = time.monotonic()
    answer = post_outlook(json.dumps(documented_change(subscription, event["id"],
                                                       "s3cret-state")).encode())
    assert time.monotonic() - started < 1.0  # Graph allows 3 s; nothing slow runs inline
    assert answer.status_code == 202, answer.get_body()
    assert json.loads(answer.get_body())["accepted"] == 1
    [queued] = world.queued()
    assert (queued["calendar_id"], queued["event_id"]) == (ROOM, event["id"])
    assert "s3cret" not in json.dumps(queued)
    assert [o.status for o in world.drain()] == ["completed"]
    assert len(world.bookings_titled("Documented shape")) == 1
    # At least once: the same notice again changes nothing.
    post_outlook(json.dumps(documented_change(subscription, event["id"],
                                              "s3cret-state")).encode())
    assert [o.status for o in world.drain()] == ["skipped"]
    assert len(world.bookings_titled("Documented shape")) == 1


class CountingTable:
    """Counts writes made through a table client."""

    WRITES = ("create_entity", "upsert_entity", "update_entity", "delete_entity",
              "submit_transaction")

    def __init__(self, inner: Any, counter: list[str]) -> None:
        self._inner, self._counter = inner, counter

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if name in self.WRITES:
            def counted(*args: Any, **kwargs: Any) -> Any:
                self._counter.append(f"{self._inner.table_name}.{name}")
                return attribute(*args, **kwargs)
            return counted
        return attribute


def count_table_writes(world: World) -> list[str]:
    writes: list[str] = []
    storage = world.storage
    for repository in (storage.mappings, storage.links, storage.cursors, storage.subscriptions,
                       storage.operations, storage.holds):
        repository.table = CountingTable(repository.table, writes)
    return writes


@pytest.mark.parametrize("case", ["wrong", "missing", "unknown", "malformed", "huge", "shape"])
def test_forged_notifications_are_ignored_and_nothing_is_written(world: World,
                                                                 case: str) -> None:
    event = world.outlook_event("Forged")
    subscription = stored_subscription(world)
    before = webhooks.rejected_notifications()
    writes = count_table_writes(world)
    body = documented_change(subscription, event["id"], "s3cret-state")
    item = body["value"][0]
    if case == "wrong":
        item["clientState"] = "s3cret-statf"
    elif case == "missing":
        del item["clientState"]
    elif case == "unknown":
        item["subscriptionId"] = "00000000-0000-0000-0000-000000000000"
    raw = json.dumps(body).encode()
    if case == "malformed":
        raw = b'{"value": [{"subscriptionId": '
    elif case == "huge":
        raw = b'{"value": [' + b" " * (world.container.settings.max_body_bytes + 1) + b"]}"
    elif case == "shape":
        raw = json.dumps({"value": [{"subscriptionId": subscription.id,
                                     "changeType": "exploded"}]}).encode()
    answer = post_outlook(raw)
    if case in ("wrong", "missing", "unknown"):
        assert answer.status_code == 202
        assert json.loads(answer.get_body())["ignored"] == 1
        assert webhooks.rejected_notifications() == before + 1
    else:
        assert answer.status_code in (400, 413, 422), answer.get_body()
    assert world.queued() == []
    assert writes == []
    assert world.bookings_titled("Forged") == []


def post_booking(body: bytes, headers: dict[str, str]) -> func.HttpResponse:
    return webhook_functions.receive_bridge_webhook(func.HttpRequest(
        method="POST", url="http://127.0.0.1/bridges/webhook/booking_system", body=body,
        headers=headers, route_params={"bridge": "booking_system"}))


def booking_change(booking_id: object) -> bytes:
    return json.dumps({"event_type": "created",
                       "event": {"id": booking_id, "resource_id": RESOURCE},
                       "occurred_at": "2030-01-01T00:00:00Z"}).encode()


def signed_delivery(body: bytes, delivery: str, at: int | None = None) -> dict[str, str]:
    """The headers the example booking system sends: the delivery id is signed."""
    timestamp = str(int(time.time()) if at is None else at)
    return {"x-booking-timestamp": timestamp, "x-booking-delivery": delivery,
            "x-booking-signature": sign_delivery(SECRET, delivery, timestamp, body)}


def remembered_deliveries(world: World) -> list[tuple[str, str]]:
    """Rows of the remembered-deliveries table, with their ETags (which change on a write)."""
    return sorted((row["RowKey"], row.metadata["etag"])
                  for row in world.storage.deliveries.table.list_entities())


def test_without_a_webhook_secret_booking_webhooks_are_refused_and_health_says_why(
        azurite: Azurite, booking: BookingSystemServer, graph: GraphClient) -> None:
    unsigned = make_world(azurite, booking, graph, BOOKING_SYSTEM_WEBHOOK_SECRET="")
    unsigned.notifications.clear_messages()
    bootstrap.use(unsigned.container)
    try:
        body = booking_change("1")
        for headers in ({}, signed_delivery(body, "d-unsigned")):
            answer = post_booking(body, headers)
            assert answer.status_code == 503
            assert json.loads(answer.get_body())["error"]["code"] == "webhook_secret_missing"
        assert unsigned.queued() == []
        report, _ = health.bridge_health(unsigned.container)
        assert "BOOKING_SYSTEM_WEBHOOK_SECRET is not set" in report["bridges"][
            "booking_system"]["webhooks"]
        assert "webhooks" not in report["bridges"]["outlook"]
    finally:
        bootstrap.use(None)
        unsigned.bookings.close()


def test_booking_webhooks_need_the_signature(world: World) -> None:
    body = booking_change("1")
    now = str(int(time.time()))
    assert post_booking(body, {"x-booking-timestamp": now}).status_code == 401
    assert post_booking(body, {"x-booking-timestamp": now,
                               "x-booking-signature": sign("wrong", now, body)}).status_code == 401
    refused = signed_delivery(body, "d-1")
    for tampered in ({**refused, "x-booking-delivery": "d-2"},
                     {**refused, "x-booking-delivery": ""}):
        assert post_booking(body, tampered).status_code == 401
    assert world.queued() == []
    answer = post_booking(body, signed_delivery(body, "d-1"))
    assert answer.status_code == 202
    assert [q["calendar_id"] for q in world.queued()] == [RESOURCE]


def test_a_replayed_booking_delivery_is_accepted_once(world: World) -> None:
    booking = world.bookings.create(resource_id=RESOURCE, title="Announced once",
                                    start_time=stamp(5), end_time=stamp(6))
    body = booking_change(booking["id"])
    delivery = signed_delivery(body, "5f0c1e7a9b2d4c8e")
    first = post_booking(body, delivery)
    assert first.status_code == 202, first.get_body()
    assert len(world.queued()) == 1

    writes = count_table_writes(world)
    remembered = remembered_deliveries(world)
    assert len(remembered) == 1
    # The very same request again, and the sender's retry of it (signed anew a little
    # later): both name a delivery accepted already.
    for again in (delivery, signed_delivery(body, "5f0c1e7a9b2d4c8e",
                                            int(time.time()) + 3)):
        replay = post_booking(body, again)
        assert replay.status_code == 200, replay.get_body()
        assert json.loads(replay.get_body())["replayed"] is True
        assert json.loads(replay.get_body())["accepted"] == 0
    assert writes == [] and remembered_deliveries(world) == remembered
    assert len(world.queued()) == 1

    # The next notification, about the same booking, is a new delivery.
    fresh = post_booking(body, signed_delivery(body, "9a4d2b6c8e1f3a5c"))
    assert fresh.status_code == 202, fresh.get_body()
    assert len(world.queued()) == 2
    assert sorted(o.status for o in world.drain()) == ["completed", "skipped"]
    subjects = [e["subject"] for e in world.graph.get(f"/users/{ROOM}/events").json()["value"]]
    assert subjects.count("Announced once") == 1


def test_a_delivery_that_could_not_be_queued_is_accepted_when_retried(world: World) -> None:
    body = booking_change("9")
    delivery = signed_delivery(body, "c3d9e1f7a2b4")
    queues = world.storage.queues
    # Queue storage unreachable (nothing listens there); tables still answer.
    world.storage.queues = QueueServiceClient.from_connection_string(
        development_connection_string(queue=free_port()), retry_total=0)
    try:
        failed = post_booking(body, delivery)
    finally:
        world.storage.queues = queues
    assert failed.status_code == 503, failed.get_body()
    assert remembered_deliveries(world) == []
    retried = post_booking(body, delivery)
    assert retried.status_code == 202, retried.get_body()
    assert [q["event_id"] for q in world.queued()] == ["9"]


def test_an_earlier_booking_signature_is_accepted_once_per_signed_request(
        world: World) -> None:
    body = booking_change("7")
    now = str(int(time.time()))
    earlier = {"x-booking-timestamp": now, "x-booking-delivery": "d-7",
               "x-booking-signature": sign(SECRET, now, body)}
    assert post_booking(body, earlier).status_code == 202
    # Its delivery id is not signed, so changing it does not make a replay new.
    for replay in (earlier, {**earlier, "x-booking-delivery": "d-8"}):
        answer = post_booking(body, replay)
        assert answer.status_code == 200 and json.loads(answer.get_body())["replayed"]
    later = str(int(time.time()) + 1)
    resent = {"x-booking-timestamp": later, "x-booking-signature": sign(SECRET, later, body)}
    assert post_booking(body, resent).status_code == 202
    assert len(world.queued()) == 2


def event_reads(world: World) -> int:
    """Graph requests that read one event."""
    return sum(count for route, count in graph_calls(world).items()
               if re.fullmatch(r"GET /users/\{[^}]+\}/events/\{[^}]+\}", route))


def test_a_thousand_item_batch_queues_and_reads_each_distinct_event_once(
        world: World) -> None:
    subscription = stored_subscription(world)
    events = world.outlook_events([f"Batch {n:03d}" for n in range(500)])
    items = [documented_change(subscription, event["id"], "s3cret-state")["value"][0]
             for event in events]
    # Graph repeats itself: every event is announced twice, in no particular order.
    body = {"value": items + [dict(item) for item in items]}
    random.Random(7).shuffle(body["value"])
    world.graph.admin("DELETE", "/requests").raise_for_status()

    answer = post_outlook(json.dumps(body).encode())

    assert answer.status_code == 202, answer.get_body()
    assert json.loads(answer.get_body()) == {"success": True, "accepted": 1000, "ignored": 0,
                                             "duplicates": 500}
    messages = world.take()
    notices = [n for m in messages for n in webhooks.read_message(m.content)]
    assert sorted(n.event_id for n in notices) == sorted(e["id"] for e in events)
    assert len(messages) < len(events)  # packed, not one message per notice
    outcomes = world.trigger(messages)
    assert [o.status for o in outcomes] == ["completed"] * 500
    assert event_reads(world) == 500
    titles = Counter(b["title"] for b in world.bookings.list_all(resource_id=RESOURCE))
    assert titles == Counter({f"Batch {n:03d}": 1 for n in range(500)})


def test_a_notice_failing_in_a_batch_is_retried_and_poisoned_alone(world: World) -> None:
    subscription = stored_subscription(world)
    good, bad, also_good = world.outlook_events(["Arrives", "Unreadable", "Arrives too"])
    world.graph.admin("POST", "/faults", {
        "match": {"method": "GET", "path_regex": re.escape(bad["id"])},
        "status": 403}).raise_for_status()
    body = {"value": [documented_change(subscription, event["id"], "s3cret-state")["value"][0]
                      for event in (good, bad, also_good)]}
    assert post_outlook(json.dumps(body).encode()).status_code == 202
    assert len(world.queued()) == 3

    options = QueueOptions(visibility_timeout=timedelta(0),
                           max_polling_interval=timedelta(milliseconds=200))
    function = QueueFunction(name="process_notification", queue_name=NOTIFICATIONS,
                             connection="AzureWebJobsStorage", arg_name="msg",
                             handler=webhook_functions.process_notification)
    stop = threading.Event()
    runner = QueueRunner(function, world.storage.queues, options, stop)
    poison = world.storage.queue(poison_queue_name(NOTIFICATIONS)).client
    poison.clear_messages()
    runner.start()
    try:
        deadline = time.monotonic() + 60
        while not poison.peek_messages() and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        stop.set()
        runner.join(10)
    [poisoned] = poison.receive_messages(max_messages=1)
    poison.delete_message(poisoned)
    assert [n.event_id for n in webhooks.read_message(poisoned.content)] == [bad["id"]]
    assert runner.processed == 1  # the batch, done once; the bad notice failed 5 times
    assert runner.failed == 5
    assert len(world.bookings_titled("Arrives")) == 1
    assert len(world.bookings_titled("Arrives too")) == 1
    assert world.bookings_titled("Unreadable") == []
    assert world.queued() == []


def test_a_few_changes_are_applied_at_once_and_their_queued_copy_withdrawn(
        eager_world: World) -> None:
    world = eager_world
    event = world.outlook_event("Applied at once")
    subscription = stored_subscription(world)
    answer = post_outlook(json.dumps(documented_change(subscription, event["id"],
                                                       "s3cret-state")).encode())
    assert answer.status_code == 202
    # No queue trigger runs here: the request itself got the change across.
    assert eventually(lambda: world.bookings_titled("Applied at once"))
    assert world.queued() == []  # the queued copy stays hidden while the work is done
    assert eventually(lambda: world.storage.queue(NOTIFICATIONS).depth() == 0)
    assert len(world.bookings_titled("Applied at once")) == 1


def test_a_change_that_fails_at_once_is_left_to_the_queue_at_once(eager_world: World) -> None:
    world = eager_world
    event = world.outlook_event("Read later")
    subscription = stored_subscription(world)
    world.graph.admin("POST", "/faults", {
        "match": {"method": "GET", "path_regex": re.escape(event["id"])},
        "status": 403}).raise_for_status()
    try:
        assert post_outlook(json.dumps(documented_change(
            subscription, event["id"], "s3cret-state")).encode()).status_code == 202
        # Visible for the queue trigger well before the 30 s the copy was hidden for.
        waiting = eventually(world.queued, timeout=10)
        assert [n["event_id"] for n in waiting] == [event["id"]]
    finally:
        world.graph.admin("DELETE", "/faults").raise_for_status()
    assert world.bookings_titled("Read later") == []
    assert [o.status for o in world.drain()] == ["completed"]
    assert len(world.bookings_titled("Read later")) == 1


def test_a_large_batch_is_left_to_the_queue(eager_world: World) -> None:
    world = eager_world
    subscription = stored_subscription(world)
    made = world.outlook_events([f"Batch {n}" for n in range(12)])
    body = {"value": [documented_change(subscription, event["id"], "s3cret-state")["value"][0]
                      for event in made]}
    assert post_outlook(json.dumps(body).encode()).status_code == 202
    assert len(world.queued()) == 12  # more than CALBRIDGE_WEBHOOK_APPLY_NOW: all visible
    world.drain()
    assert all(len(world.bookings_titled(f"Batch {n}")) == 1 for n in range(12))


def test_unknown_bridge_is_404(world: World) -> None:
    answer = webhook_functions.receive_bridge_webhook(request(
        "POST", "/bridges/webhook/nope", b"{}", route_params={"bridge": "nope"}))
    assert answer.status_code == 404


# ---------------------------------------------------------------- subscriptions + lifecycle


def test_subscriptions_need_a_base_url_and_a_mapped_calendar(world: World, azurite: Azurite,
                                                             booking: BookingSystemServer,
                                                             graph: GraphClient) -> None:
    with pytest.raises(subscriptions.CalendarNotMapped):
        subscriptions.subscribe_calendar(world.container, "outlook", "room-b@rooms.example.org")
    bare = make_world(azurite, booking, graph)
    with pytest.raises(subscriptions.WebhookNotConfigured):
        subscriptions.subscribe_calendar(bare.container, "outlook", ROOM)
    bare.bookings.close()


def test_a_subscription_is_created_once_with_a_secret_client_state(
        world: World, webhook_receiver: WebhookReceiver) -> None:
    created, new = subscriptions.subscribe_calendar(world.container, "outlook", ROOM)
    again, new_again = subscriptions.subscribe_calendar(world.container, "outlook", ROOM)
    assert new and not new_again and again.id == created.id
    assert "client_state_hash" not in subscriptions.public(world.container, created)
    [remote] = world.graph.get("/subscriptions").json()["value"]
    assert len(remote["clientState"]) >= 40
    assert remote["notificationUrl"] == f"{webhook_receiver.url}/bridges/webhook/outlook"
    assert remote["lifecycleNotificationUrl"] == remote["notificationUrl"]
    assert remote["changeType"] == "created,updated,deleted"
    minutes = (created.expires_at - utcnow()).total_seconds() / 60
    assert 9_990 < minutes <= 10_000


def test_the_subscriptions_table_holds_no_usable_client_state(world: World) -> None:
    event = world.outlook_event("Announced")
    created, _ = subscriptions.subscribe_calendar(world.container, "outlook", ROOM)
    state = graph_client_state(world, created.id)
    [row] = world.storage.subscriptions.table.list_entities()
    assert state not in json.dumps(dict(row), default=str)
    assert "client_state" not in row and row["client_state_hash"].startswith("hmac-sha256:")
    backup = io.BytesIO()
    settings = world.container.settings
    write_backup(table_service(settings), settings, backup, lambda message: None)
    assert state not in backup.getvalue().decode()
    header = json.loads(backup.getvalue().splitlines()[0])
    assert header["push_secrets"]["key_id"] == push_secrets.key_id(settings.push_key)
    assert "CALBRIDGE_PUSH_SECRET_KEY" in header["push_secrets"]["note"]

    # What the table holds, sent as the clientState, is refused; Graph's value is accepted.
    stolen = post_outlook(json.dumps(documented_change(
        created, event["id"], row["client_state_hash"])).encode())
    assert json.loads(stolen.get_body())["accepted"] == 0 and world.queued() == []
    sent = post_outlook(json.dumps(documented_change(created, event["id"], state)).encode())
    assert json.loads(sent.get_body())["accepted"] == 1

    # A renewal keeps the subscription and its clientState: notices still verify.
    renewed = subscriptions.renew(world.container, world.storage.subscriptions.get(
        "outlook", created.id))
    assert renewed.id == created.id and graph_client_state(world, created.id) == state
    again = post_outlook(json.dumps(documented_change(renewed, event["id"], state)).encode())
    assert json.loads(again.get_body())["accepted"] == 1


def test_a_plain_client_state_row_is_upgraded_in_place_and_keeps_verifying(
        world: World) -> None:
    event = world.outlook_event("After the upgrade")
    subscription = stored_subscription(world)
    table = world.storage.subscriptions.table
    # The row as calbridge before schema 3 wrote it: the client state itself.
    row = dict(table.get_entity(subscription.bridge, key_hash(subscription.id)))
    del row["client_state_hash"]
    table.upsert_entity({**row, "client_state": "s3cret-state"}, mode=UpdateMode.REPLACE)
    schema.set_version(world.storage.schema, 2)

    assert world.storage.upgrade()["subscriptions"] == 1
    upgraded = dict(table.get_entity(subscription.bridge, key_hash(subscription.id)))
    assert "s3cret-state" not in json.dumps(upgraded, default=str)
    assert world.storage.upgrade() == {}  # done once; the version says so

    wrong = post_outlook(json.dumps(documented_change(subscription, event["id"],
                                                      "s3cret-statf")).encode())
    assert json.loads(wrong.get_body())["accepted"] == 0
    right = post_outlook(json.dumps(documented_change(subscription, event["id"],
                                                      "s3cret-state")).encode())
    assert json.loads(right.get_body())["accepted"] == 1


def test_a_plain_row_written_after_the_upgrade_is_hashed_on_first_use(world: World) -> None:
    # An instance of the earlier version still running during a deployment writes the
    # client state plain; the first read verifies with it and keeps only its hash.
    event = world.outlook_event("During the deployment")
    subscription = stored_subscription(world)
    table = world.storage.subscriptions.table
    row = dict(table.get_entity(subscription.bridge, key_hash(subscription.id)))
    del row["client_state_hash"]
    table.upsert_entity({**row, "client_state": "s3cret-state"}, mode=UpdateMode.REPLACE)

    right = post_outlook(json.dumps(documented_change(subscription, event["id"],
                                                      "s3cret-state")).encode())
    assert json.loads(right.get_body())["accepted"] == 1
    stored = dict(table.get_entity(subscription.bridge, key_hash(subscription.id)))
    assert "s3cret-state" not in json.dumps(stored, default=str)
    assert [s.id for s in world.storage.subscriptions.list()] == [subscription.id]


def test_lifecycle_notifications_renew_recreate_and_resync(world: World) -> None:
    created, _ = subscriptions.subscribe_calendar(world.container, "outlook", ROOM)
    state = graph_client_state(world, created.id)

    answer = post_outlook(json.dumps(documented_lifecycle(created, "reauthorizationRequired",
                                                          state)).encode())
    assert answer.status_code == 202
    world.drain()
    renewed = world.storage.subscriptions.get("outlook", created.id)
    assert renewed.renewed_at is not None

    world.outlook_event("Missed while away")
    post_outlook(json.dumps(documented_lifecycle(created, "missed", state)).encode())
    world.drain()
    assert len(world.bookings_titled("Missed while away")) == 1

    world.graph.admin("POST", f"/subscriptions/{created.id}/lifecycle",
                      {"event": "subscriptionRemoved"}).raise_for_status()
    world.outlook_event("Made while removed")
    post_outlook(json.dumps(documented_lifecycle(created, "subscriptionRemoved",
                                                 state)).encode())
    world.drain()
    [replacement] = world.storage.subscriptions.list()
    assert replacement.id != created.id
    assert replacement.client_state_hash != created.client_state_hash
    assert [s["id"] for s in world.graph.get("/subscriptions").json()["value"]] == [
        replacement.id]
    assert len(world.bookings_titled("Made while removed")) == 1

    # A lifecycle notification with the old (or a wrong) clientState does nothing.
    post_outlook(json.dumps(documented_lifecycle(replacement, "subscriptionRemoved",
                                                 state)).encode())
    assert world.queued() == []

    # A notice queued by an earlier version names only Graph's event; it still re-creates.
    world.graph.admin("POST", f"/subscriptions/{replacement.id}/lifecycle",
                      {"event": "subscriptionRemoved"}).raise_for_status()
    webhooks.process_message(world.container, json.dumps({"notices": [{
        "bridge": "outlook", "calendar_id": ROOM, "change_type": "subscriptionRemoved",
        "subscription_id": replacement.id}]}))
    [third] = world.storage.subscriptions.list()
    assert third.id not in (created.id, replacement.id)


def test_the_renewal_timer_renews_late_records_failures_and_recreates(world: World) -> None:
    container = world.container
    report = subscriptions.maintain(container)
    [created] = report["created"]
    first = world.storage.subscriptions.get("outlook", created)
    now = utcnow()
    assert subscriptions.maintain(container, now=now + timedelta(hours=1))["renewed"] == []

    late = now + timedelta(minutes=8_000)  # less than a third of the lifetime left
    world.graph.admin("POST", "/faults", {"match": {"method": "PATCH",
                                                    "path_regex": "/subscriptions"},
                                          "status": 400, "times": 1}).raise_for_status()
    failed = subscriptions.maintain(container, now=late)
    assert [f["subscription_id"] for f in failed["failed"]] == [created]
    failing = world.storage.subscriptions.get("outlook", created)
    assert failing.last_error
    assert health.bridge_health(container)[0]["subscriptions"]["failing"] == 1

    retried = subscriptions.maintain(container, now=late)
    assert retried["renewed"] == [created] and retried["created"] == []
    renewed = world.storage.subscriptions.get("outlook", created)
    assert renewed.last_error is None and renewed.expires_at > first.expires_at

    # Gone at Graph: the next renewal re-creates it.
    assert world.graph.delete(f"/subscriptions/{created}").status_code == 204
    recreated = subscriptions.maintain(container, now=now + timedelta(minutes=9_000))
    assert len(recreated["recreated"]) == 1
    [current] = world.storage.subscriptions.list()
    assert current.id != created

    # A mapping switched off: its subscription is removed.
    mapping = world.storage.mappings.get(world.mapping.id)
    world.storage.mappings.update(mapping.model_copy(update={"active": False}),
                                  previous=mapping)
    assert subscriptions.maintain(container)["removed"] == [current.id]
    assert world.storage.subscriptions.list() == []
    assert world.graph.get("/subscriptions").json()["value"] == []


def test_the_renewal_timer_runs_through_and_logs_what_it_did(
        world: World, caplog: pytest.LogCaptureFixture) -> None:
    # The timer function as the host fires it: it once failed on its own log line
    # (a count named `created` clashes with the log record's own attribute), every run.
    with caplog.at_level("INFO", logger=webhook_functions.log.name):
        webhook_functions.maintain_subscriptions_on_schedule(
            TimerRequest(past_due=False))
    [record] = [r for r in caplog.records if r.getMessage() == "subscription maintenance"]
    assert record.subscriptions_created == 1  # type: ignore[attr-defined]
    assert record.subscriptions_failed == 0  # type: ignore[attr-defined]
    assert len(world.storage.subscriptions.list()) == 1


# ---------------------------------------------------------------- polling


def graph_calls(world: World) -> dict[str, int]:
    return world.graph.admin("GET", "/requests").json()["by_route"]


def test_polling_follows_creates_edits_deletions_and_a_410(world: World) -> None:
    container = world.container
    initialized = polling.initialize(container)
    assert {(c.bridge, stored) for c, stored in initialized.initialized} == {
        ("outlook", True), ("booking_system", True)}
    assert polling.initialize(container).initialized == []

    event = world.outlook_event("Polled in")
    polling.poll_changes(container)
    [booking] = world.bookings_titled("Polled in")

    world.graph.patch(f"/users/{ROOM}/events/{event['id']}", json={"subject": "Polled edit"})
    polling.poll_changes(container)
    assert world.bookings_titled("Polled edit")

    world.graph.admin("POST", "/delta/expire").raise_for_status()
    world.graph.delete(f"/users/{ROOM}/events/{event['id']}")
    polling.poll_changes(container)  # 410 → a complete listing, which misses the event
    [after] = [b for b in world.bookings.list_all(resource_id=RESOURCE)
               if b["id"] == booking["id"]]
    assert after["active"] in (0, False)
    links = world.storage.links.list(world.mapping.id)
    assert [link.status for link in links] == [SyncStatus.CANCELLED]

    stats = polling.stats(container)
    assert {row["bridge"] for row in stats["calendars"]} == {"outlook", "booking_system"}
    assert all(row["mode"] == "polling" for row in stats["calendars"])


def quiet_poll(world: World) -> tuple[dict[str, int], list[str]]:
    """Graph requests and table writes of one poll of calendars where nothing changed."""
    polling.initialize(world.container)
    polling.poll_changes(world.container)
    world.graph.admin("DELETE", "/requests").raise_for_status()
    writes = count_table_writes(world)
    polling.poll_changes(world.container)
    return graph_calls(world), writes


def test_an_unchanged_calendar_costs_one_delta_call_and_no_table_write(
        world: World) -> None:
    calls, writes = quiet_poll(world)
    assert len(calls) == 1 and sum(calls.values()) == 1, calls
    assert "delta" in next(iter(calls))
    assert writes == []


def test_subscribed_calendars_are_polled_only_to_reconcile(world: World) -> None:
    container = world.container
    subscriptions.subscribe_calendar(container, "outlook", ROOM)
    polling.initialize(container)  # a poll of both sides, just now
    now = utcnow()
    soon = polling.poll_changes(container, due_only=True, now=now + timedelta(minutes=1))
    assert [p.bridge for p in soon.polled] == ["booking_system"]
    later = polling.poll_changes(container, due_only=True, now=now + timedelta(minutes=31))
    assert "outlook" in {p.bridge for p in later.polled}
    rows = {r["bridge"]: r for r in polling.stats(container)["calendars"]}
    assert rows["outlook"]["has_healthy_subscription"] is True
    assert rows["booking_system"]["has_healthy_subscription"] is False
    assert rows["outlook"]["next_poll_due"] > utcnow() + timedelta(minutes=25)
    assert rows["booking_system"]["next_poll_due"] <= utcnow() + timedelta(seconds=61)


def test_a_webhook_change_reaches_the_other_side_through_the_queue(world: World) -> None:
    booking = world.bookings.create(resource_id=RESOURCE, title="Pushed booking",
                                    start_time=stamp(3), end_time=stamp(4))
    notice = webhooks.PushNotice(bridge="booking_system", calendar_id=RESOURCE,
                                 event_id=str(booking["id"]), change_type="created")
    [outcome] = webhooks.process(world.container, notice)
    assert outcome.status == "completed"
    subjects = [e["subject"] for e in world.graph.get(f"/users/{ROOM}/events").json()["value"]]
    assert subjects.count("Pushed booking") == 1
    assert [o.status for o in webhooks.process(world.container, notice)] == ["skipped"]
    assert End.A  # the notice named the booking side


def test_a_body_naming_many_subscriptions_reads_them_in_one_query(world: World) -> None:
    event = world.outlook_event("Crowded body")
    subscription = stored_subscription(world)
    good = documented_change(subscription, event["id"], "s3cret-state")["value"][0]
    forged = [{**good, "subscriptionId": f"00000000-0000-0000-0000-00000000000{n}"}
              for n in range(8)]
    reads: list[str] = []
    table = world.storage.subscriptions.table
    original = table.get_entity

    def counted(*args: Any, **kwargs: Any) -> Any:
        reads.append("get")
        return original(*args, **kwargs)

    table.get_entity = counted  # type: ignore[method-assign]
    answer = post_outlook(json.dumps({"value": [*forged, good]}).encode())
    assert json.loads(answer.get_body()) == {"success": True, "accepted": 1, "ignored": 8,
                                             "duplicates": 0}
    assert reads == []
    assert [q["event_id"] for q in world.queued()] == [event["id"]]
