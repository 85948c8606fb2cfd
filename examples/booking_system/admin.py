"""Test controls: injected faults and counts of requests by route."""

from __future__ import annotations

import re
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any

from .errors import InvalidField


@dataclass
class Fault:
    """Answer the next ``times`` matching requests with ``status`` instead of serving them."""

    status: int
    times: int
    path_regex: str
    method: str | None = None
    retry_after: int | None = None
    delay_ms: int = 0

    def matches(self, method: str, path: str) -> bool:
        """Does this fault apply to the request?"""
        if self.method is not None and self.method != method:
            return False
        return re.search(self.path_regex, path) is not None

    def describe(self) -> dict[str, Any]:
        """The fault as JSON."""
        return {
            "status": self.status, "times": self.times, "path_regex": self.path_regex,
            "method": self.method, "retry_after": self.retry_after, "delay_ms": self.delay_ms,
        }


def read_fault(body: dict[str, Any]) -> Fault:
    """A fault from ``{"status", "retry_after", "times", "path_regex", "method", "delay_ms"}``."""
    status = body.get("status", 503)
    if not isinstance(status, int) or isinstance(status, bool) or not 400 <= status <= 599:
        raise InvalidField("status", "must be an HTTP error status between 400 and 599")
    times = body.get("times", 1)
    if not isinstance(times, int) or isinstance(times, bool) or times < 1:
        raise InvalidField("times", "must be a positive integer")
    path_regex = body.get("path_regex", r"^/api/")
    if not isinstance(path_regex, str):
        raise InvalidField("path_regex", "must be a string")
    try:
        re.compile(path_regex)
    except re.error as exc:
        raise InvalidField("path_regex", f"not a regular expression: {exc}") from None
    method = body.get("method")
    if method is not None and (not isinstance(method, str) or not method.isalpha()):
        raise InvalidField("method", "must be an HTTP method such as GET")
    retry_after = body.get("retry_after")
    if retry_after is not None and (
        not isinstance(retry_after, int) or isinstance(retry_after, bool) or retry_after < 0
    ):
        raise InvalidField("retry_after", "must be a non-negative integer (seconds)")
    delay_ms = body.get("delay_ms", 0)
    if not isinstance(delay_ms, int) or isinstance(delay_ms, bool) or not 0 <= delay_ms <= 60_000:
        raise InvalidField("delay_ms", "must be an integer between 0 and 60000")
    return Fault(
        status=status, times=times, path_regex=path_regex,
        method=method.upper() if method else None, retry_after=retry_after, delay_ms=delay_ms,
    )


class FaultInjector:
    """Holds the configured faults; each matching request uses up one of a fault's times."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> None:
        """Arm a fault (faults are checked in the order they were added)."""
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        """Disarm every fault."""
        with self._lock:
            self._faults.clear()

    def describe(self) -> list[dict[str, Any]]:
        """The armed faults with their remaining times."""
        with self._lock:
            return [fault.describe() for fault in self._faults]

    def take(self, method: str, path: str) -> Fault | None:
        """The fault to apply to this request, if any (using up one of its times)."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None


class RequestCounter:
    """Counts requests by ``"METHOD /route/{template}"``."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def record(self, method: str, template: str) -> None:
        """Count one request."""
        with self._lock:
            self._counts[f"{method} {template}"] += 1

    def clear(self) -> None:
        """Start counting from zero."""
        with self._lock:
            self._counts.clear()

    def describe(self) -> dict[str, Any]:
        """``{"requests": {"GET /api/events": 3, ...}, "total": 3}``."""
        with self._lock:
            return {"requests": dict(sorted(self._counts.items())),
                    "total": sum(self._counts.values())}
