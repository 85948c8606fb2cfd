"""The Outlook bridge passes the shared adapter contract against the Graph emulator."""

from __future__ import annotations

import pytest

from calbridge.bridges.outlook import OutlookBridge
from calbridge.config import Settings
from emulators.graph import GraphEmulator
from tests.contract.bridge_contract import BridgeContract
from tests.fixtures.graph import GraphClient

ROOM = "room-a@rooms.example.org"


def outlook_env(emulator: GraphEmulator, **extra: str) -> dict[str, str]:
    """Settings pointing the Outlook bridge at the emulator (its CA trusted, nothing else)."""
    return {
        "AzureWebJobsStorage": "UseDevelopmentStorage=true",
        "CALBRIDGE_BRIDGES": "outlook",
        "OUTLOOK_TENANT_ID": emulator.tenant_id,
        "OUTLOOK_CLIENT_ID": emulator.client_id,
        "OUTLOOK_CLIENT_SECRET": emulator.client_secret,
        "OUTLOOK_AUTHORITY_HOST": emulator.authority_host,
        "GRAPH_BASE_URL": emulator.graph_url,
        "OUTLOOK_CA_BUNDLE": emulator.ca_path,
        **extra,
    }


class TestOutlookContract(BridgeContract):
    @pytest.fixture
    def bridge(self, graph: GraphClient) -> OutlookBridge:
        return OutlookBridge.from_settings("outlook", Settings.from_env(
            outlook_env(graph.emulator)))

    @pytest.fixture
    def calendar_id(self) -> str:
        return ROOM
