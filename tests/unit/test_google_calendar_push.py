"""Google channel notifications through the webhook service (in-memory storage): the
`sync` handshake is acknowledged with nothing queued, a change is queued as a calendar
read, and a forged channel token — or the right one naming another resource than the
channel watches — is ignored and counted with nothing queued."""

from __future__ import annotations

from datetime import timedelta

import pytest

from calbridge import push_secrets
from calbridge.bootstrap import Container
from calbridge.bridges.google_calendar import GoogleCalendarBridge
from calbridge.config import Settings
from calbridge.model import Subscription, utcnow
from calbridge.services import webhooks
from calbridge.store.memory import MemoryStorage
from calbridge.store.queues import NOTIFICATIONS

CALENDAR = "room-a@example.org"
CHANNEL_TOKEN = "the-channel-token"


@pytest.fixture
def container() -> Container:
    # An OAuth grant: building the bridge asks Google nothing.
    settings = Settings.from_env({
        "AzureWebJobsStorage": "UseDevelopmentStorage=true",
        "CALBRIDGE_BRIDGES": "google_calendar", "GOOGLE_CALENDAR_CLIENT_ID": "client",
        "GOOGLE_CALENDAR_CLIENT_SECRET": "secret", "GOOGLE_CALENDAR_REFRESH_TOKEN": "refresh"})
    storage = MemoryStorage()
    storage.ensure()
    bridge = GoogleCalendarBridge.from_settings("google_calendar", settings)
    storage.subscriptions.add(Subscription(
        id="chan-1", bridge="google_calendar", calendar_id=CALENDAR, resource="res-1",
        expires_at=utcnow() + timedelta(days=1),
        client_state_hash=push_secrets.digest(settings.push_key, CHANNEL_TOKEN)))
    return Container(settings=settings, storage=storage, bridges={"google_calendar": bridge})


def notification(state: str, token: str = CHANNEL_TOKEN, channel: str = "chan-1",
                 resource: str | None = "res-1") -> dict[str, str]:
    named = {"X-Goog-Resource-ID": resource} if resource is not None else {}
    return {"X-Goog-Channel-ID": channel, "X-Goog-Channel-Token": token,
            "X-Goog-Resource-State": state, **named,
            "X-Goog-Resource-URI": f"https://calendar.example/v3/calendars/{CALENDAR}/events",
            "X-Goog-Message-Number": "1", "Content-Length": "0"}


def queued(container: Container) -> int:
    return container.storage.queue(NOTIFICATIONS).depth()


def test_the_sync_handshake_queues_nothing(container: Container) -> None:
    # Sent before the watch answer is stored, so even an unknown channel is fine here.
    for channel in ("chan-1", "not-stored-yet"):
        receipt = webhooks.receive(container, "google_calendar",
                                   notification("sync", channel=channel), b"")
        assert (receipt.accepted, receipt.ignored) == (0, 0)
    assert queued(container) == 0


def test_a_change_with_the_channel_token_is_queued_as_a_calendar_read(
        container: Container) -> None:
    receipt = webhooks.receive(container, "google_calendar", notification("exists"), b"")
    assert (receipt.accepted, receipt.ignored) == (1, 0)
    assert queued(container) == 1
    [(_, message)] = container.storage.queue(NOTIFICATIONS)._messages()
    [notice] = webhooks.read_message(message)
    assert (notice.calendar_id, notice.event_id, notice.subscription_id) == (
        CALENDAR, None, "chan-1")


@pytest.mark.parametrize(("token", "channel"), [
    ("forged-token", "chan-1"), ("", "chan-1"), (CHANNEL_TOKEN, "someone-elses")])
def test_a_forged_channel_token_is_ignored_with_nothing_queued(
        container: Container, token: str, channel: str) -> None:
    before = webhooks.rejected_notifications()
    receipt = webhooks.receive(container, "google_calendar",
                               notification("exists", token, channel), b"")
    assert (receipt.accepted, receipt.ignored) == (0, 1)
    assert queued(container) == 0
    assert webhooks.rejected_notifications() == before + 1


@pytest.mark.parametrize("resource", ["res-2", "", None, "RES-1", "res-1x"])
def test_a_notice_naming_another_resource_than_its_channel_is_ignored(
        container: Container, resource: str | None) -> None:
    # The channel's own token, replayed for a resource the channel was not opened on.
    before = webhooks.rejected_notifications()
    receipt = webhooks.receive(container, "google_calendar",
                               notification("exists", resource=resource), b"")
    assert (receipt.accepted, receipt.ignored) == (0, 1)
    assert queued(container) == 0
    assert webhooks.rejected_notifications() == before + 1


def test_among_several_notices_only_those_naming_their_channels_resource_are_queued(
        container: Container) -> None:
    container.storage.subscriptions.add(Subscription(
        id="chan-2", bridge="google_calendar", calendar_id="room-b@example.org",
        resource="res-2", expires_at=utcnow() + timedelta(days=1),
        client_state_hash=push_secrets.digest(container.settings.push_key, CHANNEL_TOKEN)))
    right = webhooks.receive(container, "google_calendar",
                             notification("exists", channel="chan-2", resource="res-2"), b"")
    # chan-1's token and id with chan-2's resource: not chan-1's notice.
    crossed = webhooks.receive(container, "google_calendar",
                               notification("exists", channel="chan-1", resource="res-2"), b"")
    assert (right.accepted, crossed.accepted, crossed.ignored) == (1, 0, 1)
    [(_, message)] = container.storage.queue(NOTIFICATIONS)._messages()
    [notice] = webhooks.read_message(message)
    assert (notice.subscription_id, notice.calendar_id) == ("chan-2", "room-b@example.org")
