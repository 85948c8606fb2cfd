"""The in-memory stores pass the store contract."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from calbridge.store.memory import MemoryStorage
from tests.contract.store_contract import StorageContract


class TestMemoryStorage(StorageContract):
    @pytest.fixture
    def new_storage(self) -> Callable[[], MemoryStorage]:
        return MemoryStorage
