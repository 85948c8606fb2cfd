"""A calendar system calbridge does not ship — the studio board of tests/fixtures/toy_bridge.py,
registered by the test alone — served by the real `function_app.py` in a local host (HTTP
on loopback, queue triggers on, Azurite, the example booking system): configured through
settings of its own as a named instance, its secret masked in logs, mapped to a booking
resource, synced both ways, subscribed, pushed to through `/bridges/webhook/{name}` in its
own signed format, renewed and re-opened the way it declares. Nothing under calbridge/
names it."""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
import requests

from calbridge import bootstrap
from calbridge.bridges.registry import configured_bridges
from calbridge.config import Settings
from calbridge.errors import ConfigurationError
from calbridge.host.azurite import Azurite
from calbridge.host.runtime import LocalHost
from calbridge.model import utcnow
from calbridge.services import subscriptions
from calbridge.store.queues import NOTIFICATIONS, SYNC_WORK
from calbridge.telemetry import configure_telemetry
from examples.booking_system import BookingSystemServer
from tests.fixtures.booking import BOOKING_API_KEY, BookingApi
from tests.fixtures.host import Api
from tests.fixtures.storage import storage_env
from tests.fixtures.toy_bridge import SIGNATURE_HEADER, ToyBridge, sign

STUDIO = "studio"  # an instance of the toy type: CALBRIDGE_BRIDGES=…,studio=toy
CALENDAR = "studio-1"
RESOURCE = "room_101"
SIGNING_KEY = "studio-signing-key-" + uuid.uuid4().hex[:12]
TOMORROW = (utcnow() + timedelta(days=1)).replace(hour=14, minute=0, second=0, microsecond=0)


def wait_until(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()) and time.monotonic() < deadline:
        time.sleep(0.2)
    return found


@dataclass
class Studio:
    url: str
    api: Api
    board: ToyBridge
    bookings: BookingApi
    env: dict[str, str]

    def __call__(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.api(method, path, **kwargs)

    def titled(self, title: str) -> list[dict[str, Any]]:
        return [b for b in self.bookings.list_all(resource_id=RESOURCE) if b["title"] == title]

    def on_board(self, title: str) -> list[str]:
        return [e.id or "" for e in self.board.live(CALENDAR) if e.title == title]

    def map_studio(self) -> None:
        answer = self("POST", "/mappings/resources", json={
            "a": {"bridge": "booking_system", "calendar_id": RESOURCE},
            "b": {"bridge": STUDIO, "calendar_id": CALENDAR}})
        assert answer.status_code == 201, answer.text
        assert answer.json()["verified"] is True

    def subscribe(self) -> dict[str, Any]:
        answer = self("POST", f"/bridges/{STUDIO}/subscriptions", json={"calendar_id": CALENDAR})
        assert answer.status_code == 201, answer.text
        return answer.json()["subscription"]

    def deliver(self, sent: tuple[dict[str, str], bytes]) -> requests.Response:
        headers, body = sent
        return self("POST", f"/bridges/webhook/{STUDIO}", data=body, headers=headers)


@pytest.fixture
def studio(azurite: Azurite, booking: BookingSystemServer, toy_adapter: type[ToyBridge],
           monkeypatch: pytest.MonkeyPatch) -> Iterator[Studio]:
    """function_app.py served in this process, where the toy adapter is registered, with
    the booking system and one instance of the toy type, `studio`."""
    env = storage_env(azurite, CALBRIDGE_BRIDGES=f"booking_system,{STUDIO}=toy",
                      BOOKING_SYSTEM_BASE_URL=booking.base_url,
                      BOOKING_SYSTEM_API_KEY=BOOKING_API_KEY,
                      STUDIO__TOY_CALENDARS=f"{CALENDAR},studio-2",
                      STUDIO__TOY_SIGNING_KEY=SIGNING_KEY)
    for name in [n for n in os.environ if n.startswith(("CALBRIDGE_", "WEBHOOK_"))]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    bootstrap.use(None)
    host = LocalHost(port=0, run_timers=False).start()
    try:
        monkeypatch.setenv("WEBHOOK_BASE_URL", host.url)
        container = bootstrap.container()
        container.storage.ensure()
        for queue in (NOTIFICATIONS, SYNC_WORK):  # shared by every test
            container.storage.queue(queue).client.clear_messages()
        board = container.bridges[STUDIO]
        assert isinstance(board, ToyBridge)
        bookings, api = BookingApi(booking.base_url), Api(host.url, key=None)
        yield Studio(host.url, api, board, bookings, {**env, "WEBHOOK_BASE_URL": host.url})
        bookings.close()
        api.session.close()
    finally:
        host.stop()
        bootstrap.use(None)


def test_the_studio_is_configured_through_its_own_settings(
        studio: Studio, caplog: pytest.LogCaptureFixture) -> None:
    listed = {b["name"]: b for b in studio("GET", "/bridges").json()["bridges"]}
    assert listed[STUDIO]["type"] == "toy" and listed[STUDIO]["capabilities"]["push"] is True
    calendars = studio("GET", f"/bridges/{STUDIO}/calendars").json()["calendars"]
    assert [c["id"] for c in calendars] == [CALENDAR, "studio-2"]

    unkeyed = {k: v for k, v in studio.env.items() if k != "STUDIO__TOY_SIGNING_KEY"}
    with pytest.raises(ConfigurationError, match="TOY_SIGNING_KEY"):
        configured_bridges(Settings.from_env(unkeyed))

    # The key is set only in the instance's own form, and logs mask it all the same.
    configure_telemetry()
    with caplog.at_level(logging.WARNING):
        logging.getLogger("calbridge.studio").warning("signed with %s", SIGNING_KEY)
    assert SIGNING_KEY not in caplog.text and "signed with ***" in caplog.text


def test_bookings_and_studio_events_sync_both_ways(studio: Studio) -> None:
    studio.map_studio()
    studio.bookings.create(resource_id=RESOURCE, title="Recording session",
                           start_time=TOMORROW.isoformat().replace("+00:00", "Z"),
                           end_time=(TOMORROW + timedelta(hours=2)).isoformat()
                           .replace("+00:00", "Z"))
    assert studio("POST", f"/bridges/sync/booking_system/{STUDIO}").status_code == 200
    assert len(studio.on_board("Recording session")) == 1

    studio.board.user_create(CALENDAR, "Rehearsal", hours=3)
    assert studio("POST", f"/bridges/sync/{STUDIO}/booking_system").status_code == 200
    assert len(studio.titled("Rehearsal")) == 1
    # Both ways again: nothing is copied twice, nothing echoes back.
    assert studio("POST", f"/bridges/sync/booking_system/{STUDIO}").status_code == 200
    assert studio("POST", f"/bridges/sync/{STUDIO}/booking_system").status_code == 200
    assert len(studio.on_board("Recording session")) == 1 and len(studio.on_board("Rehearsal")) == 1
    assert len(studio.titled("Rehearsal")) == 1 and len(studio.titled("Recording session")) == 1


def test_a_signed_studio_notification_is_authenticated_and_synced(studio: Studio) -> None:
    studio.map_studio()
    subscription = studio.subscribe()
    assert "client_state" not in subscription
    [(channel_id, channel)] = studio.board.channels.items()
    assert channel_id == subscription["id"]
    assert channel.url == f"{studio.url}/bridges/webhook/{STUDIO}"
    assert len(channel.token) >= 40

    event = studio.board.user_create(CALENDAR, "Pushed from the studio")
    assert event.id is not None
    forged_signature = studio.board.notification(channel_id, event.id, key="x" * 32)
    assert studio.deliver(forged_signature).status_code == 401
    wrong_token = studio.board.notification(channel_id, event.id, token="not-the-token")
    refused = studio.deliver(wrong_token)
    assert refused.status_code == 202 and refused.json()["ignored"] == 1

    answer = studio.deliver(studio.board.notification(channel_id, event.id))
    assert answer.status_code == 202, answer.text
    assert answer.json()["accepted"] == 1
    assert wait_until(lambda: studio.titled("Pushed from the studio"))
    assert len(studio.titled("Pushed from the studio")) == 1


def test_renewing_opens_a_new_channel_and_stops_the_old(studio: Studio) -> None:
    studio.map_studio()
    first = studio.subscribe()
    old_token = studio.board.channels[first["id"]].token

    renewed = studio("POST", f"/webhook/renew/{first['id']}")
    assert renewed.status_code == 200, renewed.text
    second = renewed.json()["subscription"]
    assert second["id"] != first["id"]
    assert list(studio.board.channels) == [second["id"]]
    listed = studio("GET", "/bridges/subscriptions").json()["subscriptions"]
    assert [s["id"] for s in listed] == [second["id"]]

    # The renewal timer does the same when a channel nears its end.
    report = subscriptions.maintain(bootstrap.container(),
                                    now=utcnow() + timedelta(minutes=8_000))
    [third] = report["renewed"]
    assert third not in (first["id"], second["id"])
    assert list(studio.board.channels) == [third]

    # A late delivery on the stopped channel is not trusted; the live one is.
    event = studio.board.user_create(CALENDAR, "After renewal")
    assert event.id is not None
    late = json.dumps({"channel": first["id"], "token": old_token, "calendar": CALENDAR,
                       "event": event.id, "kind": "changed"}).encode()
    stale = studio.deliver(({SIGNATURE_HEADER: sign(SIGNING_KEY, late)}, late))
    assert stale.status_code == 202 and stale.json()["ignored"] == 1
    assert studio.deliver(studio.board.notification(third, event.id)).json()["accepted"] == 1
    assert wait_until(lambda: studio.titled("After renewal"))


def test_a_channel_the_studio_closed_is_reopened_and_caught_up(studio: Studio) -> None:
    studio.map_studio()
    first = studio.subscribe()
    studio.board.user_create(CALENDAR, "Made while closed")

    answer = studio.deliver(studio.board.close(first["id"]))
    assert answer.status_code == 202 and answer.json()["accepted"] == 1

    def reopened() -> list[str]:
        return [s["id"] for s in studio("GET", "/bridges/subscriptions").json()["subscriptions"]
                if s["id"] != first["id"]]

    [second] = wait_until(reopened)
    assert list(studio.board.channels) == [second]
    assert wait_until(lambda: studio.titled("Made while closed"))
