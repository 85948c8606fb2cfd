"""The adapter registry: what an adapter declares is checked when it is registered, and
read by name wherever settings and secrets matter."""

from __future__ import annotations

from typing import ClassVar

import pytest

from calbridge.bridges.base import PushSemantics
from calbridge.bridges.registry import ADAPTERS, adapter_types, register, secret_settings
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
