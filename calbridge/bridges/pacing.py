"""Client-side pacing for calendar APIs whose quotas are per user or mailbox: a cap on
concurrent requests and a sliding-window request budget per key (an Outlook mailbox, the
Google user calbridge acts as), so calbridge stays under a documented quota instead of
learning it from 429s. Both hold per process; with a shared `SlotLedger` (see `share`) both
also hold across every process of the app: each request's slots are held in the ledger
too, and each process draws the budget from it a block at a time."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol

from calbridge.errors import StorageUnavailable

log = logging.getLogger(__name__)


class SlidingWindow:
    """At most `limit` requests in any `period` seconds; `take` waits for room."""

    def __init__(self, limit: int, period: float, *,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.limit = limit
        self.period = period
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()

    def _delay(self, now: float, cost: int) -> float:
        """Seconds from `now` until `cost` more requests fit (0: they do now), the expired
        entries dropped first; the caller holds the lock."""
        while self._sent and self._sent[0] <= now - self.period:
            self._sent.popleft()
        room = self.limit - len(self._sent)
        # The entry whose expiry makes room for `cost` more requests.
        return 0.0 if room >= cost else self._sent[cost - room - 1] + self.period - now

    def wait_for(self, cost: int = 1) -> float:
        """Seconds until `cost` requests would fit (0: now), taking nothing."""
        with self._lock:
            return max(self._delay(self._clock(), max(1, min(cost, self.limit))), 0.0)

    def take(self, cost: int = 1) -> float:
        """Record `cost` requests, first waiting until they fit; returns seconds waited."""
        cost = max(1, min(cost, self.limit))
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                delay = self._delay(now, cost)
                if not delay:
                    self._sent.extend([now] * cost)
                    return waited
            delay = max(delay, 0.001)
            waited += delay
            self._sleep(delay)


class SlotLedger(Protocol):
    """Concurrent-request slots shared by several processes (`calbridge.store.slots`)."""

    def acquire(self, key: str, width: int, limit: int) -> str | None:
        """Take `width` of `limit` slots: a holder id, or None while too few are free."""
        ...

    def release(self, key: str, holder: str) -> None:
        """Give a holder's slots back."""
        ...

    def draw(self, key: str, count: int, limit: int, period: float) -> float:
        """Take `count` of the key's `limit` requests per `period` seconds: 0 when taken,
        else the seconds until they could be (nothing taken)."""
        ...


# How long a caller waits before asking a shared ledger again for slots it could not get.
SHARED_POLL_SECONDS = (0.02, 0.5)
# How much of a shared budget a process draws at a time: few ledger round trips, and
# little of the budget idle in a process that stops sending (a twentieth at most).
SHARED_BUDGET_BLOCK = 100


class _Drawn:
    """What a process has drawn of a key's shared budget and not yet spent."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.left = 0
        self.at = 0.0  # when it was drawn: unspent requests lapse with their draw


class ConcurrencyGate:
    """At most `limit` requests in flight; a caller may hold several at once (a `$batch`
    whose parts the server runs side by side). Callers are admitted in arrival order, so a
    wide batch is not starved by a stream of single requests."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._in_flight = 0
        self._next_ticket = 0
        self._serving = 0
        self._changed = threading.Condition()

    @contextmanager
    def hold(self, width: int = 1) -> Iterator[None]:
        """Hold `width` of the slots (at most `limit`) while the block runs."""
        width = max(1, min(width, self.limit))
        with self._changed:
            ticket = self._next_ticket
            self._next_ticket += 1
            self._changed.wait_for(lambda: ticket == self._serving
                                   and self._in_flight + width <= self.limit)
            self._serving += 1
            self._in_flight += width
            self._changed.notify_all()
        try:
            yield
        finally:
            with self._changed:
                self._in_flight -= width
                self._changed.notify_all()


class Pacer:
    """A concurrency cap and a request budget per key (`system` names the calendar
    system in logs), shared by every thread that holds this pacer."""

    def __init__(self, system: str, max_concurrency: int, requests_per_window: int,
                 period: float, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.system = system
        self._max_concurrency = max_concurrency
        self._limit = requests_per_window
        self._period = period
        self._clock = clock
        self._sleep = sleep
        self._gates: dict[str, tuple[ConcurrencyGate, SlidingWindow]] = {}
        self._lock = threading.Lock()
        self._ledger: SlotLedger | None = None
        self._scope = ""
        self._drawn: dict[str, _Drawn] = {}

    def share(self, ledger: SlotLedger, scope: str) -> None:
        """Also hold each slot in `ledger` and draw the budget from it, so both hold across
        processes; `scope` names whose limits they are (Graph's are per app and mailbox)."""
        self._ledger = ledger
        self._scope = scope

    def _gate(self, key: str) -> tuple[ConcurrencyGate, SlidingWindow]:
        folded = key.lower()
        with self._lock:
            gate = self._gates.get(folded)
            if gate is None:
                gate = (ConcurrencyGate(self._max_concurrency),
                        SlidingWindow(self._limit, self._period, clock=self._clock,
                                      sleep=self._sleep))
                self._gates[folded] = gate
            return gate

    @contextmanager
    def slot(self, key: str, cost: int = 1, width: int = 1) -> Iterator[None]:
        """Hold `width` of the key's concurrent slots, after `cost` requests fit its budget
        (a batch of n parts costs n; it is as wide as the parts the server runs at once)."""
        gate, window = self._gate(key)
        waited = window.take(cost) + self._draw_shared(key, cost)
        if waited:
            log.info("paced", extra={"bridge": self.system, "calendar": key, "waited": waited})
        with gate.hold(width):
            holder = self._hold_shared(key, width)
            try:
                yield
            finally:
                if holder is not None:
                    self._release_shared(key, holder)

    def wait_for(self, key: str, cost: int = 1) -> float:
        """Seconds until `cost` requests to `key` would fit this process's budget (0:
        now), taking nothing: a caller with a deadline can stop before a wait it has no
        time for."""
        return self._gate(key)[1].wait_for(cost)

    def _draw_shared(self, key: str, cost: int) -> float:
        """Spend `cost` of what this process drew of the key's budget in the shared ledger,
        drawing another block first when too little is left (waiting while the ledger has
        none to give); seconds waited. Without a ledger, or while storage cannot be
        reached, only this process's budget holds."""
        if self._ledger is None:
            return 0.0
        cost = max(1, min(cost, self._limit))
        with self._lock:
            drawn = self._drawn.setdefault(key.lower(), _Drawn())
        waited = 0.0
        with drawn.lock:
            if self._clock() - drawn.at >= self._period:
                drawn.left = 0  # no longer counted in the ledger's window
            while drawn.left < cost:
                block = max(cost, min(SHARED_BUDGET_BLOCK, self._limit // 20))
                try:
                    wait = self._ledger.draw(self._shared_key(key), block, self._limit,
                                             self._period)
                except StorageUnavailable as exc:
                    self._unshared("budget", key, exc)
                    return waited
                if not wait:
                    drawn.left, drawn.at = block, self._clock()
                    break
                self._sleep(wait)
                waited += wait
            drawn.left -= cost
        return waited

    def _unshared(self, what: str, key: str, exc: StorageUnavailable) -> None:
        log.warning(f"shared request {what} unavailable, pacing this process only",
                    extra={"bridge": self.system, "calendar": key, "error": exc.message})

    def _shared_key(self, key: str) -> str:
        return f"{self.system}|{self._scope}|{key.lower()}"

    def _hold_shared(self, key: str, width: int) -> str | None:
        """Wait for `width` slots in the shared ledger; None without one, or while storage
        cannot be reached (then only this process's cap holds: throttling is retried)."""
        if self._ledger is None:
            return None
        width = max(1, min(width, self._max_concurrency))
        pause, longest = SHARED_POLL_SECONDS
        waited = 0.0
        while True:
            try:
                holder = self._ledger.acquire(self._shared_key(key), width,
                                              self._max_concurrency)
            except StorageUnavailable as exc:
                self._unshared("slots", key, exc)
                return None
            if holder is not None:
                if waited:
                    log.info("paced across processes", extra={
                        "bridge": self.system, "calendar": key, "waited": waited})
                return holder
            self._sleep(pause)
            waited += pause
            pause = min(pause * 2, longest)

    def _release_shared(self, key: str, holder: str) -> None:
        assert self._ledger is not None
        try:
            self._ledger.release(self._shared_key(key), holder)
        except StorageUnavailable as exc:
            # The slots free themselves when their hold expires.
            log.warning("shared request slots not given back", extra={
                "bridge": self.system, "calendar": key, "error": exc.message})
