"""The in-memory bridge the engine tests use passes the same contract as real adapters."""

from __future__ import annotations

import pytest

from tests.contract.bridge_contract import BridgeContract
from tests.fixtures.memory_bridge import MemoryBridge


class TestRemovingMemoryBridge(BridgeContract):
    @pytest.fixture
    def bridge(self) -> MemoryBridge:
        return MemoryBridge("memory")

    @pytest.fixture
    def calendar_id(self) -> str:
        return "cal-1"


class TestCancellingMemoryBridge(TestRemovingMemoryBridge):
    @pytest.fixture
    def bridge(self) -> MemoryBridge:
        return MemoryBridge("memory", cancels=True)
