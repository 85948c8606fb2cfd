"""Concurrent-request slots and request budgets shared by every process of the app (Flex
Consumption runs queue work on several instances), in table `BridgeRequestSlots`, one
partition per paced key (a calendar system, its app and a mailbox): row `slots` names who
holds how many slots until when, row `budget` what share of the key's request budget was
handed out when (grants older than the budget's period no longer count). Every change is
a replace guarded by the row's ETag, so two processes never both take the last slot or
the last of a budget; a holder that died frees its slots when they expire."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import (
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.data.tables import TableClient, UpdateMode

from calbridge.store.entities import storage_errors

log = logging.getLogger(__name__)

TABLE = "BridgeRequestSlots"
ROW = "slots"
BUDGET_ROW = "budget"
# Longer than one paced call normally takes (its retries included): a slot held longer by
# a process that died is free again after this long.
HOLD_SECONDS = 120.0
# Attempts at one change when other processes keep changing the row first.
_RACES = 20


class TableSlotLedger:
    """`calbridge.bridges.pacing.SlotLedger` over Table Storage."""

    def __init__(self, table: TableClient, *, hold_seconds: float = HOLD_SECONDS,
                 clock: Callable[[], float] = time.time) -> None:
        self._table = table
        self._hold = hold_seconds
        self._clock = clock
        self._ready = False
        self._ready_lock = threading.Lock()

    def acquire(self, key: str, width: int, limit: int) -> str | None:
        """Take `width` of the key's `limit` slots: a holder id, or None while too few are
        free. Raises `StorageUnavailable`."""
        with storage_errors("request slots"):
            return self._acquire(key, width, limit)

    def release(self, key: str, holder: str) -> None:
        """Give a holder's slots back (nothing when they already expired). Raises
        `StorageUnavailable`."""
        with storage_errors("request slots"):
            self._release(key, holder)

    def draw(self, key: str, count: int, limit: int, period: float) -> float:
        """Take `count` requests of the key's budget of `limit` per `period` seconds: 0 when
        taken, else the seconds until enough of what was taken before is out of the window
        (nothing taken then). Raises `StorageUnavailable`."""
        with storage_errors("request budget"):
            return self._draw(key, count, limit, period)

    def _draw(self, key: str, count: int, limit: int, period: float) -> float:
        self._ensure()
        count = max(1, min(count, limit))
        for _ in range(_RACES):
            entity = self._read(key, BUDGET_ROW)
            now = self._clock()
            grants = _grants(entity, now - period)
            room = limit - sum(taken for _, taken in grants)
            if room < count:
                # The oldest grants leave the window first.
                freed, wait = room, period
                for at, taken in grants:
                    freed += taken
                    if freed >= count:
                        wait = at + period - now
                        break
                return max(wait, 0.001)
            grants.append((now, count))
            if self._write(key, entity, {"grants": json.dumps(grants)}, BUDGET_ROW):
                return 0.0
        return 0.05  # others keep drawing first: ask again shortly

    def _acquire(self, key: str, width: int, limit: int) -> str | None:
        self._ensure()
        for _ in range(_RACES):
            entity = self._read(key)
            now = self._clock()
            holders = _live(entity, now)
            if sum(w for w, _ in holders.values()) + width > limit:
                return None
            holder = uuid.uuid4().hex
            holders[holder] = (width, now + self._hold)
            if self._write(key, entity, {"holders": json.dumps(holders)}):
                return holder
        return None

    def _release(self, key: str, holder: str) -> None:
        for _ in range(_RACES):
            entity = self._read(key)
            holders = _live(entity, self._clock())
            if entity is None or holders.pop(holder, None) is None:
                return
            if self._write(key, entity, {"holders": json.dumps(holders)}):
                return
        log.warning("request slots not given back; they free themselves when they expire",
                    extra={"calendar": key})

    def _ensure(self) -> None:
        if self._ready:
            return
        with self._ready_lock:
            try:
                self._table.create_table()
            except ResourceExistsError:
                pass
            self._ready = True

    def _read(self, key: str, row: str = ROW) -> Any:
        try:
            return self._table.get_entity(_partition(key), row)
        except ResourceNotFoundError:
            return None

    def _write(self, key: str, entity: Any, values: dict[str, str], row: str = ROW) -> bool:
        """Store a row's values if the row is still as read; False when another process
        changed it first."""
        stored = {"PartitionKey": _partition(key), "RowKey": row, "key": key, **values}
        try:
            if entity is None:
                self._table.create_entity(stored)
            else:
                self._table.update_entity(stored, mode=UpdateMode.REPLACE,
                                          etag=entity.metadata["etag"],
                                          match_condition=MatchConditions.IfNotModified)
        except (ResourceExistsError, ResourceModifiedError):
            return False
        return True


def _partition(key: str) -> str:
    # Mailbox addresses may hold characters Table Storage keys refuse; a digest never does.
    return hashlib.sha256(key.lower().encode()).hexdigest()


def _live(entity: Any, now: float) -> dict[str, tuple[int, float]]:
    """The holders whose slots have not expired."""
    if entity is None:
        return {}
    try:
        stored = json.loads(entity.get("holders") or "{}")
    except ValueError:
        return {}
    return {holder: (int(width), float(until)) for holder, (width, until) in stored.items()
            if float(until) > now}


def _grants(entity: Any, since: float) -> list[tuple[float, int]]:
    """The budget grants made after `since`, oldest first."""
    if entity is None:
        return []
    try:
        stored = json.loads(entity.get("grants") or "[]")
    except ValueError:
        return []
    return sorted((float(at), int(taken)) for at, taken in stored if float(at) > since)
