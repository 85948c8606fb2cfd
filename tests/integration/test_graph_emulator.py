"""The Microsoft Graph emulator behaves like the documented Graph v1.0 calendar API."""

from __future__ import annotations

import datetime as dt
import itertools
import threading
import time
from pathlib import Path
from typing import Any

import msal
import pytest
import requests

from emulators.graph import GraphEmulator
from tests.fixtures.graph import GraphClient, WebhookReceiver, graph_http_session

ROOM = "room-a@rooms.example.org"
PROP = "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name calbridgeLink"


def event_body(subject: str = "Planning", day: int = 3, hour: int = 10, **extra: Any) -> dict:
    """A Graph event payload in W. Europe Standard Time (UTC+1 in March)."""
    return {
        "subject": subject,
        "body": {"contentType": "html", "content": "<p>Agenda &amp; notes</p>"},
        "start": {"dateTime": f"2025-03-{day:02d}T{hour:02d}:00:00",
                  "timeZone": "W. Europe Standard Time"},
        "end": {"dateTime": f"2025-03-{day:02d}T{hour + 1:02d}:00:00",
                "timeZone": "W. Europe Standard Time"},
        "location": {"displayName": "Conference Room A"},
        **extra,
    }


WINDOW = {"startDateTime": "2025-03-01T00:00:00Z", "endDateTime": "2025-03-31T00:00:00Z"}


def create(graph: GraphClient, **extra: Any) -> dict:
    response = graph.post(f"/users/{ROOM}/events", json=event_body(**extra))
    assert response.status_code == 201, response.text
    return response.json()


# identity ------------------------------------------------------------------------------------


def test_msal_client_credentials_flow_verifies_the_emulator_ca(graph: GraphClient) -> None:
    emu = graph.emulator
    http = graph_http_session(emu)
    app = msal.ConfidentialClientApplication(
        emu.client_id,
        client_credential=emu.client_secret,
        authority=f"{emu.authority_host}/{emu.tenant_id}",
        http_client=http,
        instance_discovery=False,  # msal would otherwise ask login.microsoftonline.com
    )
    result = app.acquire_token_for_client(scopes=["https://graph.microsoft.com/.default"])
    assert result["token_type"] == "Bearer" and result["expires_in"] == 3599
    me = http.get(f"{emu.graph_url}/users/{ROOM}", timeout=10,
                  headers={"Authorization": f"Bearer {result['access_token']}"})
    assert me.status_code == 200 and me.json()["userPrincipalName"] == ROOM

    bad = msal.ConfidentialClientApplication(
        emu.client_id, client_credential="wrong", http_client=http,
        authority=f"{emu.authority_host}/{emu.tenant_id}", instance_discovery=False,
    ).acquire_token_for_client(scopes=["https://graph.microsoft.com/.default"])
    assert bad["error"] == "invalid_client" and 7000215 in bad["error_codes"]


def test_graph_calls_without_a_valid_token_are_401(graph: GraphClient) -> None:
    url = f"{graph.url}/users/{ROOM}/events"
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        response = graph.http.get(url, headers=headers, timeout=10)
        assert response.status_code == 401
        error = response.json()["error"]
        assert error["code"] == "InvalidAuthenticationToken"
        assert set(error["innerError"]) >= {"date", "request-id", "client-request-id"}


# rooms and events ----------------------------------------------------------------------------


def test_rooms_are_paged_with_top_and_next_link(graph: GraphClient) -> None:
    first = graph.get("/places/microsoft.graph.room", params={"$top": 2}).json()
    assert len(first["value"]) == 2 and "@odata.nextLink" in first
    second = graph.http.get(first["@odata.nextLink"], headers=graph.headers(), timeout=10).json()
    assert len(second["value"]) == 1 and "@odata.nextLink" not in second
    emails = {r["emailAddress"] for r in first["value"] + second["value"]}
    assert ROOM in emails


def test_event_crud_changes_the_change_key_and_honours_time_zones(graph: GraphClient) -> None:
    event = create(graph)
    assert event["type"] == "singleInstance" and event["bodyPreview"] == "Agenda & notes"
    assert event["start"] == {"dateTime": "2025-03-03T09:00:00.0000000", "timeZone": "UTC"}
    assert event["@odata.etag"] == f'W/"{event["changeKey"]}"'
    path = f"/users/{ROOM}/calendar/events/{event['id']}"

    shown = graph.get(path, headers={"Prefer": 'outlook.timezone="Pacific Standard Time"'}).json()
    assert shown["start"] == {"dateTime": "2025-03-03T01:00:00.0000000",
                              "timeZone": "Pacific Standard Time"}

    updated = graph.patch(path, json={"subject": "Renamed", "showAs": "tentative"}).json()
    assert updated["subject"] == "Renamed" and updated["changeKey"] != event["changeKey"]
    stale = graph.patch(path, json={"subject": "x"}, headers={"If-Match": event["@odata.etag"]})
    assert stale.status_code == 412

    assert graph.delete(path).status_code == 204
    missing = graph.get(path)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "ErrorItemNotFound"
    bad = graph.http.post(f"{graph.url}/users/{ROOM}/events", data=b"{not json",
                          headers=graph.headers(**{"Content-Type": "application/json"}))
    assert bad.status_code == 400 and "error" in bad.json()


def test_immutable_ids_are_served_when_preferred(graph: GraphClient) -> None:
    prefer = {"Prefer": 'IdType="ImmutableId"'}
    event = graph.post(f"/users/{ROOM}/events", json=event_body(), headers=prefer).json()
    again = graph.get(f"/users/{ROOM}/events/{event['id']}", headers=prefer).json()
    assert again["id"] == event["id"]
    default = graph.get(f"/users/{ROOM}/events/{event['id']}").json()
    assert default["id"] != event["id"]  # the rest id differs; both address the same event


def test_a_repeated_transaction_id_returns_the_existing_event(graph: GraphClient) -> None:
    first = create(graph, transactionId="booking-42")
    second = create(graph, transactionId="booking-42")
    assert second["id"] == first["id"]
    listed = graph.get(f"/users/{ROOM}/events").json()["value"]
    assert len(listed) == 1


def test_extended_properties_filter_and_expand(graph: GraphClient) -> None:
    wanted = create(graph, singleValueExtendedProperties=[{"id": PROP, "value": "link-1"}])
    create(graph, singleValueExtendedProperties=[{"id": PROP, "value": "link-2"}])
    assert "singleValueExtendedProperties" not in wanted
    params = {
        "$filter": f"singleValueExtendedProperties/Any(ep: ep/id eq '{PROP}' "
        "and ep/value eq 'link-1')",
        "$expand": f"singleValueExtendedProperties($filter=id eq '{PROP}')",
    }
    found = graph.get(f"/users/{ROOM}/events", params=params).json()["value"]
    assert [e["id"] for e in found] == [wanted["id"]]
    assert found[0]["singleValueExtendedProperties"] == [{"id": PROP, "value": "link-1"}]
    bad = graph.get(f"/users/{ROOM}/events", params={"$filter": "startswith(subject,'x')"})
    assert bad.status_code == 400 and bad.json()["error"]["code"]


def test_calendar_view_requires_a_window_and_pages(graph: GraphClient) -> None:
    for day in (3, 4, 5):
        create(graph, day=day)
    create(graph, day=28, hour=8)
    assert graph.get(f"/users/{ROOM}/calendarView").status_code == 400
    params = {"startDateTime": "2025-03-01T00:00:00Z", "endDateTime": "2025-03-10T00:00:00Z",
              "$top": 2, "$select": "subject,start"}
    page = graph.get(f"/users/{ROOM}/calendarView", params=params).json()
    assert len(page["value"]) == 2 and set(page["value"][0]) <= {"@odata.etag", "id",
                                                                  "subject", "start"}
    rest = graph.http.get(page["@odata.nextLink"], headers=graph.headers(), timeout=10).json()
    assert len(rest["value"]) == 1 and "@odata.nextLink" not in rest


# delta ----------------------------------------------------------------------------------------


def test_delta_initial_sync_changes_removals_and_expiry(graph: GraphClient) -> None:
    kept, changed, removed = create(graph, day=3), create(graph, day=4), create(graph, day=5)
    small_pages = {"Prefer": "odata.maxpagesize=2"}
    response = graph.get(f"/users/{ROOM}/calendarView/delta", params=WINDOW,
                         headers=small_pages).json()
    seen = [e["id"] for e in response["value"]]
    assert "@odata.nextLink" in response and "$skiptoken" in response["@odata.nextLink"]
    while "@odata.nextLink" in response:
        response = graph.http.get(response["@odata.nextLink"], timeout=10,
                                  headers=graph.headers(**small_pages)).json()
        seen += [e["id"] for e in response["value"]]
    assert sorted(seen) == sorted([kept["id"], changed["id"], removed["id"]])
    delta_link = response["@odata.deltaLink"]
    assert "$deltatoken" in delta_link

    graph.patch(f"/users/{ROOM}/events/{changed['id']}", json={"subject": "Moved"})
    graph.delete(f"/users/{ROOM}/events/{removed['id']}")
    added = create(graph, day=6)
    round_two = graph.http.get(delta_link, headers=graph.headers(), timeout=10).json()
    by_id = {e["id"]: e for e in round_two["value"]}
    assert set(by_id) == {changed["id"], removed["id"], added["id"]}
    assert by_id[changed["id"]]["subject"] == "Moved"
    assert by_id[removed["id"]]["@removed"] == {"reason": "deleted"}
    next_link = round_two["@odata.deltaLink"]
    assert graph.http.get(next_link, headers=graph.headers(), timeout=10).json()["value"] == []

    assert graph.admin("POST", "/delta/expire").status_code == 200
    gone = graph.http.get(next_link, headers=graph.headers(), timeout=10)
    assert gone.status_code == 410
    assert gone.json()["error"]["code"] == "SyncStateNotFound"
    assert "startDateTime" in gone.headers["Location"]


# batch, faults, throttling ---------------------------------------------------------------------


def test_batch_runs_each_item_through_faults(graph: GraphClient) -> None:
    event = create(graph)
    graph.admin("POST", "/faults", {"match": {"method": "GET", "path_regex": "/calendarView"},
                                    "status": 429, "retry_after": 2, "times": 1})
    batch = {"requests": [
        {"id": "1", "method": "GET", "url": f"/users/{ROOM}/events/{event['id']}"},
        {"id": "2", "method": "GET",
         "url": f"/users/{ROOM}/calendarView?startDateTime=2025-03-01T00:00:00Z"
                "&endDateTime=2025-03-31T00:00:00Z"},
        {"id": "3", "method": "POST", "url": f"/users/{ROOM}/events", "body": event_body(day=7),
         "headers": {"Content-Type": "application/json"}},
        {"id": "4", "method": "DELETE", "url": f"/users/{ROOM}/events/{event['id']}",
         "dependsOn": ["2"]},
    ]}
    answer = graph.post("/$batch", json=batch)
    assert answer.status_code == 200
    statuses = {r["id"]: r for r in answer.json()["responses"]}
    assert statuses["1"]["status"] == 200 and statuses["3"]["status"] == 201
    assert statuses["2"]["status"] == 429 and statuses["2"]["headers"]["Retry-After"] == "2"
    assert statuses["4"]["status"] == 424
    too_many = {"requests": [{"id": str(i), "method": "GET", "url": "/users/" + ROOM}
                             for i in range(21)]}
    assert graph.post("/$batch", json=too_many).status_code == 400


def creates(count: int, prefix: str = "Bulk") -> list[dict[str, Any]]:
    """A `$batch` of independent event creates in ROOM, each with its own transactionId."""
    return [{"id": str(n), "method": "POST", "url": f"/users/{ROOM}/events",
             "headers": {"Content-Type": "application/json"},
             "body": event_body(f"{prefix} {n}", day=3 + n % 20, transactionId=f"{prefix}-{n}")}
            for n in range(count)]


def room_peak(graph: GraphClient) -> int:
    """The most requests the emulator had in flight at once for ROOM."""
    state = graph.admin("GET", "/state").json()
    room_id = next(m["id"] for m in state["mailboxes"] if m["userPrincipalName"] == ROOM)
    return int(graph.admin("GET", "/throttle").json()["peak_concurrency"].get(room_id, 0))


def test_independent_batch_items_run_four_at_a_time(graph: GraphClient) -> None:
    # Graph hands up to four items of a batch to Outlook at once: one batch can meet the
    # mailbox's concurrency limit by itself.
    graph.admin("POST", "/faults", {"match": {"method": "POST", "path_regex": "/events$"},
                                    "latency_ms": 300})
    answer = graph.post("/$batch", json={"requests": creates(6)})
    assert sorted(p["status"] for p in answer.json()["responses"]) == [201] * 6
    assert room_peak(graph) == 4
    graph.admin("POST", "/throttle", {"enabled": True, "concurrency": 2})
    answer = graph.post("/$batch", json={"requests": creates(3, "Squeezed")})
    statuses = sorted(p["status"] for p in answer.json()["responses"])
    assert statuses == [201, 201, 429]
    # Items chained with dependsOn run one at a time.
    graph.admin("POST", "/throttle", {"enabled": False})  # also starts a new peak
    chained = creates(3, "Chained")
    for before, item in itertools.pairwise(chained):
        item["dependsOn"] = [before["id"]]
    answer = graph.post("/$batch", json={"requests": chained})
    assert [p["status"] for p in answer.json()["responses"]] == [201, 201, 201]
    assert room_peak(graph) == 1
    # Every item is also a request of the mailbox's budget: two of five are over a limit
    # of 3 and answer 429 with their own Retry-After inside the 200 answer.
    graph.admin("DELETE", "/faults")
    graph.admin("POST", "/throttle", {"enabled": True, "limit": 3, "window_seconds": 60})
    parts = graph.post("/$batch", json={"requests": creates(5, "Budget")}).json()["responses"]
    assert sorted(p["status"] for p in parts) == [201, 201, 201, 429, 429]
    for part in parts:
        if part["status"] == 429:
            assert part["body"]["error"]["code"] == "ApplicationThrottled"
            assert int(part["headers"]["Retry-After"]) >= 1


def test_a_dropped_batch_answer_was_still_carried_out(graph: GraphClient) -> None:
    graph.admin("POST", "/faults", {"match": {"method": "POST", "path_regex": r"/\$batch$"},
                                    "drop_answer": True, "times": 1})
    batch = {"requests": creates(2, "Lost")}
    with pytest.raises(requests.ConnectionError):
        graph.post("/$batch", json=batch)
    assert sorted(e["subject"] for e in graph.get(f"/users/{ROOM}/events").json()["value"]) == [
        "Lost 0", "Lost 1"]
    # Sent again, the same transactionIds create nothing new.
    again = graph.post("/$batch", json=batch)
    assert [p["status"] for p in again.json()["responses"]] == [201, 201]
    assert len(graph.get(f"/users/{ROOM}/events").json()["value"]) == 2


def test_injected_faults_carry_retry_after_and_latency(graph: GraphClient) -> None:
    graph.admin("POST", "/faults", {"match": {"method": "POST", "mailbox": ROOM},
                                    "status": 503, "retry_after": 3, "times": 2})
    for _ in range(2):
        failed = graph.post(f"/users/{ROOM}/events", json=event_body())
        assert failed.status_code == 503 and failed.headers["Retry-After"] == "3"
        assert failed.json()["error"]["code"] == "ServiceUnavailable"
    assert graph.post(f"/users/{ROOM}/events", json=event_body()).status_code == 201
    graph.admin("POST", "/faults", {"latency_ms": 300, "times": 1})
    started = time.monotonic()
    assert graph.get(f"/users/{ROOM}").status_code == 200
    assert time.monotonic() - started >= 0.3
    assert graph.admin("DELETE", "/faults").status_code == 204


def test_throttling_enforces_request_and_concurrency_limits(graph: GraphClient) -> None:
    graph.admin("POST", "/throttle", {"enabled": True, "limit": 5, "window_seconds": 30})
    statuses = [graph.get(f"/users/{ROOM}/events").status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    throttled = graph.get(f"/users/{ROOM}/events")
    assert throttled.json()["error"]["code"] == "ApplicationThrottled"
    assert int(throttled.headers["Retry-After"]) >= 1
    assert graph.get("/users/room-b@rooms.example.org/events").status_code == 200

    graph.admin("POST", "/throttle", {"enabled": True, "limit": 10_000, "window_seconds": 600,
                                      "concurrency": 4})
    graph.admin("POST", "/faults", {"latency_ms": 500, "times": 8})
    results: list[int] = []
    lock = threading.Lock()

    def call() -> None:
        session = graph_http_session(graph.emulator)
        status = session.get(f"{graph.url}/users/{ROOM}/events", headers=graph.headers(),
                             timeout=10).status_code
        with lock:
            results.append(status)

    threads = [threading.Thread(target=call) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(200) == 4 and results.count(429) == 2


def test_request_counts_by_route_and_mailbox(graph: GraphClient) -> None:
    graph.admin("DELETE", "/requests")
    create(graph)
    graph.get(f"/users/{ROOM}/events")
    graph.get(f"/users/{ROOM}/events")
    counts = graph.admin("GET", "/requests").json()
    assert counts["by_route"]["GET /users/{user}/events"] == 2
    assert counts["by_route"]["POST /users/{user}/events"] == 1
    assert counts["by_mailbox"][ROOM]["GET /users/{user}/events"] == 2


# subscriptions -----------------------------------------------------------------------------------


def subscription(receiver: WebhookReceiver, **extra: Any) -> dict:
    expiry = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
    return {
        "changeType": "created,updated,deleted",
        "notificationUrl": f"{receiver.url}/notify",
        "lifecycleNotificationUrl": f"{receiver.url}/lifecycle",
        "resource": f"users/{ROOM}/events",
        "expirationDateTime": expiry.isoformat().replace("+00:00", "Z"),
        "clientState": "s3cret",
        **extra,
    }


def test_subscription_handshake_success_and_failures(
    graph: GraphClient, webhook_receiver: WebhookReceiver
) -> None:
    created = graph.post("/subscriptions", json=subscription(webhook_receiver))
    assert created.status_code == 201, created.text
    token = webhook_receiver.validations[0]
    assert token.startswith("Validation: Testing client application reachability")
    assert len(webhook_receiver.validations) == 2  # notification and lifecycle URLs

    too_long = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10081)).isoformat()
    assert graph.post("/subscriptions", json=subscription(
        webhook_receiver, expirationDateTime=too_long)).status_code == 400
    webhook_receiver.mode = "wrong"
    wrong = graph.post("/subscriptions", json=subscription(webhook_receiver))
    assert wrong.status_code == 400 and "validationToken" in wrong.json()["error"]["message"]
    webhook_receiver.mode = "500"
    assert graph.post("/subscriptions", json=subscription(webhook_receiver)).status_code == 400

    sid = created.json()["id"]
    renewed = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).isoformat()
    patched = graph.patch(f"/subscriptions/{sid}", json={"expirationDateTime": renewed})
    assert patched.status_code == 200
    assert [s["id"] for s in graph.get("/subscriptions").json()["value"]] == [sid]
    assert graph.delete(f"/subscriptions/{sid}").status_code == 204
    assert graph.get(f"/subscriptions/{sid}").status_code == 404


def test_change_notifications_are_delivered_with_retries(
    graph: GraphClient, webhook_receiver: WebhookReceiver
) -> None:
    sub = graph.post("/subscriptions", json=subscription(webhook_receiver)).json()
    webhook_receiver.fail_next = 1  # the first delivery fails and is retried
    event = create(graph)
    graph.patch(f"/users/{ROOM}/events/{event['id']}", json={"subject": "Changed"})
    received = webhook_receiver.wait_for(2)
    assert len(received) == 2
    notes = [n["value"][0] for n in received]  # type: ignore[index]
    assert {n["changeType"] for n in notes} == {"created", "updated"}
    note = notes[0]
    assert note["subscriptionId"] == sub["id"] and note["clientState"] == "s3cret"
    assert note["tenantId"] == graph.emulator.tenant_id
    assert note["resourceData"]["@odata.type"] == "#Microsoft.Graph.Event"
    assert note["resourceData"]["id"] == event["id"]
    assert note["resource"].endswith(f"/Events/{event['id']}")


def test_lifecycle_notifications_on_demand(
    graph: GraphClient, webhook_receiver: WebhookReceiver
) -> None:
    sid = graph.post("/subscriptions", json=subscription(webhook_receiver)).json()["id"]
    assert graph.admin("POST", f"/subscriptions/{sid}/lifecycle",
                       {"event": "missed"}).status_code == 202
    assert graph.admin("POST", f"/subscriptions/{sid}/lifecycle",
                       {"event": "subscriptionRemoved"}).status_code == 202
    received = webhook_receiver.wait_for(2)
    events = sorted(n["value"][0]["lifecycleEvent"] for n in received)  # type: ignore[index]
    assert events == ["missed", "subscriptionRemoved"]
    assert set(webhook_receiver.paths) == {"/lifecycle"}
    assert graph.get(f"/subscriptions/{sid}").status_code == 404


def test_certificates_are_reused_from_the_cert_dir(tmp_path: Any) -> None:
    first = GraphEmulator(cert_dir=tmp_path).start()
    first.stop()
    ca = (tmp_path / "ca.pem").read_bytes()
    second = GraphEmulator(cert_dir=tmp_path).start()
    try:
        assert (tmp_path / "ca.pem").read_bytes() == ca
        response = graph_http_session(second).get(f"{second.base_url}/_admin/state", timeout=10)
        assert response.status_code == 200
    finally:
        second.stop()


@pytest.mark.parametrize("scope", ["https://graph.microsoft.com/User.Read", "openid"])
def test_token_endpoint_rejects_scopes_other_than_default(graph: GraphClient, scope: str) -> None:
    emu = graph.emulator
    response = graph.http.post(
        f"{emu.authority_host}/{emu.tenant_id}/oauth2/v2.0/token",
        data={"grant_type": "client_credentials", "client_id": emu.client_id,
              "client_secret": emu.client_secret, "scope": scope},
        timeout=10,
    )
    assert response.status_code == 400 and response.json()["error"] == "invalid_scope"


def test_a_json_seed_defines_mailboxes_and_events(tmp_path: Any) -> None:
    seed = tmp_path / "seed.json"
    seed.write_text(
        '{"mailboxes": [{"kind": "room", "userPrincipalName": "lab@rooms.example.org",'
        ' "displayName": "Lab", "capacity": 4, "events": [{"subject": "Seeded",'
        ' "start": {"dateTime": "2025-03-03T10:00:00", "timeZone": "UTC"},'
        ' "end": {"dateTime": "2025-03-03T11:00:00", "timeZone": "UTC"}}]}]}'
    )
    emu = GraphEmulator(cert_dir=tmp_path / "certs", seed=seed, client_secret="other").start()
    try:
        state = graph_http_session(emu).get(f"{emu.base_url}/_admin/state", timeout=10).json()
        assert [(m["userPrincipalName"], m["events"]) for m in state["mailboxes"]] == [
            ("lab@rooms.example.org", 1)
        ]
        assert emu.client_secret == "other"
    finally:
        emu.stop()


def _room_a_events(emulator: GraphEmulator) -> str:
    """The URL of room A's events on this emulator."""
    return f"{emulator.graph_url}/users/room-a@rooms.example.org/events"


def _authorised(emulator: GraphEmulator) -> tuple[Any, dict[str, str]]:
    assert emulator.service is not None
    token = emulator.service.identity.issue_token()
    return graph_http_session(emulator), {"Authorization": f"Bearer {token}"}


def test_events_survive_a_restart_with_a_state_file(tmp_path: Path) -> None:
    state = tmp_path / "events.json"
    with GraphEmulator(port=0, cert_dir=tmp_path / "certs", state_file=state) as first:
        session, headers = _authorised(first)
        made = session.post(_room_a_events(first), headers=headers, timeout=10, json={
            "subject": "Kept",
            "start": {"dateTime": "2031-01-01T09:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2031-01-01T10:00:00", "timeZone": "UTC"}})
        assert made.status_code == 201, made.text
    with GraphEmulator(port=0, cert_dir=tmp_path / "certs", state_file=state) as second:
        session, headers = _authorised(second)
        again = session.get(f"{_room_a_events(second)}/{made.json()['id']}", headers=headers,
                            timeout=10)
        assert again.status_code == 200 and again.json()["subject"] == "Kept"


def test_subscriptions_survive_a_restart_with_a_state_file(
        tmp_path: Path, webhook_receiver: WebhookReceiver) -> None:
    """Graph keeps a subscription until it expires or is deleted: `make serve` restarted
    still notifies calbridge, which has the subscription on record."""
    state = tmp_path / "events.json"
    with GraphEmulator(port=0, cert_dir=tmp_path / "certs", state_file=state) as first:
        session, headers = _authorised(first)
        made = session.post(f"{first.graph_url}/subscriptions", headers=headers, timeout=10,
                            json=subscription(webhook_receiver))
        assert made.status_code == 201, made.text
    with GraphEmulator(port=0, cert_dir=tmp_path / "certs", state_file=state) as second:
        session, headers = _authorised(second)
        kept = session.get(f"{second.graph_url}/subscriptions/{made.json()['id']}",
                           headers=headers, timeout=10)
        assert kept.status_code == 200
        assert kept.json()["expirationDateTime"] == made.json()["expirationDateTime"]
        created = session.post(_room_a_events(second), headers=headers, timeout=10, json={
            "subject": "After the restart",
            "start": {"dateTime": "2031-01-01T09:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2031-01-01T10:00:00", "timeZone": "UTC"}})
        assert created.status_code == 201
        [note] = webhook_receiver.wait_for(1)[0]["value"]  # type: ignore[index]
        assert (note["changeType"], note["subscriptionId"], note["clientState"]) == (
            "created", made.json()["id"], "s3cret")
