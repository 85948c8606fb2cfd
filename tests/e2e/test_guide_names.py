"""What `make serve` and `make demo` start has the usage guide's example names beside the
demo's own, so the guide's curls work as written: its resources and rooms are listed, and
its resource mappings are made and verified."""

from __future__ import annotations

import pytest

from tests.fixtures.host import Api
from tests.fixtures.served import Served


@pytest.fixture(scope="module")
def serve(served: Served) -> Api:
    return served.api


def ids(api: Api, path: str) -> set[str]:
    answer = api("GET", path)
    assert answer.status_code == 200, answer.text
    return {calendar["id"] for calendar in answer.json()["calendars"]}


def test_the_guides_resources_and_rooms_are_there(serve: Api) -> None:
    assert {"room_123", "123", "room_101", "room_102"} <= ids(
        serve, "/bridges/booking_system/calendars")
    assert {"conference-room-a@company.com", "room1@company.com",
            "room-a@rooms.example.org"} <= ids(serve, "/bridges/outlook/calendars")


@pytest.mark.parametrize(("resource", "calendar"), [
    ("room_123", "conference-room-a@company.com"),  # "Create Resource Mapping"
    ("123", "room-calendar-id"),                     # "Bridge Usage Steps", step 1
])
def test_the_guides_mappings_are_made_and_verified(serve: Api, resource: str,
                                                   calendar: str) -> None:
    created = serve("POST", "/mappings/resources", json={
        "booking_system_resource_id": resource, "calendar_system": "outlook",
        "calendar_resource_id": calendar, "calendar_resource_name": "Conference Room A",
        "active": True})
    assert created.status_code == 201, created.text
    assert created.json()["verified"] is True
    found = serve("GET", f"/mappings/resources/by-resource/{resource}").json()
    assert [m["calendar_resource_id"] for m in found["mappings"]] == [calendar]
