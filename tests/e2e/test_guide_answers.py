"""The guide's answers say what really happened: pending items, retries on re-runs,
the deletion report's shape, and the booking system's integration hooks."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fixtures.booking import BookingApi
from tests.fixtures.graph import GraphClient
from tests.fixtures.host import Api
from tests.fixtures.two_bridges import RESOURCE, book, outlook_events, stamp


@pytest.fixture
def bridge(mapped_host: Api) -> Api:
    return mapped_host


def call(bridge: Api, method: str, path: str, status: int = 200) -> dict[str, Any]:
    answer = bridge(method, path)
    assert answer.status_code == status, answer.text
    return answer.json()


def test_pending_items_counts_bookings_never_synced(bridge: Api, bookings: BookingApi,
                                                   graph: GraphClient) -> None:
    titles = {f"Meeting {n}" for n in range(5)}
    for n, title in enumerate(sorted(titles)):
        book(bookings, title, hours=2 * n)
    pending = call(bridge, "GET", "/sync/pending-items")
    assert pending["count"] == 5
    assert {item["title"] for item in pending["pending_items"]} == titles
    assert {item["sync_status"] for item in pending["pending_items"]} == {"unsynced"}
    assert {item["resource_id"] for item in pending["pending_items"]} == {RESOURCE}

    assert call(bridge, "POST", "/sync/to-outlook")["results"]["created"] == 5
    assert call(bridge, "GET", "/sync/pending-items")["count"] == 0

    # A booking edited since its sync is waiting too, until the next run carries it over.
    booking = bookings.list_all(resource_id=RESOURCE)[0]
    bookings.request("PUT", f"/api/events/{booking['id']}", json={"title": "Renamed"})
    [changed] = call(bridge, "GET", "/sync/pending-items")["pending_items"]
    assert (changed["title"], changed["action"]) == ("Renamed", "update")


def test_a_re_run_after_a_failure_retries_at_once(bridge: Api, bookings: BookingApi,
                                                 graph: GraphClient) -> None:
    book(bookings, "Unlucky")
    graph.admin("POST", "/faults", {"match": {"method": "POST"}, "status": 503, "times": 50})
    failed = call(bridge, "POST", "/sync/to-outlook")["results"]
    assert (failed["errors"], failed["success_rate"]) == (1, "0%")
    assert call(bridge, "GET", "/sync/pending-items")["count"] == 1
    graph.admin("DELETE", "/faults")

    # The guide says re-running retries: the operator's call does not wait for the backoff.
    retried = call(bridge, "POST", "/sync/to-outlook")["results"]
    assert (retried["created"], retried["errors"], retried["success_rate"]) == (1, 0, "100%")
    assert [e["subject"] for e in outlook_events(graph)] == ["Unlucky"]
    assert call(bridge, "GET", "/sync/pending-items")["count"] == 0


def test_a_run_where_everything_waits_does_not_claim_success(
        bridge: Api, bookings: BookingApi, graph: GraphClient) -> None:
    book(bookings, "Unlucky")
    graph.admin("POST", "/faults", {"match": {"method": "POST"}, "status": 503,
                                    "times": 500})
    assert call(bridge, "POST", "/sync/to-outlook")["results"]["errors"] == 1
    for _ in range(7):  # an operator retrying until the default limit of 8 attempts
        assert call(bridge, "POST", "/bridge/process-pending")["results"]["errors"] == 1
    gave_up = call(bridge, "POST", "/bridge/process-pending")["results"]
    assert (gave_up["processed"], gave_up["waiting"], gave_up["success_rate"]) == (0, 1, None)
    [waiting] = [op for op in gave_up["operations"] if op["status"] == "waiting"]
    assert "gave up" in waiting["reason"] and "force=true" in waiting["reason"]
    graph.admin("DELETE", "/faults")
    forced = call(bridge, "POST", "/bridge/process-pending?force=true")["results"]
    assert (forced["created"], forced["waiting"]) == (1, 0)


def test_sync_deletions_answers_the_guides_shape(bridge: Api, bookings: BookingApi,
                                                 graph: GraphClient) -> None:
    cancelled = book(bookings, "Cancelled")
    kept = book(bookings, "Kept", hours=2)
    call(bridge, "POST", "/sync/to-outlook")
    assert bookings.request("DELETE", f"/api/events/{cancelled['id']}").status_code == 200
    results = call(bridge, "POST", "/bridges/sync-deletions")["results"]
    for key in ("detected", "processed", "success_rate", "cancelled_events",
                "reenabled_events", "outlook_deletions", "pending_resets", "errors",
                "summary", "systems_affected"):
        assert key in results, key
    assert (results["detected"], results["processed"], results["success_rate"]) == (1, 1,
                                                                                  "100%")
    [row] = results["cancelled_events"]
    assert (row["id"], row["active"], row["resource_id"]) == (str(cancelled["id"]), 0,
                                                              RESOURCE)
    assert row["mapping_id"]
    assert results["summary"] == {"outlook_deletions": 1, "booking_system_deletions": 0,
                                  "pending_resets": 0, "errors": 0}
    assert results["systems_affected"] == ["outlook"]
    assert [e["subject"] for e in outlook_events(graph)] == ["Kept"]

    # Re-enabled in the booking system: a fresh Outlook event, reported as a reset.
    assert bookings.request("PUT", f"/api/events/{cancelled['id']}",
                            json={"active": True}).status_code == 200
    again = call(bridge, "POST", "/bridges/sync-deletions")["results"]
    [row] = again["reenabled_events"]
    assert (row["id"], row["active"], again["pending_resets"]) == (str(cancelled["id"]), 1, 1)
    assert again["outlook_deletions"] == 0 and again["cancelled_events"] == []
    assert sorted(e["subject"] for e in outlook_events(graph)) == ["Cancelled", "Kept"]
    assert kept["id"]


def test_integration_hooks_check_what_they_are_told(bridge: Api, bookings: BookingApi,
                                                   graph: GraphClient) -> None:
    other = "gym_1"  # a resource of the booking system no mapping names
    stray = book(bookings, "Other room", resource=other)
    active = book(bookings, "Still on")

    missing = bridge("POST", f"/sync/item/event/987654321/{RESOURCE}")
    assert missing.status_code == 404 and missing.json()["success"] is False
    assert "987654321" in missing.json()["error"]["message"]

    wrong = bridge("POST", f"/sync/item/event/{stray['id']}/{RESOURCE}")
    assert wrong.status_code == 422
    message = wrong.json()["error"]["message"]
    assert other in message and RESOURCE in message

    refused = bridge("POST", f"/cancel/booking/event/{active['id']}/{RESOURCE}")
    assert refused.status_code == 409
    assert "still active" in refused.json()["error"]["message"]
    assert outlook_events(graph) == []  # nothing was written by the refused calls

    synced = call(bridge, "POST", f"/sync/item/event/{active['id']}/{RESOURCE}")["results"]
    assert synced["created"] == 1
    assert bookings.request("DELETE", f"/api/events/{active['id']}").status_code == 200
    done = call(bridge, "POST", f"/cancel/booking/event/{active['id']}/{RESOURCE}")["results"]
    assert done["deleted"] == 1 and outlook_events(graph) == []


def test_reasons_stay_true_after_a_clean_up(bridge: Api, bookings: BookingApi,
                                           graph: GraphClient) -> None:
    booking = book(bookings, "Synced, then cancelled")
    call(bridge, "POST", "/sync/to-outlook")
    bookings.request("DELETE", f"/api/events/{booking['id']}")
    call(bridge, "POST", "/bridges/sync-deletions")
    assert call(bridge, "DELETE", "/bridge/cleanup-orphaned")["results"]["removed"] == 1
    answer = bridge("POST", "/bridges/sync/booking_system/outlook",
                    json={"from_date": stamp(-24), "to_date": stamp(48)})
    assert answer.status_code == 200, answer.text
    [seen] = [op for op in answer.json()["results"]["operations"]
              if op["external_id"] == str(booking["id"])
              or op["internal_id"] == str(booking["id"])]
    assert seen["status"] == "skipped"
    assert "never synced" not in seen["reason"]
