"""Traffic shaping for tests: injected faults, Outlook's per-mailbox throttling, request counts.

Outlook limits each app to 10,000 requests per 10 minutes and 4 concurrent requests per
mailbox; when enabled, the emulator enforces both (window and limits configurable) and
answers 429 with `Retry-After`, as Graph does.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections import Counter, defaultdict, deque
from dataclasses import dataclass
from typing import Any

from .api import GraphError

ERROR_CODES = {
    429: ("TooManyRequests", "Too many requests."),
    500: ("InternalServerError", "An internal server error occurred."),
    502: ("BadGateway", "Bad gateway."),
    503: ("ServiceUnavailable", "The service is temporarily unavailable."),
    504: ("GatewayTimeout", "The gateway timed out."),
}


@dataclass
class Fault:
    """One injected fault: a status to answer and/or latency to add, for matching requests."""

    id: int
    method: str | None
    path_regex: re.Pattern[str] | None
    mailbox: str | None
    status: int | None
    retry_after: float | None
    latency_ms: int
    times: int | None
    code: str | None
    message: str | None

    def matches(self, method: str, path: str, mailbox_keys: set[str]) -> bool:
        """True when this fault applies to the request."""
        if self.method and self.method != method.upper():
            return False
        if self.path_regex and not (
            self.path_regex.search(path) or self.path_regex.search("/v1.0" + path)
        ):
            return False
        return not self.mailbox or self.mailbox.lower() in mailbox_keys

    def as_json(self) -> dict[str, Any]:
        """The fault as listed by the admin API."""
        return {
            "id": self.id,
            "match": {
                "method": self.method,
                "path_regex": self.path_regex.pattern if self.path_regex else None,
                "mailbox": self.mailbox,
            },
            "status": self.status,
            "retry_after": self.retry_after,
            "latency_ms": self.latency_ms,
            "times": self.times,
        }


class FaultInjector:
    """The list of active faults."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._next_id = 1

    def add(self, spec: dict[str, Any]) -> Fault:
        """Register a fault from its admin JSON; ValueError when malformed."""
        match = spec.get("match") or {}
        status = spec.get("status")
        if status is not None and not (400 <= int(status) <= 599):
            raise ValueError("status must be an HTTP error status")
        if status is None and not spec.get("latency_ms"):
            raise ValueError("a fault needs a status or latency_ms")
        times = spec.get("times")
        with self._lock:
            fault = Fault(
                id=self._next_id,
                method=(match.get("method") or "").upper() or None,
                path_regex=re.compile(match["path_regex"]) if match.get("path_regex") else None,
                mailbox=match.get("mailbox"),
                status=int(status) if status is not None else None,
                retry_after=float(spec["retry_after"]) if spec.get("retry_after") else None,
                latency_ms=int(spec.get("latency_ms") or 0),
                times=int(times) if times is not None else None,
                code=spec.get("code"),
                message=spec.get("message"),
            )
            self._next_id += 1
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        """Remove every fault."""
        with self._lock:
            self._faults.clear()

    def list(self) -> list[dict[str, Any]]:
        """Active faults as JSON."""
        with self._lock:
            return [f.as_json() for f in self._faults]

    def take(self, method: str, path: str, mailbox_keys: set[str]) -> tuple[int, GraphError | None]:
        """Latency to add and the error to answer (if any) for a request; uses up `times`."""
        latency = 0
        error: GraphError | None = None
        with self._lock:
            for fault in list(self._faults):
                if not fault.matches(method, path, mailbox_keys):
                    continue
                if fault.status is not None and error is not None:
                    continue  # one status fault per request
                latency += fault.latency_ms
                if fault.status is not None:
                    code, message = ERROR_CODES.get(fault.status, ("UnknownError", "Error."))
                    headers = {}
                    if fault.retry_after is not None:
                        headers["Retry-After"] = _seconds(fault.retry_after)
                    error = GraphError(
                        fault.status, fault.code or code, fault.message or message, headers
                    )
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
        return latency, error


def _seconds(value: float) -> str:
    return str(max(1, math.ceil(value)))


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

    def configure(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Apply `{"enabled", "limit", "window_seconds", "concurrency"}` and reset counters."""
        with self._lock:
            self.enabled = bool(spec.get("enabled", self.enabled))
            self.limit = int(spec.get("limit", self.limit))
            self.window_seconds = float(spec.get("window_seconds", self.window_seconds))
            self.concurrency = int(spec.get("concurrency", self.concurrency))
            self._hits.clear()
            return self.settings()

    def settings(self) -> dict[str, Any]:
        """Current configuration."""
        return {
            "enabled": self.enabled,
            "limit": self.limit,
            "window_seconds": self.window_seconds,
            "concurrency": self.concurrency,
        }

    def enter(self, app_id: str, mailbox_id: str) -> bool:
        """Admit a request (True) or raise 429; admitted requests must call `leave`."""
        if not self.enabled:
            return False
        key = (app_id, mailbox_id)
        now = time.monotonic()
        with self._lock:
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
            self._inflight[key] += 1
        return True

    def leave(self, app_id: str, mailbox_id: str) -> None:
        """Mark an admitted request as finished."""
        with self._lock:
            self._inflight[(app_id, mailbox_id)] -= 1


class RequestCounter:
    """Requests seen, by "METHOD /route/template" and per mailbox."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._routes: Counter[str] = Counter()
        self._mailboxes: dict[str, Counter[str]] = defaultdict(Counter)
        self._statuses: Counter[str] = Counter()

    def record(self, method: str, template: str, mailbox: str | None) -> None:
        """Count one request."""
        key = f"{method.upper()} {template}"
        with self._lock:
            self._routes[key] += 1
            if mailbox:
                self._mailboxes[mailbox][key] += 1

    def record_status(self, status: int) -> None:
        """Count one answered status."""
        with self._lock:
            self._statuses[str(status)] += 1

    def snapshot(self) -> dict[str, Any]:
        """Counts as JSON."""
        with self._lock:
            return {
                "total": sum(self._routes.values()),
                "by_route": dict(self._routes),
                "by_mailbox": {m: dict(c) for m, c in self._mailboxes.items()},
                "by_status": dict(self._statuses),
            }

    def reset(self) -> None:
        """Zero every count."""
        with self._lock:
            self._routes.clear()
            self._mailboxes.clear()
            self._statuses.clear()
