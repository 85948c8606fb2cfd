"""The Table Storage repositories and Storage Queues pass the store contract, on Azurite."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from calbridge.config import Settings
from calbridge.host.azurite import Azurite
from calbridge.store import Storage
from tests.contract.store_contract import StorageContract
from tests.fixtures.storage import storage_env


class TestTableStorage(StorageContract):
    @pytest.fixture
    def new_storage(self, azurite: Azurite) -> Callable[[], Storage]:
        # Each call: tables of their own (a fresh prefix), never created yet.
        return lambda: Storage(Settings.from_env(storage_env(azurite)))
