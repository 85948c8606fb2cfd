"""Google Calendar in real time through a running local host: a push channel opened with
`events.watch`, the emulator's `sync` handshake and `exists` notices reaching
`POST /bridges/webhook/google_calendar`, a change in Google reaching the booking system
by push alone, and a forged channel token — or the channel's own token naming another
resource than the channel watches — changing nothing."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from calbridge.host.azurite import Azurite
from emulators.google_calendar import GoogleCalendarEmulator
from examples.booking_system import BookingSystemServer
from tests.fixtures.booking import BookingApi
from tests.fixtures.google import GoogleClient, google_env
from tests.fixtures.host import Api, HostProcess, host_env
from tests.fixtures.two_bridges import RESOURCE, stamp

CALENDAR = "room-c@rooms.example.org"


def wait_until(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


@pytest.fixture
def host(azurite: Azurite, e2e_booking_system: BookingSystemServer,
         google_emulator: GoogleCalendarEmulator, google: GoogleClient,
         tmp_path: Path) -> Iterator[HostProcess]:
    e2e_booking_system.reset()
    settings = {k: v for k, v in google_env(google_emulator).items()
                if k.startswith("GOOGLE_CALENDAR_")}
    env = host_env(azurite, e2e_booking_system,
                   CALBRIDGE_BRIDGES="booking_system,google_calendar",
                   CALBRIDGE_TABLE_PREFIX="g" + uuid.uuid4().hex[:10], **settings)
    process = HostProcess(env, tmp_path / "host.log")
    env["WEBHOOK_BASE_URL"] = process.url
    process.start()
    yield process
    process.stop()


def test_a_google_change_reaches_the_booking_system_by_push_and_forgeries_do_nothing(
        host: HostProcess, google: GoogleClient, bookings: BookingApi) -> None:
    api = Api(host.url)
    mapped = api("POST", "/mappings/resources", json={
        "a": {"bridge": "booking_system", "calendar_id": RESOURCE},
        "b": {"bridge": "google_calendar", "calendar_id": CALENDAR}})
    assert mapped.status_code == 201, mapped.text
    opened = api("POST", "/bridges/google_calendar/subscriptions",
                 json={"calendar_id": CALENDAR})
    assert opened.status_code == 201, opened.text
    channel = opened.json()["subscription"]["id"]
    assert "client_state" not in opened.text
    made = google.post(f"/calendars/{CALENDAR}/events", json={
        "summary": "Orchestra rehearsal",
        "start": {"dateTime": stamp(2), "timeZone": "UTC"},
        "end": {"dateTime": stamp(4), "timeZone": "UTC"}})
    assert made.status_code == 200, made.text
    arrived = wait_until(lambda: [b for b in bookings.list_all(resource_id=RESOURCE)
                                  if b["title"] == "Orchestra rehearsal"])
    assert len(arrived) == 1
    # A notice naming the channel with another token is refused quietly: nothing read.
    before = google.admin("GET", "/requests").json()["by_route"]
    forged = api.session.post(f"{host.url}/bridges/webhook/google_calendar", data=b"", headers={
        "X-Goog-Channel-ID": channel, "X-Goog-Channel-Token": "not-the-token",
        "X-Goog-Resource-State": "exists", "X-Goog-Resource-ID": "x",
        "X-Goog-Message-Number": "7"}, timeout=10)
    # Answered like any notice (a sender learns nothing), counted as ignored.
    assert (forged.status_code, forged.json()["accepted"], forged.json()["ignored"]) == (
        202, 0, 1)
    time.sleep(1.5)  # long enough for queued work to have run, had any been queued
    assert google.admin("GET", "/requests").json()["by_route"] == before
    assert len([b for b in bookings.list_all(resource_id=RESOURCE)
                if b["title"] == "Orchestra rehearsal"]) == 1


def test_a_notice_naming_another_resource_than_its_channel_reads_nothing(
        host: HostProcess, google: GoogleClient) -> None:
    api = Api(host.url)
    mapped = api("POST", "/mappings/resources", json={
        "a": {"bridge": "booking_system", "calendar_id": RESOURCE},
        "b": {"bridge": "google_calendar", "calendar_id": CALENDAR}})
    assert mapped.status_code == 201, mapped.text
    opened = api("POST", "/bridges/google_calendar/subscriptions",
                 json={"calendar_id": CALENDAR})
    assert opened.status_code == 201, opened.text
    channel_id = opened.json()["subscription"]["id"]
    [channel] = [c for c in google.admin("GET", "/channels").json()["channels"]
                 if c["id"] == channel_id]
    webhook = f"{host.url}/bridges/webhook/google_calendar"

    def notice(resource_id: str, number: str) -> dict[str, Any]:
        answer = api.session.post(webhook, data=b"", timeout=10, headers={
            "X-Goog-Channel-ID": channel_id, "X-Goog-Channel-Token": channel["token"],
            "X-Goog-Resource-State": "exists", "X-Goog-Resource-ID": resource_id,
            "X-Goog-Message-Number": number})
        assert answer.status_code == 202, answer.text
        return dict(answer.json())

    def reads() -> int:
        routes = google.admin("GET", "/requests").json()["by_route"]
        return int(routes.get("GET /calendars/{calendarId}/events", 0))

    before = reads()
    # The channel's id and token, but a resource the channel was not opened on.
    crossed = notice(channel["resourceId"] + "-other", "8")
    assert (crossed["accepted"], crossed["ignored"]) == (0, 1)
    time.sleep(1.5)  # long enough for queued work to have run, had any been queued
    assert reads() == before
    # The same notice naming the channel's own resource is read.
    genuine = notice(channel["resourceId"], "9")
    assert (genuine["accepted"], genuine["ignored"]) == (1, 0)
    assert wait_until(lambda: reads() > before)
