"""The CalDAV bridge passes the shared adapter contract against real Radicale and
Xandikos servers (each test in a fresh calendar of its own)."""

from __future__ import annotations

import pytest

from calbridge.bridges.caldav import CalDavBridge
from tests.contract.bridge_contract import BridgeContract
from tests.fixtures.caldav_servers import CalDavServer


class TestCalDavContract(BridgeContract):
    @pytest.fixture
    def bridge(self, caldav_server: CalDavServer) -> CalDavBridge:
        return caldav_server.bridge()

    @pytest.fixture
    def calendar_id(self, caldav_calendar: str) -> str:
        return caldav_calendar
