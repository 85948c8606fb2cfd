"""Bad input never answers 5xx: every route that reads a body, driven over HTTP with a
fixed corpus of nasty bodies and a bounded, derandomized hypothesis run, and every route
that takes an id, driven with odd ids, against a running host with both real bridges.
Each answer is below 500, each error is the JSON envelope, the host log holds no
traceback, and nothing stored, synced or queued changes."""

from __future__ import annotations

import base64
import itertools
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calbridge.bridges.booking_system.webhooks import signature_for
from calbridge.config import Settings
from calbridge.functions.contract import contract_of
from calbridge.host.app import load_app
from calbridge.host.azurite import Azurite
from calbridge.model import ResourceMapping, new_id
from calbridge.store import Storage
from emulators.graph import GraphEmulator
from examples.booking_system import BookingSystemServer
from tests.fixtures.booking import BookingApi
from tests.fixtures.graph import GraphClient, reset_graph
from tests.fixtures.host import E2E_BOOKING_KEY, Api, HostProcess
from tests.fixtures.two_bridges import RESOURCE, ROOM, book, outlook_events, start_bridge

SECRET = "bad-input-webhook-secret"
ROUTE_PARAM = re.compile(r"\{(\w+)\}")


@dataclass
class World:
    host: HostProcess
    api: Api
    graph: GraphClient
    bookings: BookingApi


@pytest.fixture(scope="module")
def world(azurite: Azurite, e2e_booking_system: BookingSystemServer,
          graph_emulator: GraphEmulator, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[World]:
    """One host for the module, with both bridges, push on and signed booking webhooks,
    room_101 mapped, and one booking already synced to Outlook and subscribed to: state
    bad input must leave alone. Each test compares it before and after."""
    graph = reset_graph(graph_emulator)
    bookings = BookingApi(e2e_booking_system.base_url, E2E_BOOKING_KEY)
    host, api = start_bridge(azurite, e2e_booking_system, graph,
                             tmp_path_factory.mktemp("bad-input"), push=True,
                             BOOKING_SYSTEM_WEBHOOK_SECRET=SECRET)
    try:
        book(bookings, "Kept through the fuzzing")
        first = api("POST", "/bridges/sync/booking_system/outlook")
        assert first.status_code == 200 and first.json()["results"]["created"] == 1
        subscribed = api("POST", "/webhook/create", json={"calendar_id": ROOM})
        assert subscribed.status_code == 201, subscribed.text
        yield World(host, api, graph, bookings)
    finally:
        host.stop()
        bookings.close()
        graph.http.close()


# ------------------------------------------------------------------ what is driven


def body_routes() -> list[tuple[str, str]]:
    """(method, route) of every trigger that declares a JSON body (`@api(body=...)`): new
    ones are fuzzed without touching this test. The status page's forms (url-encoded) are
    checked by its own tests."""
    return sorted((method, function.route) for function in load_app("function_app").http
                  if (contract := contract_of(function.handler)) and contract.body is not None
                  and getattr(contract.body, "media_type", "application/json")
                  == "application/json"
                  for method in function.methods if method in ("POST", "PUT", "PATCH"))


def targets(route: str, values: dict[str, list[str]]) -> list[str]:
    """Paths for a route template, each parameter filled with each of its values."""
    names = ROUTE_PARAM.findall(route)
    paths = []
    for combination in itertools.product(*(values[name] for name in names)):
        path = route
        for name, value in zip(names, combination, strict=True):
            path = path.replace("{" + name + "}", value)
        paths.append("/" + path)
    return paths


def body_targets(api: Api) -> list[tuple[str, str]]:
    values = {"bridge": ["outlook", "booking_system"], "mapping_id": [api.mapping_id],
              "link_id": [new_id()], "source_bridge": ["booking_system"],
              "target_bridge": ["outlook"]}
    return [(method, path) for method, route in body_routes()
            for path in targets(route, values)]


def call(api: Api, method: str, path: str, **kwargs: Any) -> requests.Response:
    """One request on its own connection, with the function key: the local host answers
    the next request on a kept-alive connection about 40 ms late (headers and body go out
    as two writes), which would stretch these 1,200 requests from seconds to a minute."""
    headers = {**api.session.headers, **kwargs.pop("headers", {})}
    return requests.request(method, api.base_url + path, headers=headers, timeout=30,
                            **kwargs)


def send(api: Api, method: str, path: str, body: bytes) -> requests.Response:
    """A raw body, signed as the booking system signs it where that is checked first."""
    headers = {"Content-Type": "application/json"}
    if path.endswith("/webhook/booking_system"):
        stamp = str(int(time.time()))
        headers.update({"X-Booking-Timestamp": stamp,
                        "X-Booking-Signature": signature_for(SECRET, stamp, body)})
    return call(api, method, path, data=body, headers=headers)


def assert_answered_well(answer: requests.Response, what: str) -> None:
    assert answer.status_code < 500, f"{what}: {answer.status_code} {answer.text[:300]}"
    if answer.status_code >= 400:
        assert answer.headers["Content-Type"].startswith("application/json"), what
        envelope = answer.json()
        assert envelope["success"] is False, what
        assert isinstance(envelope["error"]["code"], str) and envelope["error"]["message"], what


def log_size(world: World) -> int:
    return world.host.log_path.stat().st_size


def assert_no_traceback(world: World, since: int) -> None:
    """Nothing the host logged since byte `since` (this test's requests) is a traceback."""
    with world.host.log_path.open("rb") as log:
        log.seek(since)
        text = log.read().decode(errors="replace")
    assert "Traceback" not in text, text[text.find("Traceback"):][:3000]


def state(world: World) -> dict[str, Any]:
    """What a user would look at: mappings, subscriptions, pending work, both calendars."""
    api, graph, bookings = world.api, world.graph, world.bookings
    subscriptions = api("GET", "/webhook/subscriptions").json()["subscriptions"]
    return {
        "mappings": api("GET", "/mappings/resources").json()["mappings"],
        "subscriptions": [(s["id"], s["calendar_id"], s["expires_at"]) for s in subscriptions],
        "pending": api("GET", "/bridge/pending").json()["count"],
        "outlook": sorted((e["id"], e["subject"], e["start"]["dateTime"])
                          for e in outlook_events(graph)),
        "bookings": sorted((b["id"], b["title"], b["active"])
                           for b in bookings.list_all(resource_id=RESOURCE)),
    }


# ------------------------------------------------------------------ corpus

DEEP = 100_000
NASTY_BODIES: list[bytes] = [
    b"[" * DEEP,
    b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
    b"[" * 40 + b"]" * 40,  # well-formed, deeper than any body calbridge reads
    b'{"dry_run": ' + b"9" * 5000 + b"}",
    b'{"calendar_id": ' + b"7" * 4000 + b"}",
    b'{"calendar_id": 1e999}',
    b'{"dry_run": NaN}', b'{"winner": Infinity}', b"-Infinity",
    b'{"calendar_id": "\\ud800"}', b'{"\\udc00": 1}', b'{"resource_ids": ["x\\udfff"]}',
    b'{"booking_system_resource_id": "\\ud800", "calendar_system": "outlook", '
    b'"calendar_resource_id": "room-b@rooms.example.org"}',
    b'{"from_date": "0001-01-01", "to_date": "0001-01-02"}',
    b'{"from_date": "9999-12-30", "to_date": "9999-12-31"}',
    b'{"from_date": "9999-12-31T00:00:00-14:00", "to_date": "9999-12-31T23:59:59-14:00"}',
    b'{"from_date": "0001-01-01T00:00:00+14:00", "to_date": "0001-01-02T00:00:00+14:00"}',
    b"[" + b"1," * 200_000 + b"1]",
    b'"text"', b"null", b"0", b"true", b"{", b"\xff\xfe", b"\xed\xa0\x80",
    b'{"calendar_id": 1, "winner": [], "booking_system_resource_id": {}, "dry_run": "x"}',
    b'{"resource_ids": "room_101"}', b'{"active": "yes", "sync_direction": 5}',
    json.dumps({"resource_ids": ["r"] * 5000}).encode(),
    json.dumps({"calendar_id": "x" * 100_000}).encode(),
    b'{"calendar_id": "\\u0000"}',
    # Graph notification shapes
    b'{"value": [{"subscriptionId": "\\ud800", "clientState": "\\udc00", '
    b'"changeType": "created", "resource": "Users/\\ud800/Events/x"}]}',
    b'{"value": [{"subscriptionId": "s", "changeType": [], "resource": "Users/a/Events/b"}]}',
    b'{"value": [{"subscriptionId": "s", "lifecycleEvent": {"a": 1}}]}',
    json.dumps({"value": [{"subscriptionId": "s" * 100_000, "changeType": "created",
                           "resource": "Users/a/Events/b"}]}).encode(),
    b'{"value": [{"subscriptionId": "s", "changeType": "created", "resource": "Users/a/Events/b",'
    b' "resourceData": {"id": ' + b"1" * 80 + b"}}]}",
    json.dumps({"value": [{}] * 20_000}).encode(),
    # booking system notification shapes
    json.dumps({"event_type": "created", "event": {"id": "i" * 100_000,
                                                   "resource_id": RESOURCE}}).encode(),
    b'{"event_type": "created", "event": {"id": "\\ud800", "resource_id": "room_101"}}',
    b'{"event_type": [], "event": {"id": 1, "resource_id": "room_101"}}',
    b'{"event_type": "created", "event": {"id": ' + b"9" * 5000 + b', "resource_id": "r"}}',
    b'{"event_type": "created", "event": {"id": "\\u0000", "resource_id": "room_101"}}',
]


def test_nasty_bodies_get_a_4xx_envelope_and_change_nothing(world: World) -> None:
    api = world.api
    driven = body_targets(api)
    # Every body reader of the guide's API and both webhook receivers are among them.
    assert {("POST", "/mappings/resources"), ("POST", "/bridges/webhook/outlook"),
            ("POST", "/bridges/webhook/booking_system"), ("POST", "/webhook/create"),
            ("POST", "/bridges/sync/booking_system/outlook")} <= set(driven)
    before, since = state(world), log_size(world)
    for (method, path), body in itertools.product(driven, NASTY_BODIES):
        answer = send(api, method, path, body)
        what = f"{method} {path} {body[:60]!r}"
        assert_answered_well(answer, what)
        assert 400 <= answer.status_code < 500, f"{what}: {answer.status_code}"
    assert state(world) == before
    assert_no_traceback(world, since)
    again = api("POST", "/bridges/sync/booking_system/outlook").json()["results"]
    assert (again["processed"], again["errors"]) == (0, 0)  # nothing lost, nothing half-done


# ------------------------------------------------------------------ generated bodies

FIELDS = ["booking_system_resource_id", "calendar_system", "calendar_resource_id",
          "calendar_resource_name", "active", "sync_direction", "conflict_policy",
          "from_date", "to_date", "resource_ids", "dry_run", "winner", "calendar_id",
          "value", "subscriptionId", "clientState", "changeType", "lifecycleEvent",
          "resource", "resourceData", "id", "event_type", "event", "resource_id"]
# JSON text, not values: numbers Python cannot print, lone surrogates, NaN.
LEAVES = st.one_of(
    st.sampled_from(["null", "true", "false", "NaN", "-Infinity", "1e999", "-0", "0.5",
                     '"0001-01-01"', '"9999-12-31"', '"9999-12-31T23:59:59-14:00"', '""']),
    st.integers(min_value=1, max_value=6000).map(lambda n: "9" * n),
    st.integers(min_value=-(10**6), max_value=10**6).map(str),
    st.integers(min_value=0xD800, max_value=0xDFFF).map(lambda c: f'"x\\u{c:04x}"'),
    st.text(max_size=12).map(json.dumps),
    st.integers(min_value=0, max_value=3000).map(lambda n: json.dumps("x" * n)),
)
JSON_TEXT = st.recursive(LEAVES, lambda inner: st.one_of(
    st.lists(inner, max_size=4).map(lambda items: "[" + ",".join(items) + "]"),
    st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=4), inner, max_size=4).map(
        lambda d: "{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in d.items()) + "}")),
    max_leaves=12)
BODIES = st.tuples(
    st.dictionaries(st.sampled_from(FIELDS), JSON_TEXT, min_size=1, max_size=4),
    st.sampled_from([0, 0, 0, 33, 5000])).map(
    lambda parts: ("[" * parts[1] + "{" + ",".join(f'"{k}":{v}' for k, v in parts[0].items())
                   + "}" + "]" * parts[1]).encode())


@settings(max_examples=40, derandomize=True, database=None, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(body=BODIES)
def test_generated_bodies_never_answer_5xx(world: World, body: bytes) -> None:
    since = log_size(world)
    for method, path in body_targets(world.api):
        assert_answered_well(send(world.api, method, path, body),
                             f"{method} {path} {body[:80]!r}")
    assert_no_traceback(world, since)


# ------------------------------------------------------------------ odd ids and queries

ODD_IDS = ["a%3Fb", "..%2Fx", "../x", "%00", "x" * 5000, "%ED%A0%80", "%FF", "%2F", "a%23b",
           "%27%22%3Cb%3E", "%20"]
# Query parameters the API reads, and values no client should send (already encoded).
QUERIES = [("GET", "/bridge/completed", ["limit", "page_token", "status"]),
           ("GET", "/mappings/resources", ["active", "calendar_system"]),
           ("GET", "/bridge/holds", ["status"]),
           ("POST", "/bridge/process-pending", ["force"]),
           ("POST", "/polling/initialize", ["force"])]
ODD_QUERY_VALUES = ["9" * 5000, "%C2%B2", "-1", "%00", "x" * 5000, "%ED%A0%80",
                    base64.urlsafe_b64encode(b"[" * 5000).decode(),
                    base64.urlsafe_b64encode(b'{"PartitionKey": "a\\nb"}').decode()]


def test_odd_ids_and_query_values_get_a_4xx_envelope_and_change_nothing(world: World) -> None:
    api = world.api
    harmless = {"bridge": "outlook", "name": "outlook", "mapping_id": new_id(),
                "resource_id": RESOURCE, "item_type": "event", "item_id": "no-such-booking",
                "link_id": new_id(), "hold_id": new_id(), "subscription_id": new_id(),
                "source_bridge": "booking_system", "target_bridge": "outlook"}
    before, since = state(world), log_size(world)
    driven = [(method, path) for function in load_app("function_app").http
              for odd_one in ROUTE_PARAM.findall(function.route)
              for method in sorted(function.methods)
              for path in targets(function.route, {
                  **{name: [harmless[name]] for name in ROUTE_PARAM.findall(function.route)},
                  odd_one: ODD_IDS})]
    driven += [(method, f"{path}?{name}={value}") for method, path, names in QUERIES
               for name in names for value in ODD_QUERY_VALUES]
    assert len(driven) > 200
    for method, path in driven:
        answer = call(api, method, path, json={} if method in ("POST", "PUT") else None)
        assert_answered_well(answer, f"{method} {path[:120]}")
    assert state(world) == before
    assert_no_traceback(world, since)


# ------------------------------------------------------------------ refused upstream


def test_a_calendar_id_graph_refuses_is_a_422_naming_it(world: World) -> None:
    api = world.api
    # A mapping stored before calbridge checked calendars: an id with a slash passes the
    # syntax check, reaches Graph as given, and Graph refuses the resource it makes.
    odd = "rooms/a@example.org"
    storage = Storage(Settings.from_env(world.host.env))
    storage.mappings.add(ResourceMapping(booking_system_resource_id="room_202",
                                         calendar_system="outlook", calendar_resource_id=odd))
    subscriptions_before = api("GET", "/webhook/subscriptions").json()["subscriptions"]
    since = log_size(world)
    for path in ("/webhook/create", "/bridges/outlook/subscriptions"):
        answer = api("POST", path, json={"calendar_id": odd})
        assert answer.status_code == 422, answer.text
        error = answer.json()["error"]
        assert error["code"] == "validation_error"
        assert [f["field"] for f in error["details"]["fields"]] == ["calendar_id"]
        assert odd in error["message"] and error["details"]["upstream"]["status"] == 400
    assert api("GET", "/webhook/subscriptions").json()["subscriptions"] == subscriptions_before
    graph_state = world.graph.admin("GET", "/state").json()
    assert len(graph_state["subscriptions"]) == len(subscriptions_before)
    assert_no_traceback(world, since)
