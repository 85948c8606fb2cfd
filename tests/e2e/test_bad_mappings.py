"""One bad mapping never stops the others: with the guide's own example mapping present
(its booking resource and mailbox exist nowhere), every run answers 200, names it, and
the good mapping beside it syncs; mappings are checked against both systems when made."""

from __future__ import annotations

from typing import Any

import pytest

from examples.booking_system import BookingSystemServer
from tests.fixtures.booking import BookingApi
from tests.fixtures.graph import GraphClient
from tests.fixtures.host import Api
from tests.fixtures.two_bridges import (
    GUIDE_MAPPING,
    RESOURCE,
    ROOM,
    book,
    booking_outage,
    graph_outage,
    outlook_events,
    stamp,
)


@pytest.fixture
def bridge(mapped_host: Api, e2e_booking_system: BookingSystemServer,
           graph: GraphClient) -> Api:
    """room_101 ↔ room A, and the guide's example beside it, stored while neither system
    could be asked whether its calendars exist (so it is kept, unverified)."""
    booking_outage(e2e_booking_system)
    graph_outage(graph)
    created = mapped_host("POST", "/mappings/resources", json=GUIDE_MAPPING)
    assert created.status_code == 201, created.text
    assert created.json()["verified"] is False, created.text
    mapped_host.bad_id = created.json()["id"]  # type: ignore[attr-defined]
    return mapped_host


def call(bridge: Api, method: str, path: str) -> dict[str, Any]:
    answer = bridge(method, path)
    assert answer.status_code == 200, f"{method} {path}: {answer.text}"
    assert answer.json()["success"] is True
    return answer.json()


def failed(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The failed mappings an answer names, by mapping id."""
    block = answer.get("results", answer)
    return {row["resource_mapping_id"]: row for row in block["failed_mappings"]}


def test_every_run_names_the_bad_mapping_and_syncs_the_good_one(
        bridge: Api, bookings: BookingApi, graph: GraphClient) -> None:
    bad = bridge.bad_id  # type: ignore[attr-defined]
    book(bookings, "Council meeting")
    walk_in = graph.post(f"/users/{ROOM}/events", json={
        "subject": "Walk-in", "start": {"dateTime": stamp(4)[:-1], "timeZone": "UTC"},
        "end": {"dateTime": stamp(5)[:-1], "timeZone": "UTC"}})
    assert walk_in.status_code == 201, walk_in.text

    planned = call(bridge, "POST", "/sync/populate-mapping")
    assert [item["title"] for item in planned["results"]["items"]] == ["Council meeting"]
    row = failed(planned)[bad]
    assert row["resource_id"] == "room_123" and row["end"] == "a"
    assert row["bridge"] == "booking_system" and row["calendar_id"] == "room_123"
    assert "'room_123' does not exist" in row["error"]

    unlinked = call(bridge, "GET", "/sync/outlook-events")
    assert [e["title"] for e in unlinked["events"]] == ["Walk-in"]
    assert bad in failed(unlinked)

    to_outlook = call(bridge, "POST", "/bridges/sync/booking_system/outlook")["results"]
    assert (to_outlook["created"], to_outlook["errors"]) == (1, 1)
    assert bad in failed(to_outlook) and to_outlook["success_rate"] == "50%"
    assert {e["subject"] for e in outlook_events(graph)} == {"Council meeting", "Walk-in"}

    from_outlook = call(bridge, "POST", "/bridges/sync/outlook/booking_system")["results"]
    assert (from_outlook["created"], from_outlook["errors"]) == (1, 1)
    assert bad in failed(from_outlook)
    assert {b["title"] for b in bookings.list_all(resource_id=RESOURCE)} == {
        "Council meeting", "Walk-in"}

    # A cancelled booking's deletion follows for the good mapping.
    [council] = [b for b in bookings.list_all(resource_id=RESOURCE)
                 if b["title"] == "Council meeting"]
    assert bookings.request("DELETE", f"/api/events/{council['id']}").status_code == 200
    deletions = call(bridge, "POST", "/bridges/sync-deletions")["results"]
    assert deletions["booking_system_deletions"] + deletions["outlook_deletions"] == 1
    assert deletions["errors"] == 1 and bad in failed(deletions)
    assert [e["subject"] for e in outlook_events(graph)] == ["Walk-in"]

    # The other runs over every mapping say the same, and answer 200.
    for method, path in (("POST", "/sync/to-outlook"), ("POST", "/sync/from-outlook"),
                         ("GET", "/sync/pending-items"), ("POST", "/booking/process-imports"),
                         ("POST", "/bridges/poll-changes"), ("POST", "/polling/initialize"),
                         ("POST", "/bridges/process-deletion-queue"),
                         ("DELETE", "/bridge/cleanup-orphaned")):
        answer = call(bridge, method, path)
        if "process-deletion-queue" in path or "cleanup" in path:
            continue  # nothing owed for the bad mapping: no run to report
        assert bad in failed(answer), f"{method} {path}: {answer}"
        assert bridge.mapping_id not in failed(answer)  # type: ignore[attr-defined]

    # The mapping says why it is not synced.
    shown = call(bridge, "GET", f"/mappings/resources/{bad}")["mapping"]
    assert shown["verified"] is False and shown["missing_end"] == "a"
    assert "booking_system_resource_id" in shown["verification_error"]
    assert "calendar_resource_id" in shown["verification_error"]


def test_health_is_degraded_naming_the_mapping_that_cannot_sync(bridge: Api) -> None:
    bad = bridge.bad_id  # type: ignore[attr-defined]
    report = bridge("GET", "/bridges/health").json()
    assert report["success"] is True and report["status"] == "degraded"
    [problem] = report["unsyncable_mappings"]
    assert problem["resource_mapping_id"] == bad and problem["reason"] == "calendar_missing"
    assert (problem["bridge"], problem["calendar_id"]) == ("booking_system", "room_123")
    assert report["bridges"]["booking_system"]["status"] == "degraded"
    assert report["bridges"]["booking_system"]["unsyncable_mappings"] == [bad]
    assert report["bridges"]["outlook"]["status"] == "healthy"
    assert report["resource_mappings"]["unsyncable"] == 1

    # Once the mapping is gone, the bridge is healthy again.
    assert bridge("DELETE", f"/mappings/resources/{bad}").status_code == 200
    assert bridge("GET", "/bridges/health").json()["status"] == "healthy"


def test_a_calendar_that_does_not_exist_is_refused(mapped_host: Api) -> None:
    before = call(mapped_host, "GET", "/mappings/resources")["count"]
    for body, field, missing, system in (
            ({**GUIDE_MAPPING, "booking_system_resource_id": "room_102"},
             "calendar_resource_id", "conference-room-a@company.com", "outlook"),
            ({**GUIDE_MAPPING, "calendar_resource_id": "room-b@rooms.example.org"},
             "booking_system_resource_id", "room_123", "booking_system")):
        answer = mapped_host("POST", "/mappings/resources", json=body)
        assert answer.status_code == 422, answer.text
        [named] = answer.json()["error"]["details"]["fields"]
        assert named["field"] == field
        assert named["message"] == f"{field}: {system} says {missing!r} does not exist"
    assert call(mapped_host, "GET", "/mappings/resources")["count"] == before

    moved = mapped_host("PUT", f"/mappings/resources/{mapped_host.mapping_id}",  # type: ignore[attr-defined]
                        json={"calendar_resource_id": "conference-room-a@company.com"})
    assert moved.status_code == 422, moved.text
    assert moved.json()["error"]["details"]["fields"][0]["field"] == "calendar_resource_id"


def test_a_booking_system_that_cannot_be_reached_keeps_the_mapping_unverified(
        mapped_host: Api, e2e_booking_system: BookingSystemServer, bookings: BookingApi,
        graph: GraphClient) -> None:
    booking_outage(e2e_booking_system)
    created = mapped_host("POST", "/mappings/resources", json={
        "booking_system_resource_id": "room_102", "calendar_system": "outlook",
        "calendar_resource_id": "room-b@rooms.example.org"})
    assert created.status_code == 201, created.text
    answer = created.json()
    assert answer["verified"] is False and answer["mapping"]["verified"] is False
    assert "booking_system could not be asked about 'room_102'" in answer["warning"]

    # The next run checks it again, finds both calendars, and syncs it.
    book(bookings, "Chess club", resource="room_102")
    results = call(mapped_host, "POST", "/bridges/sync/booking_system/outlook")["results"]
    assert (results["created"], results["errors"], results["failed_mappings"]) == (1, 0, [])
    assert [e["subject"] for e in outlook_events(graph, "room-b@rooms.example.org")] == [
        "Chess club"]
    shown = call(mapped_host, "GET", f"/mappings/resources/{answer['id']}")["mapping"]
    assert shown["verified"] is True and shown["verification_error"] is None


def test_an_id_that_cannot_be_a_calendar_id_is_422(mapped_host: Api) -> None:
    for field in ("booking_system_resource_id", "calendar_resource_id"):
        for odd in ("a?b", "../x", "room#1", "a\u0007b"):
            answer = mapped_host("POST", "/mappings/resources",
                                 json={**GUIDE_MAPPING, field: odd})
            assert answer.status_code == 422, (field, odd, answer.text)
            fields = answer.json()["error"]["details"]["fields"]
            assert [f["field"] for f in fields] == [field], (field, odd)
