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


class Pacer:
    """A concurrency cap and a request budget per key (`system` names the calendar
    system in logs)."""

    def __init__(self, system: str, max_concurrency: int, requests_per_window: int,
                 period: float, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.system = system
        self._max_concurrency = max_concurrency
        self._limit = requests_per_window
        self._period = period
        self._clock = clock
        self._sleep = sleep
        self._gates: dict[str, tuple[threading.BoundedSemaphore, SlidingWindow]] = {}
        self._lock = threading.Lock()

    def _gate(self, key: str) -> tuple[threading.BoundedSemaphore, SlidingWindow]:
        folded = key.lower()
        with self._lock:
            gate = self._gates.get(folded)
            if gate is None:
                gate = (threading.BoundedSemaphore(self._max_concurrency),
                        SlidingWindow(self._limit, self._period, clock=self._clock,
                                      sleep=self._sleep))
                self._gates[folded] = gate
            return gate

    @contextmanager
    def slot(self, key: str, cost: int = 1) -> Iterator[None]:
        """Hold one of the key's concurrent slots, after `cost` fits its budget."""
        semaphore, window = self._gate(key)
        waited = window.take(cost)
        if waited:
            log.info("paced", extra={"bridge": self.system, "calendar": key, "waited": waited})
        with semaphore:
            yield
