"""Client-side pacing for calendar APIs whose quotas are per user or mailbox: a cap on
concurrent requests and a sliding-window request budget per key (an Outlook mailbox, the
Google user calbridge acts as), so calbridge stays under a documented quota instead of
learning it from 429s."""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

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

    def take(self, cost: int = 1) -> float:
        """Record `cost` requests, first waiting until they fit; returns seconds waited."""
        cost = max(1, min(cost, self.limit))
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                while self._sent and self._sent[0] <= now - self.period:
                    self._sent.popleft()
                room = self.limit - len(self._sent)
                if room >= cost:
                    self._sent.extend([now] * cost)
                    return waited
                # The entry whose expiry makes room for `cost` more requests.
                delay = self._sent[cost - room - 1] + self.period - now
            delay = max(delay, 0.001)
            waited += delay
            self._sleep(delay)


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

    @property
    def in_flight(self) -> int:
        with self._changed:
            return self._in_flight

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

    @property
    def max_concurrency(self) -> int:
        return self._max_concurrency

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
        waited = window.take(cost)
        if waited:
            log.info("paced", extra={"bridge": self.system, "calendar": key, "waited": waited})
        with gate.hold(width):
            yield
