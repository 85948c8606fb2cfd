"""The Google Calendar bridge passes the shared adapter contract against the Google
Calendar emulator, signed in as its service account acting for a user (domain-wide
delegation)."""

from __future__ import annotations

import json

import pytest

from calbridge.bridges.google_calendar import GoogleCalendarBridge
from calbridge.config import Settings
from emulators.google_calendar import GoogleCalendarEmulator
from tests.contract.bridge_contract import BridgeContract

ROOM = "room-a@rooms.example.org"
USER = "alex@example.org"


def google_env(emulator: GoogleCalendarEmulator, **extra: str) -> dict[str, str]:
    """Settings pointing the Google bridge at the emulator (its CA trusted, nothing else)."""
    return {
        "AzureWebJobsStorage": "UseDevelopmentStorage=true",
        "CALBRIDGE_BRIDGES": "google_calendar",
        "GOOGLE_CALENDAR_SERVICE_ACCOUNT_KEY": json.dumps(emulator.service_account_info()),
        "GOOGLE_CALENDAR_SUBJECT": USER,
        "GOOGLE_CALENDAR_TOKEN_URI": emulator.token_uri,
        "GOOGLE_CALENDAR_API_BASE_URL": emulator.api_url,
        "GOOGLE_CALENDAR_CA_BUNDLE": emulator.ca_path,
        **extra,
    }


class TestGoogleContract(BridgeContract):
    @pytest.fixture
    def bridge(self, google_emulator: GoogleCalendarEmulator) -> GoogleCalendarBridge:
        google_emulator.reset()
        return GoogleCalendarBridge.from_settings("google_calendar", Settings.from_env(
            google_env(google_emulator)))

    @pytest.fixture
    def calendar_id(self) -> str:
        return ROOM
