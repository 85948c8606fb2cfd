"""The Google Calendar bridge passes the shared adapter contract against the Google
Calendar emulator, signed in as its service account acting for a user (domain-wide
delegation)."""

from __future__ import annotations

import pytest

from calbridge.bridges.google_calendar import GoogleCalendarBridge
from calbridge.config import Settings
from emulators.google_calendar import GoogleCalendarEmulator
from tests.contract.bridge_contract import BridgeContract
from tests.fixtures.google import ROOM, google_env


class TestGoogleContract(BridgeContract):
    @pytest.fixture
    def bridge(self, google_emulator: GoogleCalendarEmulator) -> GoogleCalendarBridge:
        google_emulator.reset()
        return GoogleCalendarBridge.from_settings("google_calendar", Settings.from_env(
            google_env(google_emulator)))

    @pytest.fixture
    def calendar_id(self) -> str:
        return ROOM
