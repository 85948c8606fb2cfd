"""The Outlook bridge against the Microsoft Graph emulator: auth, paging, delta, $batch,
throttling, idempotent creates, immutable ids, push subscriptions."""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from calbridge.bridges.base import TimeWindow, WriteOp
from calbridge.bridges.outlook import OutlookBridge
from calbridge.bridges.outlook.convert import event_to_graph
from calbridge.config import Settings
from calbridge.errors import (
    AuthError,
    ConfigurationError,
    EtagConflict,
    UpstreamError,
    UpstreamRejected,
    UpstreamThrottled,
    UpstreamUnavailable,
)
from calbridge.model import Event, new_id
from tests.contract.test_outlook_contract import outlook_env
from tests.fixtures.graph import GraphClient, WebhookReceiver

ROOM = "room-a@rooms.example.org"
START = dt.datetime(2031, 3, 10, 9, 0, tzinfo=dt.UTC)
WINDOW = TimeWindow(start=START - dt.timedelta(days=7), end=START + dt.timedelta(days=30))


def make_bridge(graph: GraphClient, **extra: str) -> OutlookBridge:
    return OutlookBridge.from_settings("outlook", Settings.from_env(
        outlook_env(graph.emulator, **extra)))


def event(title: str, hour: int = 0, marker: str | None = None) -> Event:
    start = START + dt.timedelta(hours=hour)
    return Event(title=title, start=start, end=start + dt.timedelta(hours=1),
                 timezone="Europe/Oslo", marker=marker or new_id())


def counts(graph: GraphClient) -> dict[str, Any]:
    return graph.admin("GET", "/requests").json()


def route_count(graph: GraphClient, route: str) -> int:
    return int(counts(graph)["by_route"].get(route, 0))


def fault(graph: GraphClient, **spec: Any) -> None:
    graph.admin("POST", "/faults", json=spec).raise_for_status()


def stored_events(graph: GraphClient, mailbox: str = ROOM) -> list[dict[str, Any]]:
    response = graph.get(f"/users/{mailbox}/events", params={"$top": "100"})
    response.raise_for_status()
    return response.json()["value"]


# ------------------------------------------------------------------ auth


def test_token_is_acquired_once_through_the_emulator_ca(graph: GraphClient) -> None:
    bridge = make_bridge(graph)
    for _ in range(3):
        assert bridge.health().status == "healthy"
    assert route_count(graph, "POST /{tenant}/oauth2/v2.0/token") == 1


def test_refused_secret_is_an_auth_error_without_the_secret(graph: GraphClient) -> None:
    bridge = make_bridge(graph, OUTLOOK_CLIENT_SECRET="not-the-secret-4711")
    with pytest.raises(AuthError) as raised:
        bridge.list_calendars()
    assert "invalid_client" in str(raised.value)
    assert "4711" not in str(raised.value)
    health = bridge.health()
    assert (health.status, health.authenticated) == ("unhealthy", False)
    assert "4711" not in (health.error or "")


def test_untrusted_ca_is_refused_not_ignored(graph: GraphClient) -> None:
    bridge = make_bridge(graph, OUTLOOK_CA_BUNDLE="")
    health = bridge.health()
    assert health.status == "unhealthy" and health.authenticated is False


def test_certificate_credential_signs_in(graph: GraphClient, tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "calbridge test")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    pem = tmp_path / "app.pem"
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())
                    + cert.public_bytes(serialization.Encoding.PEM))
    thumbprint = hashlib.sha1(cert.public_bytes(serialization.Encoding.DER)).hexdigest()  # noqa: S324
    bridge = make_bridge(graph, OUTLOOK_CLIENT_SECRET="", OUTLOOK_CLIENT_CERTIFICATE_PATH=str(pem),
                         OUTLOOK_CLIENT_CERTIFICATE_THUMBPRINT=thumbprint)
    assert bridge.health().status == "healthy"


def test_missing_setting_is_named(graph: GraphClient) -> None:
    env = outlook_env(graph.emulator)
    del env["OUTLOOK_CLIENT_ID"]
    with pytest.raises(ConfigurationError, match="OUTLOOK_CLIENT_ID"):
        OutlookBridge.from_settings("outlook", Settings.from_env(env))


# ------------------------------------------------------------------ calendars and paging


def test_rooms_are_listed_over_all_pages(graph: GraphClient) -> None:
    bridge = make_bridge(graph, OUTLOOK_PAGE_SIZE="2")
    rooms = bridge.list_calendars()
    assert {r.id for r in rooms} == {"room-a@rooms.example.org", "room-b@rooms.example.org",
                                     "room-c@rooms.example.org"}
    assert all(r.kind == "room" for r in rooms)
    assert route_count(graph, "GET /places/microsoft.graph.room") == 2


def test_refused_places_fall_back_to_configured_mailboxes(graph: GraphClient) -> None:
    fault(graph, match={"path_regex": "^/places"}, status=403)
    bridge = make_bridge(graph, OUTLOOK_MAILBOXES="room-a@rooms.example.org, alex@example.org")
    assert [c.id for c in bridge.list_calendars()] == ["room-a@rooms.example.org",
                                                       "alex@example.org"]
    explicit = make_bridge(graph, OUTLOOK_MAILBOXES="alex@example.org",
                           OUTLOOK_CALENDAR_SOURCE="mailboxes")
    before = route_count(graph, "GET /places/microsoft.graph.room")
    assert [c.id for c in explicit.list_calendars()] == ["alex@example.org"]
    assert route_count(graph, "GET /places/microsoft.graph.room") == before
    assert explicit.health().status == "healthy"


def test_events_are_listed_over_all_pages_with_markers(graph: GraphClient) -> None:
    bridge = make_bridge(graph, OUTLOOK_PAGE_SIZE="5")
    written = [event(f"E{n}", hour=n) for n in range(12)]
    for item in written:
        bridge.create(ROOM, item, item.marker or "")
    graph.admin("DELETE", "/requests")
    listed = list(bridge.list_events(ROOM, WINDOW))
    assert sorted(e.title for e in listed) == sorted(e.title for e in written)
    assert {e.marker for e in listed} == {e.marker for e in written}
    assert route_count(graph, "GET /users/{user}/calendarView") == 3


# ------------------------------------------------------------------ delta


def test_delta_reports_changes_deletions_and_restarts_after_expiry(
        graph: GraphClient) -> None:
    bridge = make_bridge(graph, OUTLOOK_PAGE_SIZE="2")
    kept, dropped = event("Kept"), event("Dropped", hour=2)
    kept_id = bridge.create(ROOM, kept, kept.marker or "").id
    dropped_id = bridge.create(ROOM, dropped, dropped.marker or "").id
    for n in range(3):
        bridge.create(ROOM, event(f"Filler {n}", hour=4 + n), new_id())

    initial = bridge.changes(ROOM, None, WINDOW)
    assert initial.complete and len(initial.changed) == 5 and initial.cursor
    assert {e.id: e.marker for e in initial.changed}[kept_id] == kept.marker

    bridge.update(ROOM, kept_id, kept.model_copy(update={"title": "Kept, renamed"}))
    assert bridge.delete(ROOM, dropped_id) is True
    later = bridge.changes(ROOM, initial.cursor, WINDOW)
    assert not later.complete
    assert [(e.id, e.title, e.marker) for e in later.changed] == [
        (kept_id, "Kept, renamed", kept.marker)]
    assert later.deleted == [dropped_id]

    expired = graph.admin("POST", "/delta/expire").json()["expired"]
    assert expired >= 1
    restarted = bridge.changes(ROOM, later.cursor, WINDOW)
    assert restarted.complete and restarted.cursor and restarted.cursor != later.cursor
    assert {e.title for e in restarted.changed} == {"Kept, renamed", "Filler 0", "Filler 1",
                                                    "Filler 2"}
    quiet = bridge.changes(ROOM, restarted.cursor, WINDOW)
    assert (quiet.changed, quiet.deleted) == ([], [])


def test_a_foreign_link_as_cursor_is_never_followed(graph: GraphClient) -> None:
    # A stored delta link of another endpoint (GRAPH_BASE_URL changed, or a tampered row)
    # is not sent our token: a fresh delta round starts instead.
    bridge = make_bridge(graph)
    bridge.create(ROOM, event("Listed"), new_id())
    changes = bridge.changes(ROOM, "https://attacker.example/v1.0/delta?$deltatoken=x", WINDOW)
    assert changes.complete and [e.title for e in changes.changed] == ["Listed"]
    assert changes.cursor and changes.cursor.startswith(graph.emulator.graph_url)


# ------------------------------------------------------------------ $batch


def test_delta_reads_go_in_batches_of_twenty_and_throttled_parts_are_retried(
        graph: GraphClient) -> None:
    # A delta round reads each changed event again (for its marker) through $batch.
    bridge = make_bridge(graph)
    for n in range(25):
        bridge.create(ROOM, event(f"Bulk {n}", hour=n), new_id())
    graph.admin("DELETE", "/requests")
    fault(graph, match={"method": "GET", "path_regex": "/events/[^/]+$"}, status=429,
          retry_after=1, times=3)
    began = time.monotonic()
    changes = bridge.changes(ROOM, None, WINDOW)
    waited = time.monotonic() - began
    assert sorted(e.title for e in changes.changed) == sorted(f"Bulk {n}" for n in range(25))
    assert waited >= 1.0
    assert route_count(graph, "POST /$batch") == 3  # 20 + 5, then the 3 throttled parts


def test_batched_reads_answer_each_event_as_its_single_read(graph: GraphClient) -> None:
    bridge = make_bridge(graph)
    made = [bridge.create(ROOM, event(f"Read {n}", hour=n), new_id()) for n in range(22)]
    ids = [e.id or "" for e in made]
    assert bridge.delete(ROOM, ids[5]) is True
    ids.append("does-not-exist-" + new_id())
    waits: list[float] = []
    bridge.graph._sleep = waits.append
    graph.admin("DELETE", "/requests")
    fault(graph, match={"method": "GET", "path_regex": "/events/[^/]+$"}, status=429,
          retry_after=2, after=7, times=1)
    reads = bridge.get_events(ROOM, ids)
    assert [r.event_id for r in reads] == ids and all(r.error is None for r in reads)
    # A deleted event and an unknown id answer 404 in their parts: gone, like `get_event`.
    assert [r.event.title if r.event else None for r in reads] == [
        *(f"Read {n}" for n in range(5)), None, *(f"Read {n}" for n in range(6, 22)), None]
    assert waits == [2.0]  # the throttled part alone, after its own Retry-After
    assert route_count(graph, "POST /$batch") == 3  # 20 + 3, then the throttled part
    assert route_count(graph, "GET /users/{user}/events/{event}") == 23 + 1
    # Each part is the GET of `get_event`: the marker expanded, instants in UTC.
    single = bridge.get_event(ROOM, ids[0])
    assert reads[0].event == single and single is not None
    assert single.marker == made[0].marker
    # A part failing on its own is that read's error; the others are read.
    fault(graph, match={"method": "GET", "path_regex": "/events/[^/]+$"}, status=500,
          after=1, times=1)
    failing = bridge.get_events(ROOM, ids[:3])
    errors = [r.error for r in failing if r.error is not None]
    assert len(errors) == 1 and isinstance(errors[0], UpstreamError)
    assert [r.event is None for r in failing] == [r.error is not None for r in failing]


def stored_subjects(graph: GraphClient) -> list[str]:
    return sorted(str(e["subject"]) for e in stored_events(graph))


def test_batched_writes_report_each_item_on_its_own(graph: GraphClient) -> None:
    bridge = make_bridge(graph)
    edited = bridge.create(ROOM, event("Edited elsewhere"), new_id())
    gone = bridge.create(ROOM, event("Gone", hour=2), new_id())
    bridge.delete(ROOM, gone.id or "")
    # Someone edits the event after calbridge read it: calbridge's etag is stale now.
    graph.patch(f"/users/{ROOM}/events/{edited.id}", json={"subject": "Their title"})
    fresh = event("Fresh", hour=4)
    backwards = event("Ends before it starts", hour=6).model_copy(
        update={"end": START + dt.timedelta(hours=5)})
    graph.admin("DELETE", "/requests")

    results = bridge.apply(ROOM, [
        WriteOp.create(fresh, fresh.marker or ""),
        WriteOp.update(edited.id or "", event("Ours"), etag=edited.etag),
        WriteOp.delete(gone.id or ""),
        WriteOp.create(backwards, backwards.marker or "")])

    assert route_count(graph, "POST /$batch") == 1
    assert results[0].ok and results[0].event is not None
    assert results[0].event.id and results[0].event.marker == fresh.marker
    assert isinstance(results[1].error, EtagConflict)
    assert results[2].ok and results[2].deleted is False  # already gone
    assert isinstance(results[3].error, UpstreamRejected)
    assert stored_subjects(graph) == ["Fresh", "Their title"]
    found = bridge.find_by_marker(ROOM, fresh.marker or "")
    assert found is not None and found.id == results[0].event.id


def test_batched_creates_carry_the_transaction_id_and_marker_of_a_single_create(
        graph: GraphClient) -> None:
    bridge = make_bridge(graph)
    batched, single = event("Batched"), event("Single", hour=2)
    bridge.apply(ROOM, [WriteOp.create(batched, "key-batched")])
    bridge.create(ROOM, single, "key-single")
    stored = {e["subject"]: e for e in stored_events(graph)}
    for subject, written, key in (("Batched", batched, "key-batched"),
                                  ("Single", single, "key-single")):
        sent = event_to_graph(written, idempotency_key=key)["transactionId"]
        assert sent and stored[subject]["transactionId"] == sent
    assert bridge.find_by_marker(ROOM, batched.marker or "") is not None
    # A single create repeating the batched one's key is that same event.
    assert bridge.create(ROOM, batched, "key-batched").id == bridge.find_by_marker(
        ROOM, batched.marker or "").id  # type: ignore[union-attr]
    assert stored_subjects(graph) == ["Batched", "Single"]


def test_throttled_batch_items_alone_are_sent_again_after_their_retry_after(
        graph: GraphClient) -> None:
    bridge = make_bridge(graph)
    waits: list[float] = []
    bridge.graph._sleep = waits.append
    writes = [event(f"Throttled {n}", hour=n) for n in range(6)]
    graph.admin("DELETE", "/requests")
    fault(graph, match={"method": "POST", "path_regex": "/events$"}, status=429,
          retry_after=7, times=2)
    results = bridge.apply(ROOM, [WriteOp.create(e, e.marker or "") for e in writes])
    assert all(r.ok for r in results)
    assert waits == [7.0]  # once, as long as the throttled items were told
    assert route_count(graph, "POST /$batch") == 2
    assert route_count(graph, "POST /users/{user}/events") == 6 + 2  # only the two again
    assert stored_subjects(graph) == sorted(f"Throttled {n}" for n in range(6))
    # Throttled past every retry, a write says so, and for how long, on its own.
    bridge.graph.http.max_attempts = 2
    fault(graph, match={"method": "DELETE"}, status=429, retry_after=9, times=2)
    first, second = (results[0].event, results[1].event)
    assert first is not None and second is not None
    gone = bridge.apply(ROOM, [WriteOp.delete(first.id or ""),
                               WriteOp.update(second.id or "", event("Renamed"))])
    assert isinstance(gone[0].error, UpstreamThrottled) and gone[0].error.retry_after == 9
    assert gone[1].ok


def test_a_lost_batch_answer_sent_again_duplicates_and_loses_nothing(
        graph: GraphClient) -> None:
    bridge = make_bridge(graph)
    old = bridge.create(ROOM, event("Old", hour=9), new_id())
    kept = bridge.create(ROOM, event("Kept", hour=10), new_id())
    writes = [event(f"New {n}", hour=n) for n in range(3)]
    graph.admin("DELETE", "/requests")
    fault(graph, match={"method": "POST", "path_regex": r"/\$batch$"}, drop_answer=True,
          times=1)
    results = bridge.apply(ROOM, [
        *(WriteOp.create(e, e.marker or "") for e in writes),
        WriteOp.update(kept.id or "", event("Kept, renamed")),
        WriteOp.delete(old.id or "")])
    assert all(r.ok for r in results)
    assert route_count(graph, "POST /$batch") == 2  # the whole batch again: every part is safe
    assert stored_subjects(graph) == ["Kept, renamed", "New 0", "New 1", "New 2"]
    assert [r.event.marker for r in results[:3] if r.event] == [e.marker for e in writes]


def test_a_lost_answer_of_a_conditional_update_is_reported_not_repeated(
        graph: GraphClient) -> None:
    # A PATCH with If-Match sent again after Graph applied it would meet its own change:
    # its result says the answer was lost, and the creates beside it are sent again.
    bridge = make_bridge(graph)
    kept = bridge.create(ROOM, event("Kept", hour=10), new_id())
    writes = [event(f"New {n}", hour=n) for n in range(2)]
    graph.admin("DELETE", "/requests")
    fault(graph, match={"method": "POST", "path_regex": r"/\$batch$"}, drop_answer=True,
          times=1)
    results = bridge.apply(ROOM, [
        *(WriteOp.create(e, e.marker or "") for e in writes),
        WriteOp.update(kept.id or "", event("Kept, renamed"), etag=kept.etag)])
    assert results[0].ok and results[1].ok
    assert isinstance(results[2].error, UpstreamUnavailable)
    assert route_count(graph, "POST /$batch") == 2
    assert route_count(graph, "PATCH /users/{user}/events/{event}") == 1
    assert stored_subjects(graph) == ["Kept, renamed", "New 0", "New 1"]
    # Applied again (the engine retries what it does not know), nothing is duplicated.
    again = bridge.apply(ROOM, [WriteOp.create(e, e.marker or "") for e in writes])
    assert [r.event.id for r in again if r.event] == [
        r.event.id for r in results[:2] if r.event]
    assert stored_subjects(graph) == ["Kept, renamed", "New 0", "New 1"]


def test_parallel_batches_keep_to_the_mailbox_concurrency_limit(graph: GraphClient) -> None:
    # Four workers of one process, each sending a batch to the same mailbox: Graph runs up
    # to four items of each at once, so the batches must take turns.
    bridge = make_bridge(graph)
    graph.admin("POST", "/throttle", json={"enabled": True, "concurrency": 4})
    fault(graph, match={"method": "POST", "path_regex": "/events$"}, latency_ms=100)
    batches = [[event(f"Worker {w} item {n}", hour=n) for n in range(6)] for w in range(4)]
    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            done = list(pool.map(lambda writes: bridge.apply(
                ROOM, [WriteOp.create(e, e.marker or "") for e in writes]), batches))
        peak = graph.admin("GET", "/throttle").json()["peak_concurrency"]
    finally:
        graph.admin("DELETE", "/faults")
        graph.admin("POST", "/throttle", json={"enabled": False})
    assert all(r.ok for results in done for r in results)
    assert "429" not in counts(graph)["by_status"]
    assert max(peak.values()) == 4
    assert len(stored_events(graph)) == 24


# ------------------------------------------------------------------ throttling and retries


def test_retry_after_is_honoured(graph: GraphClient) -> None:
    bridge = make_bridge(graph)
    bridge.create(ROOM, event("Seen"), new_id())
    graph.admin("DELETE", "/requests")
    fault(graph, match={"method": "GET", "path_regex": "/calendarView$"}, status=429,
          retry_after=2, times=1)
    began = time.monotonic()
    listed = list(bridge.list_events(ROOM, WINDOW))
    waited = time.monotonic() - began
    assert [e.title for e in listed] == ["Seen"]
    assert waited >= 2.0
    assert route_count(graph, "GET /users/{user}/calendarView") == 2
    assert counts(graph)["by_status"].get("429") == 1


def test_persistent_throttling_surfaces_as_throttled(graph: GraphClient) -> None:
    bridge = make_bridge(graph)
    bridge.graph.http.max_attempts = 2
    fault(graph, match={"method": "GET", "path_regex": "/events/"}, status=429, retry_after=1)
    with pytest.raises(UpstreamThrottled):
        bridge.get_event(ROOM, "some-id")


def test_concurrency_per_mailbox_stays_within_outlook_limit(
        graph: GraphClient) -> None:
    bridge = make_bridge(graph)
    created = bridge.create(ROOM, event("Busy"), new_id())
    graph.admin("POST", "/throttle", json={"enabled": True, "concurrency": 4})
    fault(graph, match={"method": "GET", "path_regex": "/events/"}, latency_ms=300)
    try:
        with ThreadPoolExecutor(max_workers=10) as pool:
            found = list(pool.map(lambda _: bridge.get_event(ROOM, created.id or ""), range(10)))
    finally:
        graph.admin("DELETE", "/faults")
        graph.admin("POST", "/throttle", json={"enabled": False})
    assert all(e is not None and e.id == created.id for e in found)
    assert "429" not in counts(graph)["by_status"]


def test_create_retried_after_a_timeout_makes_one_event(graph: GraphClient) -> None:
    bridge = make_bridge(graph, CALBRIDGE_HTTP_TIMEOUT_SECONDS="1")
    fault(graph, match={"method": "POST", "path_regex": "/events$"}, latency_ms=1500, times=1)
    written = event("Slow network")
    created = bridge.create(ROOM, written, idempotency_key=written.marker or "")
    time.sleep(0.7)  # let the first, timed-out attempt finish on the server
    assert route_count(graph, "POST /users/{user}/events") == 2
    events = stored_events(graph)
    assert [e["subject"] for e in events] == ["Slow network"]
    assert bridge.find_by_marker(ROOM, written.marker or "") is not None
    assert created.marker == written.marker


def test_ids_are_immutable_ids(graph: GraphClient) -> None:
    bridge = make_bridge(graph)
    created = bridge.create(ROOM, event("Immutable"), new_id())
    rest_ids = [e["id"] for e in stored_events(graph)]  # no IdType preference: REST ids
    assert created.id and created.id not in rest_ids
    immutable = graph.get(f"/users/{ROOM}/events", headers={"Prefer": 'IdType="ImmutableId"'})
    assert [e["id"] for e in immutable.json()["value"]] == [created.id]
    assert [e.id for e in bridge.list_events(ROOM, WINDOW)] == [created.id]
    assert bridge.get_event(ROOM, created.id) is not None


# ------------------------------------------------------------------ push


def test_subscription_lifecycle_and_notifications(
        graph: GraphClient, webhook_receiver: WebhookReceiver) -> None:
    bridge = make_bridge(graph)
    wanted = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
    subscription = bridge.subscribe(ROOM, f"{webhook_receiver.url}/notify", "s3cret", wanted,
                                    lifecycle_url=f"{webhook_receiver.url}/lifecycle")
    assert webhook_receiver.validations  # the handshake reached the receiver
    assert subscription.expires_at <= dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10_080)

    created = bridge.create(ROOM, event("Pushed"), new_id())
    [body] = webhook_receiver.wait_for(1)
    notices = bridge.parse_notification({}, body)
    assert [(n.subscription_id, n.change_type, n.client_state) for n in notices] == [
        (subscription.id, "created", "s3cret")]
    assert notices[0].event_id == created.id  # immutable ids in notifications too

    renewed = bridge.renew(subscription.id, dt.datetime.now(dt.UTC) + dt.timedelta(days=2))
    assert renewed.id == subscription.id and renewed.expires_at > subscription.expires_at - \
        dt.timedelta(days=6)
    bridge.unsubscribe(subscription.id)
    bridge.unsubscribe(subscription.id)  # already gone: tolerated
    assert created.id


def test_a_refused_subscription_tells_a_bad_calendar_from_a_bad_endpoint(
        graph: GraphClient, webhook_receiver: WebhookReceiver) -> None:
    bridge = make_bridge(graph)
    wanted = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    # A resource Graph cannot subscribe to: the calendar id was wrong.
    with pytest.raises(UpstreamRejected):
        bridge.subscribe("a?b/../c", f"{webhook_receiver.url}/notify", "s3cret", wanted)
    # Our endpoint failed the handshake: nothing the calendar id could fix.
    webhook_receiver.mode = "wrong"
    with pytest.raises(UpstreamError) as raised:
        bridge.subscribe(ROOM, f"{webhook_receiver.url}/notify", "s3cret", wanted)
    assert not isinstance(raised.value, UpstreamRejected)
    assert "notification URL" in raised.value.message
