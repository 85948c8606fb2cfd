"""The storage clients as the host's threads use them: many at once on one client."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import pytest
from azure.core.exceptions import ResourceNotFoundError

from calbridge import connections
from calbridge.config import Settings
from calbridge.host.azurite import Azurite
from calbridge.store.clients import table_service
from tests.fixtures.storage import storage_env

THREADS = 24


def look_ups(azurite: Azurite) -> None:
    table = table_service(Settings.from_env(storage_env(azurite))).get_table_client(
        "PoolCheck")
    table.create_table()

    def look_up(n: int) -> None:
        try:
            table.get_entity("p", f"row-{n}")
        except ResourceNotFoundError:
            pass

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        list(pool.map(look_up, range(THREADS * 8)))
    table.delete_table()


def test_threads_sharing_a_client_keep_their_connections(
        azurite: Azurite, caplog: pytest.LogCaptureFixture) -> None:
    """24 threads on one table client (a sync's workers, link flushes and queue sends
    together): every connection is kept for the next request, none dropped and logged."""
    with caplog.at_level(logging.WARNING, logger="urllib3.connectionpool"):
        look_ups(azurite)
    assert not [r for r in caplog.records if "pool is full" in r.getMessage()]


def test_the_default_pool_would_drop_them(azurite: Azurite, caplog: pytest.LogCaptureFixture,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """What the larger pool is for: with the SDK's ten, the same threads drop connections."""
    monkeypatch.setattr(connections, "POOL_SIZE", 10)
    with caplog.at_level(logging.WARNING, logger="urllib3.connectionpool"):
        look_ups(azurite)
    assert [r for r in caplog.records if "pool is full" in r.getMessage()]
