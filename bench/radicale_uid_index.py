"""Radicale's file-system storage without two per-write scans of the whole collection,
for the CalDAV benchmark (`--storage-type radicale_uid_index`, this folder on PYTHONPATH).

Radicale 3 answers every PUT that creates a resource by reading every item of the
collection to refuse a duplicate UID (`BaseCollection.has_uid`), and after every write
looks through the history of every item for expired entries of deleted ones
(`_clean_history`). Filling an empty calendar with N events so costs the server O(N²):
about 25 minutes for 5,000 events on two cores, whichever client writes them. Here the
UID check stays exact with a set of UIDs per collection, built from one listing and kept
up to date by this process's writes, and history entries are not expired (they expire
after `max_sync_token_age`, 30 days, far longer than a benchmark runs), so the benchmark
measures the clients rather than those scans; writes are not fsynced (the folder is
temporary). Everything a client sees is unchanged."""

from __future__ import annotations

import threading
from typing import Any

from radicale.storage import multifilesystem

_lock = threading.Lock()
_uids: dict[str, set[str]] = {}


class Collection(multifilesystem.Collection):
    def _index(self) -> set[str]:
        found = _uids.get(self._filesystem_path)
        if found is None:
            found = {item.uid for item in self.get_all()}
            _uids[self._filesystem_path] = found
        return found

    def has_uid(self, uid: str) -> bool:
        with _lock:
            return uid in self._index()

    def upload(self, href: str, item: Any) -> Any:
        uploaded, replaced = super().upload(href, item)
        with _lock:
            if replaced is not None and replaced.uid != item.uid:
                _uids.pop(self._filesystem_path, None)
            else:
                self._index().add(item.uid)
        return uploaded, replaced

    def delete(self, href: str | None = None) -> None:
        super().delete(href)
        with _lock:  # rebuilt on next use: deletions are rare here
            _uids.pop(self._filesystem_path, None)


    def _clean_history(self) -> None:
        pass


class Storage(multifilesystem.Storage):
    _collection_class = Collection

    def __init__(self, configuration: Any) -> None:
        super().__init__(configuration)
        # A temporary folder thrown away after the run: no fsync after every write.
        self._filesystem_fsync = False
