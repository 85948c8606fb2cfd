"""The one place that wires settings, storage and bridges together, once per process,
and sets storage up (tables and queues created, rows of older versions upgraded) before
anything uses it."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from calbridge.bridges.base import CalendarBridge
from calbridge.bridges.registry import configured_bridges
from calbridge.config import Settings
from calbridge.errors import NotFound, StorageUnavailable
from calbridge.store import Storage, slots
from calbridge.store.clients import table_service
from calbridge.store.protocols import Stores
from calbridge.store.slots import TableSlotLedger

log = logging.getLogger(__name__)


@dataclass
class Container:
    settings: Settings
    storage: Stores
    bridges: dict[str, CalendarBridge]

    def bridge(self, name: str) -> CalendarBridge:
        """A configured bridge by name; `NotFound` names the ones that exist."""
        try:
            return self.bridges[name]
        except KeyError:
            known = ", ".join(self.bridges) or "none"
            raise NotFound(f"unknown bridge {name!r} (configured: {known})") from None


# While storage is unreachable, set-up is tried again at most this often, so requests
# (health probes above all) do not each wait for its time-outs.
SET_UP_RETRY_SECONDS = 10.0

_lock = threading.Lock()
_set_up_lock = threading.Lock()
_container: Container | None = None
_set_up = False
_failed_at: float | None = None


def build(settings: Settings) -> Container:
    """A container of these settings; its storage is not touched (see `container`)."""
    bridges = configured_bridges(settings)
    if settings.shared_pacing:
        ledger = TableSlotLedger(table_service(settings).get_table_client(
            settings.table_name(slots.TABLE)))
        for bridge in bridges.values():
            bridge.share_pacing(ledger)
    return Container(settings=settings, storage=Storage(settings), bridges=bridges)


def container() -> Container:
    """The process-wide container, built on first use from the environment, with its
    storage set up once. While storage cannot be reached it is handed out anyway:
    health reports the outage, every other use of storage fails with
    `StorageUnavailable`, and set-up is tried again later."""
    global _container
    if _container is None:
        with _lock:
            if _container is None:
                _container = build(Settings.from_env())
    built = _container
    if not _set_up:
        _set_up_storage(built)
    return built


def _set_up_storage(built: Container) -> None:
    global _set_up, _failed_at
    with _set_up_lock:
        recently_failed = (_failed_at is not None
                           and time.monotonic() - _failed_at < SET_UP_RETRY_SECONDS)
        if _set_up or recently_failed:
            return
        try:
            built.storage.ensure()
        except StorageUnavailable as exc:
            _failed_at = time.monotonic()
            log.warning("storage is not set up yet", extra={"error": exc.message})
            return
        _set_up, _failed_at = True, None


def use(built: Container | None) -> None:
    """Replace the process-wide container (tests). Whoever built it has set its storage
    up."""
    global _container, _set_up, _failed_at
    with _lock, _set_up_lock:
        _container, _set_up, _failed_at = built, built is not None, None
