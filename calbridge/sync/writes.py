"""A run's link and operations-log writes, held until a safe point and then stored in
entity-group transactions of up to 100 rows: a first sync costs a few table round trips
per hundred events instead of several per event.

The safe points keep sync rules 1 and 3. A new pair's link is stored, pending, before its
copy is created (`SyncEngine._reserve`), so after a crash the copy is found by its marker
rather than made twice; what the create taught (the copy's id, both fingerprints) waits
here until the chunk of operations is done. A crash before the flush leaves those links
pending, and the next run looks their copies up instead of creating them again.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor

from calbridge.errors import CalbridgeError
from calbridge.model import EventLink, Operation
from calbridge.store.protocols import LinkStore, LinkWrite, OperationLog
from calbridge.sync.outcome import Outcome, OutcomeStatus

log = logging.getLogger(__name__)

# Outcomes the operations log keeps (a skip is no operation).
LOGGED = (OutcomeStatus.COMPLETED, OutcomeStatus.FAILED, OutcomeStatus.CONFLICT)
# An outcome whose link write lost to another worker: its target was written, but the
# link now says what that worker did, and the next run converges from there.
LOST_RACE = "handled concurrently by another worker"


def logged_operation(outcome: Outcome) -> Operation:
    """The operations-log row of an outcome."""
    return Operation(
        link_id=outcome.link_id, mapping_id=outcome.mapping_id,
        source_system=outcome.source_system, target_system=outcome.target_system,
        operation=outcome.operation, status=outcome.status,
        external_id=outcome.external_id, internal_id=outcome.internal_id,
        error=outcome.error or (outcome.reason if outcome.status != OutcomeStatus.COMPLETED
                                else None))


class PendingWrites:
    """Link writes and logged outcomes of one chunk of a run; safe to fill from the
    engine's worker threads."""

    def __init__(self, links: LinkStore, operations: OperationLog) -> None:
        self._links = links
        self._operations = operations
        self._lock = threading.Lock()
        self._writes: dict[str, tuple[LinkWrite, Outcome | None]] = {}
        self._logged: list[Outcome] = []

    def link(self, link: EventLink, previous: EventLink, outcome: Outcome | None) -> None:
        """Hold a link write; `outcome` is the operation it records, turned into a skip if
        the write loses to another worker's. A link written twice before a flush is
        stored once, with what it was read as the first time."""
        with self._lock:
            earlier = self._writes.get(link.id)
            if earlier is not None:
                previous = earlier[0].previous or previous
                outcome = outcome or earlier[1]
            stored = link.model_copy(deep=True, update={"etag": previous.etag})
            self._writes[link.id] = (LinkWrite(stored, previous), outcome)

    def log(self, outcome: Outcome) -> None:
        with self._lock:
            self._logged.append(outcome)

    def flush(self) -> None:
        """Store the held links, then log the outcomes as they stand after that."""
        with self._lock:
            writes, self._writes = list(self._writes.values()), {}
            logged, self._logged = self._logged, []
        if writes:
            results = self._links.write([write for write, _ in writes])
            for (_write, outcome), result in zip(writes, results, strict=True):
                if isinstance(result, CalbridgeError) and outcome is not None:
                    outcome.status, outcome.reason = OutcomeStatus.SKIPPED, LOST_RACE
        rows = [logged_operation(outcome) for outcome in logged if outcome.status in LOGGED]
        if rows:
            try:
                self._operations.record_all(rows)
            except CalbridgeError:
                log.exception("could not log operations")


class ChunkFlushes:
    """The flushes of a run's chunks, in order and one at a time. With more than one
    chunk they run in the background while the next chunk's operations go, so a
    chunk's table writes overlap the next chunk's writes to the calendar; with one,
    the flush is done when waited for."""

    def __init__(self, background: bool) -> None:
        self._pool = (ThreadPoolExecutor(max_workers=1, thread_name_prefix="flush")
                      if background else None)
        self._held: list[PendingWrites] = []
        self._running: list[Future[None]] = []

    def add(self, pending: PendingWrites) -> None:
        if self._pool is None:
            self._held.append(pending)
        else:
            self._running.append(self._pool.submit(pending.flush))

    def wait(self, *, quietly: bool = False) -> None:
        """Wait until every flush so far is done; the first that failed raises (or, when
        `quietly`, is logged: another error is on its way)."""
        errors: list[CalbridgeError] = []
        # Held flushes run here; background ones are waited for, in the order they came.
        steps = ([pending.flush for pending in self._held]
                 + [future.result for future in self._running])
        self._held, self._running = [], []
        for step in steps:
            try:
                step()
            except CalbridgeError as exc:
                errors.append(exc)
        if errors and quietly:
            log.error("could not store a chunk's writes", exc_info=errors[0])
        elif errors:
            raise errors[0]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
