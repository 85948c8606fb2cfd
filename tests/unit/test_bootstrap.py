"""Wiring sets storage up once, before anything uses it, and never makes an outage worse
than it is: the container is handed out while storage is down, and set-up is tried again
later."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from calbridge import bootstrap
from calbridge.config import Settings
from calbridge.errors import StorageUnavailable
from calbridge.store.memory import MemoryStorage


class CountedStorage(MemoryStorage):
    """In-memory storage that counts set-ups, and fails them while `down`."""

    def __init__(self) -> None:
        super().__init__()
        self.set_ups = 0
        self.down = False

    def ensure(self) -> None:
        self.set_ups += 1
        if self.down:
            raise StorageUnavailable("storage is unreachable")
        super().ensure()


@pytest.fixture
def storage(monkeypatch: pytest.MonkeyPatch) -> Iterator[CountedStorage]:
    built = CountedStorage()
    monkeypatch.setenv("AzureWebJobsStorage", "UseDevelopmentStorage=true")
    monkeypatch.setattr(bootstrap, "build", lambda settings: bootstrap.Container(
        settings=settings, storage=built, bridges={}))
    bootstrap.use(None)
    yield built
    bootstrap.use(None)


def test_storage_is_set_up_once_before_first_use(storage: CountedStorage) -> None:
    assert bootstrap.container().storage.mappings.list() == []
    for _ in range(3):
        assert bootstrap.container().storage is storage
    assert storage.set_ups == 1


def test_while_storage_is_down_the_container_is_handed_out_and_set_up_waits(
        storage: CountedStorage, monkeypatch: pytest.MonkeyPatch) -> None:
    storage.down = True
    assert bootstrap.container().storage is storage
    bootstrap.container()
    assert storage.set_ups == 1  # not again at once: probes must not each wait for it
    storage.down = False
    monkeypatch.setattr(bootstrap, "SET_UP_RETRY_SECONDS", 0.0)
    assert bootstrap.container().storage.mappings.list() == []
    bootstrap.container()
    assert storage.set_ups == 2


def test_a_container_handed_in_is_used_as_it_is(storage: CountedStorage) -> None:
    ready = MemoryStorage()
    ready.ensure()
    given = bootstrap.Container(settings=Settings(), storage=ready, bridges={})
    bootstrap.use(given)
    assert bootstrap.container() is given and storage.set_ups == 0
