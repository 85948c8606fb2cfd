"""Traffic shaping for tests: injected faults, Outlook's per-mailbox throttling, request counts.

Outlook limits each app to 10,000 requests per 10 minutes and 4 concurrent requests per
mailbox; when enabled, the emulator enforces both (window and limits configurable) and
answers 429 with `Retry-After`, as Graph does.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict, deque
from typing import Any

from .. import traffic
from ..traffic import seconds_header as _seconds
from .api import GraphError

ERROR_CODES = {
    429: ("TooManyRequests", "Too many requests."),
    500: ("InternalServerError", "An internal server error occurred."),
    502: ("BadGateway", "Bad gateway."),
    503: ("ServiceUnavailable", "The service is temporarily unavailable."),
    504: ("GatewayTimeout", "The gateway timed out."),
}


class FaultInjector(traffic.FaultInjector):
    """Injected faults (scoped by mailbox), answered as Graph errors."""

    def __init__(self) -> None:
        super().__init__(scope_key="mailbox", root="/v1.0", drops_answers=True)

    def take(self, method: str, path: str, mailbox_keys: set[str]
             ) -> tuple[int, GraphError | None, bool]:
        """Latency to add, the error to answer (if any), and whether to drop the answer of
        a request; uses up `times`."""
        latency, fault = self.take_fault(method, path, mailbox_keys)
        if fault is None or fault.status is None:
            return latency, None, fault is not None and fault.drop_answer
        code, message = ERROR_CODES.get(fault.status, ("UnknownError", "Error."))
        return latency, GraphError(fault.status, fault.code or code, fault.message or message,
                                   fault.retry_after_header), False


class MailboxThrottle:
    """Outlook's per-app, per-mailbox request-rate and concurrency limits."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.enabled = False
        self.limit = 10_000
        self.window_seconds = 600.0
        self.concurrency = 4
        self._hits: dict[tuple[str, str], deque[float]] = defaultdict(deque)
        self._inflight: Counter[tuple[str, str]] = Counter()
        # The most requests ever in flight at once per mailbox (since the last configure),
        # recorded whether or not throttling is enabled: what a client's pacing achieved.
        self._peak: Counter[str] = Counter()

    def configure(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Apply `{"enabled", "limit", "window_seconds", "concurrency"}` and reset counters."""
        with self._lock:
            self.enabled = bool(spec.get("enabled", self.enabled))
            self.limit = int(spec.get("limit", self.limit))
            self.window_seconds = float(spec.get("window_seconds", self.window_seconds))
            self.concurrency = int(spec.get("concurrency", self.concurrency))
            self._hits.clear()
            self._peak.clear()
            return self._settings()

    def settings(self) -> dict[str, Any]:
        """Current configuration, and the peak concurrency seen per mailbox."""
        with self._lock:
            return self._settings()

    def _settings(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "limit": self.limit,
            "window_seconds": self.window_seconds,
            "concurrency": self.concurrency,
            "peak_concurrency": dict(self._peak),
        }

    def enter(self, app_id: str, mailbox_id: str) -> bool:
        """Admit a request (True) or raise 429; admitted requests must call `leave`."""
        key = (app_id, mailbox_id)
        now = time.monotonic()
        with self._lock:
            if not self.enabled:
                self._admit(key)
                return True
            hits = self._hits[key]
            while hits and hits[0] <= now - self.window_seconds:
                hits.popleft()
            hits.append(now)  # every request accrues against the limit, throttled or not
            if len(hits) > self.limit:
                wait = hits[len(hits) - self.limit - 1] + self.window_seconds - now
                raise GraphError(
                    429,
                    "ApplicationThrottled",
                    "Application is over its MailboxRequests limit.",
                    {"Retry-After": _seconds(wait)},
                )
            if self._inflight[key] >= self.concurrency:
                raise GraphError(
                    429,
                    "ApplicationThrottled",
                    "Application is over its MailboxConcurrency limit.",
                    {"Retry-After": "1"},
                )
            self._admit(key)
        return True

    def _admit(self, key: tuple[str, str]) -> None:
        self._inflight[key] += 1
        self._peak[key[1]] = max(self._peak[key[1]], self._inflight[key])

    def leave(self, app_id: str, mailbox_id: str) -> None:
        """Mark an admitted request as finished."""
        with self._lock:
            self._inflight[(app_id, mailbox_id)] -= 1


class RequestCounter(traffic.RequestCounter):
    """Requests seen, by route template, per mailbox and by status. Every item of a `$batch`
    is a request of its own, as Graph's throttling counts it; `calls` counts the HTTP
    requests to the Graph API as they came over the wire (a `$batch` once, sign-in not)."""

    scope_label = "by_mailbox"

    def __init__(self) -> None:
        super().__init__()
        self._calls = 0

    def record_call(self) -> None:
        """Count one HTTP request to the Graph API."""
        with self._lock:
            self._calls += 1

    def snapshot(self) -> dict[str, Any]:
        counts = super().snapshot()
        with self._lock:
            counts["calls"] = self._calls
        return counts

    def reset(self) -> None:
        super().reset()
        with self._lock:
            self._calls = 0
