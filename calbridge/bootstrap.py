"""The one place that wires settings, storage and bridges together, once per process."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from calbridge.bridges.base import CalendarBridge
from calbridge.bridges.registry import configured_bridges
from calbridge.config import Settings
from calbridge.errors import NotFound
from calbridge.store import Storage


@dataclass
class Container:
    settings: Settings
    storage: Storage
    bridges: dict[str, CalendarBridge]

    def bridge(self, name: str) -> CalendarBridge:
        """A configured bridge by name; `NotFound` names the ones that exist."""
        try:
            return self.bridges[name]
        except KeyError:
            known = ", ".join(self.bridges) or "none"
            raise NotFound(f"unknown bridge {name!r} (configured: {known})") from None


_lock = threading.Lock()
_container: Container | None = None


def build(settings: Settings) -> Container:
    return Container(settings=settings, storage=Storage(settings),
                     bridges=configured_bridges(settings))


def container() -> Container:
    """The process-wide container, built on first use from the environment."""
    global _container
    if _container is None:
        with _lock:
            if _container is None:
                _container = build(Settings.from_env())
    return _container


def use(built: Container | None) -> None:
    """Replace the process-wide container (tests, the local host after loading settings)."""
    global _container
    with _lock:
        _container = built
