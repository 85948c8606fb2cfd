"""The adapter registry: what an adapter declares is checked when it is registered, and
read by name wherever settings and secrets matter."""

from __future__ import annotations

from typing import ClassVar

import pytest

from calbridge.bridges.base import PushSemantics
from calbridge.bridges.registry import (
    ADAPTERS,
    adapter_types,
    own_poll_schedules,
    register,
    secret_settings,
    setting_defaults,
)
from calbridge.host.app import load_app
from tests.fixtures.memory_bridge import MemoryBridge


def test_an_adapter_declaring_push_it_does_not_implement_is_refused() -> None:
    class HalfPush(MemoryBridge):
        type_name: ClassVar[str] = "half_push"
        push: ClassVar[PushSemantics] = PushSemantics(subscriptions=True, client_state=True)

    with pytest.raises(TypeError, match="subscribe, unsubscribe, renew, parse_notification"):
        register(HalfPush)
    assert "half_push" not in ADAPTERS


def test_secrets_are_the_declared_ones_of_every_registered_adapter(
        toy_adapter: type) -> None:
    assert {"booking_system", "outlook", "google_calendar", "caldav", "toy"} <= set(adapter_types())
    assert secret_settings() == {
        "CALBRIDGE_FUNCTION_KEY", "CALBRIDGE_BOOKING_SYSTEM_KEY", "CALBRIDGE_PUSH_SECRET_KEY",
        "OUTLOOK_CLIENT_SECRET",
        "BOOKING_SYSTEM_API_KEY",
        "BOOKING_SYSTEM_CLIENT_SECRET", "BOOKING_SYSTEM_WEBHOOK_SECRET", "TOY_SIGNING_KEY",
        "GOOGLE_CALENDAR_SERVICE_ACCOUNT_KEY", "GOOGLE_CALENDAR_CLIENT_SECRET",
        "GOOGLE_CALENDAR_REFRESH_TOKEN", "CALDAV_PASSWORD", "CALDAV_TOKEN"}


def test_an_adapter_polled_on_its_own_schedule_gets_a_timer_of_its_own() -> None:
    # CalDAV has no push: its calendars are read by a timer of their own, whose schedule the
    # local host takes from the declared default when the environment does not set it.
    assert {name: s.name for name, s in own_poll_schedules().items()} == {
        "caldav": "CALDAV_POLL_SCHEDULE"}
    assert setting_defaults()["CALDAV_POLL_SCHEDULE"] == "0 */1 * * * *"
    timers = {timer.name: timer.schedule for timer in load_app("function_app:app").timers}
    assert timers["poll_caldav_on_schedule"] == "%CALDAV_POLL_SCHEDULE%"
    assert timers["poll_on_schedule"] == "%POLL_SCHEDULE%"
