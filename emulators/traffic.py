"""Traffic accounting and fault injection shared by the emulators: injected error statuses
and latency for matching requests, and request counts by route, scope and status.

A fault is matched by method, a regex searched in the path (also with the API's root
prefix, e.g. "/v1.0" or "/calendar/v3", in front) and a scope (a mailbox, a calendar);
each emulator renders the matched fault as its own API's error.
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from typing import Any


@dataclass
class Fault:
    """One injected fault: a status to answer and/or latency to add, for matching requests."""

    id: int
    method: str | None
    path_regex: re.Pattern[str] | None
    scope: str | None
    status: int | None
    retry_after: float | None
    latency_ms: int
    times: int | None
    code: str | None
    message: str | None
    # The request is carried out, then the connection is closed without an answer: what a
    # client sees when a network drops the response of a request the server applied.
    drop_answer: bool = False
    # Matching requests let through untouched before the fault applies (a failure on the
    # third page of a listing: `after` 2).
    after: int = 0

    def matches(self, method: str, paths: tuple[str, ...], scope_keys: set[str]) -> bool:
        """True when this fault applies to the request."""
        if self.method and self.method != method.upper():
            return False
        if self.path_regex and not any(self.path_regex.search(p) for p in paths):
            return False
        return not self.scope or self.scope.lower() in scope_keys

    @property
    def retry_after_header(self) -> dict[str, str]:
        """`{"Retry-After": seconds}` when the fault names one, else nothing."""
        if self.retry_after is None:
            return {}
        return {"Retry-After": seconds_header(self.retry_after)}


class FaultInjector:
    """The list of active faults. ``scope_key`` names the scope in admin JSON ("mailbox",
    "calendar"); ``root`` is the API root tried in front of paths."""

    def __init__(self, scope_key: str = "scope", root: str = "",
                 drops_answers: bool = False) -> None:
        self.scope_key = scope_key
        self.root = root
        # Whether this emulator can carry out a request and drop its answer.
        self.drops_answers = drops_answers
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._next_id = 1

    def add(self, spec: dict[str, Any]) -> Fault:
        """Register a fault from its admin JSON; ValueError when malformed."""
        match = spec.get("match") or {}
        status = spec.get("status")
        if status is not None and not (400 <= int(status) <= 599):
            raise ValueError("status must be an HTTP error status")
        drop_answer = bool(spec.get("drop_answer"))
        if drop_answer and not self.drops_answers:
            raise ValueError("this emulator cannot drop answers")
        if status is not None and drop_answer:
            raise ValueError("a fault answers a status or drops the answer, not both")
        if status is None and not spec.get("latency_ms") and not drop_answer:
            raise ValueError("a fault needs a status, latency_ms or drop_answer")
        times = spec.get("times")
        with self._lock:
            fault = Fault(
                id=self._next_id,
                method=(match.get("method") or "").upper() or None,
                path_regex=re.compile(match["path_regex"]) if match.get("path_regex") else None,
                scope=match.get(self.scope_key),
                status=int(status) if status is not None else None,
                retry_after=float(spec["retry_after"]) if spec.get("retry_after") else None,
                latency_ms=int(spec.get("latency_ms") or 0),
                times=int(times) if times is not None else None,
                code=spec.get("code"),
                message=spec.get("message"),
                drop_answer=drop_answer,
                after=max(int(spec.get("after") or 0), 0),
            )
            self._next_id += 1
            self._faults.append(fault)
        return fault

    def as_json(self, fault: Fault) -> dict[str, Any]:
        """A fault as the admin API lists it."""
        return {
            "id": fault.id,
            "match": {
                "method": fault.method,
                "path_regex": fault.path_regex.pattern if fault.path_regex else None,
                self.scope_key: fault.scope,
            },
            "status": fault.status,
            "retry_after": fault.retry_after,
            "latency_ms": fault.latency_ms,
            "times": fault.times,
            "after": fault.after,
            "code": fault.code,
            "drop_answer": fault.drop_answer,
        }

    def clear(self) -> None:
        """Remove every fault."""
        with self._lock:
            self._faults.clear()

    def list(self) -> list[dict[str, Any]]:
        """Active faults as JSON."""
        with self._lock:
            return [self.as_json(f) for f in self._faults]

    def take_fault(self, method: str, path: str, scope_keys: set[str]
                   ) -> tuple[int, Fault | None]:
        """Latency to add and the status or drop-answer fault (if any) for a request; uses
        up `times`."""
        latency = 0
        chosen: Fault | None = None
        paths = (path, self.root + path) if self.root else (path,)
        with self._lock:
            for fault in list(self._faults):
                if not fault.matches(method, paths, scope_keys):
                    continue
                if fault.after > 0:
                    fault.after -= 1
                    continue
                decisive = fault.status is not None or fault.drop_answer
                if decisive and chosen is not None:
                    continue  # one status (or dropped answer) per request
                latency += fault.latency_ms
                if decisive:
                    chosen = replace(fault)
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
        return latency, chosen


def seconds_header(value: float) -> str:
    """A Retry-After value: whole seconds, at least 1."""
    return str(max(1, math.ceil(value)))


class RequestCounter:
    """Requests seen, by "METHOD /route/template", per scope (`scope_label` in the snapshot)
    and by answered status."""

    scope_label = "by_scope"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._routes: Counter[str] = Counter()
        self._scopes: dict[str, Counter[str]] = defaultdict(Counter)
        self._statuses: Counter[str] = Counter()

    def record(self, method: str, template: str, scope: str | None) -> None:
        """Count one request."""
        key = f"{method.upper()} {template}"
        with self._lock:
            self._routes[key] += 1
            if scope:
                self._scopes[scope][key] += 1

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
                self.scope_label: {m: dict(c) for m, c in self._scopes.items()},
                "by_status": dict(self._statuses),
            }

    def reset(self) -> None:
        """Zero every count."""
        with self._lock:
            self._routes.clear()
            self._scopes.clear()
            self._statuses.clear()
