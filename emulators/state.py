"""Keeping an emulator's state in a file as it changes, so a killed emulator restarts with
every change it confirmed.

Works with any store that has a re-entrant `lock`, a `version` bumped on every change,
`watchers` called with the new version, and `snapshot()` (JSON-able).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger(__name__)


class SnapshotStore(Protocol):
    """What `StateWriter` needs of a store."""

    lock: Any
    version: int
    watchers: list[Callable[[int], None]]

    def snapshot(self) -> dict[str, Any]:
        """The state as JSON-able data."""
        ...


class StateWriter:
    """Keeps a store's events in a JSON file as they change. One background thread writes
    a snapshot after each change (changes made during a write share the next one), each
    atomically: a temporary file, flushed to disk, then renamed over the old one."""

    def __init__(self, store: SnapshotStore, path: Path, thread_name: str = "emulator-state"
                 ) -> None:
        self.store = store
        self.thread_name = thread_name
        self.path = path
        self.writes = 0
        self._cond = threading.Condition()
        self._wanted = self._written = store.version
        self._stopping = False
        self._thread: threading.Thread | None = None

    def start(self) -> StateWriter:
        """Watch the store and start writing (the file is written once now)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.store.watchers.append(self._changed)
        with self._cond:
            self._wanted = self.store.version
            self._written = self._wanted - 1
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()
        return self

    def wait(self, timeout: float = 30.0) -> bool:
        """Block until every change made so far is on disk; False after `timeout`."""
        target = self.store.version
        with self._cond:
            return self._cond.wait_for(lambda: self._written >= target or self._thread is None,
                                       timeout)

    def stop(self) -> None:
        """Write what is still pending, then stop watching."""
        if self._changed in self.store.watchers:
            self.store.watchers.remove(self._changed)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=30)
        with self._cond:
            self._thread = None
            self._cond.notify_all()

    def _changed(self, version: int) -> None:
        with self._cond:
            self._wanted = max(self._wanted, version)
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._wanted > self._written or self._stopping)
                if self._wanted <= self._written:
                    return  # stopping with nothing left to write
                version = self._wanted
            # The snapshot is taken after `version` was read, so it holds that change.
            try:
                self._write()
            except OSError:  # answer anyway: a full disk must not hang every request
                log.exception("could not write the emulator state to %s", self.path)
            with self._cond:
                self._written = max(self._written, version)
                self._cond.notify_all()

    def _write(self) -> None:
        with self.store.lock:  # records are mutable: encode them while nobody writes
            text = json.dumps(self.store.snapshot())
        partial = self.path.with_name(self.path.name + ".tmp")
        with open(partial, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(partial, self.path)
        self.writes += 1
