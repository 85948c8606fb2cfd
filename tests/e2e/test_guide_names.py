"""What `make serve` and `make demo` start has the usage guide's example names beside the
demo's own, so the guide's curls work as written: its resources and rooms are listed, and
its resource mappings are made and verified."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator

import pytest

from calbridge.host.processes import ChildProcess
from tests.fixtures.host import ROOT, Api

QUIET = "0 0 0 1 1 *"  # timers stay quiet: the test makes every call itself


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    folder = tmp_path_factory.mktemp("serve")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CALBRIDGE_", "OUTLOOK_", "BOOKING_SYSTEM_"))}
    env.update({"SYNC_SCHEDULE": QUIET, "DELETION_SYNC_SCHEDULE": QUIET,
                "POLL_SCHEDULE": QUIET, "SUBSCRIPTION_RENEWAL_SCHEDULE": QUIET})
    child = ChildProcess("stack", [sys.executable, "-m", "tests.fixtures.serve_stack",
                                   str(folder)], cwd=ROOT, env=env,
                         log_path=folder / "stack.log").start()
    try:
        ready = folder / "stack.json"
        deadline = time.monotonic() + 120
        while not ready.exists():
            assert child.process is not None and child.process.poll() is None, (
                (folder / "stack.log").read_text())
            assert time.monotonic() < deadline, "the stack did not start"
            time.sleep(0.2)
        started = json.loads(ready.read_text())
        yield Api(started["url"], started["key"])
    finally:
        child.stop(timeout=30)


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
