"""Resource mappings, bridges, health and stats over HTTP, as the usage guide's curl does."""

from __future__ import annotations

import uuid

import pytest

from calbridge.host.processes import free_port
from calbridge.store.clients import development_connection_string
from tests.fixtures.booking import BookingApi
from tests.fixtures.host import E2E_BOOKING_KEY, Api, HostProcess, host_env


@pytest.fixture(scope="module")
def resources(e2e_booking_system):
    """Makes booking system resources: mappings are only made between calendars that exist."""
    client = BookingApi(e2e_booking_system.base_url, E2E_BOOKING_KEY)

    def make(prefix: str) -> str:
        resource_id = f"{prefix}_{uuid.uuid4().hex[:8]}"
        made = client.request("POST", "/api/resources", json={"id": resource_id,
                                                              "name": resource_id})
        assert made.status_code == 201, made.text
        return resource_id

    yield make
    client.close()


@pytest.fixture
def guide_body(resources):
    """The guide's mapping body, between two resources that exist."""

    def body(**overrides: object) -> dict:
        return {"booking_system_resource_id": resources("room"),
                "calendar_system": "booking_system_cal",
                "calendar_resource_id": resources("cal"),
                "calendar_resource_name": "Conference Room A",
                "active": True, **overrides}

    return body


@pytest.fixture(scope="module")
def api(azurite, e2e_booking_system, tmp_path_factory):
    # A second booking-system bridge stands in as the calendar side here: mappings only
    # need a configured calendar bridge.
    folder = tmp_path_factory.mktemp("mappings-host")
    env = host_env(azurite, e2e_booking_system,
                   CALBRIDGE_BRIDGES="booking_system,booking_system_cal=booking_system",
                   CALBRIDGE_TABLE_PREFIX="m" + uuid.uuid4().hex[:10])
    host = HostProcess(env, folder / "host.log").start()
    yield Api(host.url), host
    host.stop()


def test_create_then_read_a_mapping(api, guide_body) -> None:
    client, _ = api
    body = guide_body()
    created = client("POST", "/mappings/resources", json=body)
    assert created.status_code == 201, created.text
    mapping = created.json()["mapping"]
    assert created.json()["success"] is True and created.json()["id"] == mapping["id"]
    assert created.json()["verified"] is True and mapping["verified"] is True
    assert "warning" not in created.json()
    assert {k: mapping[k] for k in body} == body
    assert mapping["sync_direction"] == "both" and mapping["conflict_policy"] == "origin_wins"

    one = client("GET", f"/mappings/resources/{mapping['id']}").json()["mapping"]
    assert one == mapping
    by_resource = client("GET", f"/mappings/resources/by-resource/"
                                f"{body['booking_system_resource_id']}").json()
    assert [m["id"] for m in by_resource["mappings"]] == [mapping["id"]]
    listed = client("GET", "/mappings/resources").json()
    assert mapping["id"] in [m["id"] for m in listed["mappings"]]
    assert listed["count"] == len(listed["mappings"])


def test_the_same_pair_twice_is_409(api, guide_body) -> None:
    client, _ = api
    body = guide_body()
    first = client("POST", "/mappings/resources", json=body)
    second = client("POST", "/mappings/resources", json=body)
    assert second.status_code == 409
    error = second.json()["error"]
    assert error["code"] == "conflict" and error["details"]["existing_id"] == first.json()["id"]


def test_update_and_delete(api, guide_body) -> None:
    client, _ = api
    mapping_id = client("POST", "/mappings/resources", json=guide_body()).json()["id"]
    updated = client("PUT", f"/mappings/resources/{mapping_id}",
                     json={"active": False, "conflict_policy": "manual"})
    assert updated.status_code == 200
    assert updated.json()["mapping"]["active"] is False
    assert updated.json()["mapping"]["conflict_policy"] == "manual"
    inactive = client("GET", "/mappings/resources", params={"active": "false"}).json()
    assert mapping_id in [m["id"] for m in inactive["mappings"]]

    assert client("DELETE", f"/mappings/resources/{mapping_id}").status_code == 200
    gone = client("GET", f"/mappings/resources/{mapping_id}")
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "not_found"
    assert client("DELETE", f"/mappings/resources/{mapping_id}").status_code == 404


@pytest.mark.parametrize(("body", "status", "field"), [
    (b"{not json", 400, None),
    (b"", 400, None),
    (b"[1, 2]", 422, "body"),
    (b'{"booking_system_resource_id": 5, "calendar_system": "booking_system_cal",'
     b' "calendar_resource_id": "x"}', 422, "booking_system_resource_id"),
    (b'{"calendar_system": "booking_system_cal", "calendar_resource_id": "x"}', 422,
     "booking_system_resource_id"),
    (b'{"booking_system_resource_id": "r", "calendar_system": "nowhere",'
     b' "calendar_resource_id": "x"}', 422, "calendar_system"),
    (b'{"booking_system_resource_id": "r", "calendar_system": "booking_system_cal",'
     b' "calendar_resource_id": "x", "active": "maybe"}', 422, "active"),
    (b'{"booking_system_resource_id": "r", "calendar_system": "booking_system_cal",'
     b' "calendar_resource_id": "x", "colour": "red"}', 422, "colour"),
    (b'{"booking_system_resource_id": "r", "calendar_system": "booking_system_cal",'
     b' "calendar_resource_id": "x", "conflict_policy": "coin_toss"}', 422, "conflict_policy"),
    # Ids that cannot be calendar ids: URL syntax, a step up the path, control characters.
    (b'{"booking_system_resource_id": "a?b", "calendar_system": "booking_system_cal",'
     b' "calendar_resource_id": "x"}', 422, "booking_system_resource_id"),
    (b'{"booking_system_resource_id": "r", "calendar_system": "booking_system_cal",'
     b' "calendar_resource_id": "../x"}', 422, "calendar_resource_id"),
    (b'{"booking_system_resource_id": "r", "calendar_system": "booking_system_cal",'
     b' "calendar_resource_id": "room#1"}', 422, "calendar_resource_id"),
    (b'{"booking_system_resource_id": "a\\u0007b", "calendar_system": "booking_system_cal",'
     b' "calendar_resource_id": "x"}', 422, "booking_system_resource_id"),
])
def test_bad_input_is_a_clear_4xx_and_stores_nothing(api, body: bytes, status: int,
                                                     field: str | None) -> None:
    client, _ = api
    before = client("GET", "/mappings/resources").json()["count"]
    answer = client("POST", "/mappings/resources", data=body,
                    headers={"Content-Type": "application/json"})
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert answer.json()["success"] is False and error["message"]
    if field:
        assert field in [f["field"] for f in error["details"]["fields"]]
    assert client("GET", "/mappings/resources").json()["count"] == before


@pytest.mark.parametrize("field", ["booking_system_resource_id", "calendar_resource_id"])
def test_a_calendar_the_bridge_does_not_know_is_422(api, guide_body, field: str) -> None:
    client, _ = api
    before = client("GET", "/mappings/resources").json()["count"]
    missing = f"nowhere_{uuid.uuid4().hex[:8]}"
    answer = client("POST", "/mappings/resources", json=guide_body(**{field: missing}))
    assert answer.status_code == 422, answer.text
    [named] = answer.json()["error"]["details"]["fields"]
    assert named["field"] == field and missing in named["message"]
    assert "does not exist" in named["message"]
    assert client("GET", "/mappings/resources").json()["count"] == before

    # Moving an existing mapping onto it is refused the same way, and changes nothing.
    mapping = client("POST", "/mappings/resources", json=guide_body()).json()["mapping"]
    moved = client("PUT", f"/mappings/resources/{mapping['id']}", json={field: missing})
    assert moved.status_code == 422, moved.text
    assert moved.json()["error"]["details"]["fields"][0]["field"] == field
    assert client("GET", f"/mappings/resources/{mapping['id']}").json()["mapping"] == mapping


def test_oversized_body_is_413(api, guide_body) -> None:
    client, _ = api
    body = guide_body(calendar_resource_name="x" * (1024 * 1024 + 10))
    answer = client("POST", "/mappings/resources", json=body)
    assert answer.status_code == 413 and answer.json()["error"]["code"] == "payload_too_large"


def test_bad_update_changes_nothing(api, guide_body) -> None:
    client, _ = api
    mapping = client("POST", "/mappings/resources", json=guide_body()).json()["mapping"]
    for body in ({"active": None}, {"sync_direction": "sideways"}, {"id": "forged"}):
        answer = client("PUT", f"/mappings/resources/{mapping['id']}", json=body)
        assert answer.status_code == 422, (body, answer.text)
    assert client("GET", f"/mappings/resources/{mapping['id']}").json()["mapping"] == mapping
    assert client("PUT", "/mappings/resources/unknown-id", json={"active": False}
                  ).status_code == 404
    for odd in ("a%2Fb", "a%23b", "%2E%2E", "x" * 2000, "bad'quote"):
        answer = client("GET", f"/mappings/resources/{odd}")
        assert answer.status_code == 404, (odd, answer.text)


def test_management_needs_the_function_key(api, guide_body) -> None:
    _, host = api
    anonymous = Api(host.url, key=None)
    answer = anonymous("GET", "/mappings/resources")
    assert answer.status_code == 401 and answer.json()["success"] is False
    assert anonymous("POST", "/mappings/resources", json=guide_body()).status_code == 401


def test_bridges_and_calendars(api) -> None:
    client, _ = api
    bridges = client("GET", "/bridges").json()
    names = {b["name"]: b for b in bridges["bridges"]}
    assert set(names) == {"booking_system", "booking_system_cal"}
    assert names["booking_system"]["type"] == "booking_system"
    assert names["booking_system"]["enabled"] is True
    assert "write" in names["booking_system"]["capabilities"]

    calendars = client("GET", "/bridges/booking_system/calendars").json()
    assert {"room_101", "room_102"} <= {c["id"] for c in calendars["calendars"]}
    unknown = client("GET", "/bridges/nowhere/calendars")
    assert unknown.status_code == 404 and "nowhere" in unknown.json()["error"]["message"]


def test_health_reports_bridges_storage_and_counts(api) -> None:
    client, _ = api
    answer = client("GET", "/bridges/health")
    assert answer.status_code == 200
    report = answer.json()
    assert report["success"] is True and report["storage"]["status"] == "healthy"
    booking = report["bridges"]["booking_system"]
    assert booking["status"] == "healthy" and booking["api_accessible"] is True
    assert booking["last_response_time"].endswith("s")
    assert {"total", "active", "pending", "errors"} <= set(report["mappings"])


def test_stats_start_at_zero(api) -> None:
    client, _ = api
    stats = client("GET", "/bridge/stats").json()["statistics"]
    assert stats["summary"] == {"pending": 0, "synced": 0, "error": 0, "conflict": 0,
                                "cancelled": 0, "deleted": 0}
    assert stats["total"] == 0


def test_a_mapping_survives_a_restart(api, guide_body) -> None:
    client, host = api
    mapping_id = client("POST", "/mappings/resources", json=guide_body()).json()["id"]
    host.restart()
    client = Api(host.url)
    assert client("GET", f"/mappings/resources/{mapping_id}").status_code == 200


def test_health_is_503_when_storage_is_unreachable(azurite, e2e_booking_system,
                                                   tmp_path) -> None:
    dead = development_connection_string(blob=free_port(), queue=free_port(), table=free_port())
    host = HostProcess(host_env(azurite, e2e_booking_system, AzureWebJobsStorage=dead),
                       tmp_path / "host.log").start()
    try:
        answer = Api(host.url)("GET", "/bridges/health")
        assert answer.status_code == 503
        assert answer.json()["storage"]["status"] == "unhealthy"
        listing = Api(host.url)("GET", "/mappings/resources")
        assert listing.status_code == 503 and listing.json()["success"] is False
    finally:
        host.stop()
