"""`/_admin`: the unauthenticated controls every emulator answers alike, for tests, demos and
benchmarks (never in the real service): back to the seed, injected faults, request counts.

Each emulator subclasses `AdminApi` with its own router, how its API answers and refuses a
request, its `/_admin/state` and its own controls.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar, Protocol

from .https import Response
from .routing import Router
from .traffic import FaultInjector, RequestCounter


class AdminService(Protocol):
    """What the shared admin routes need of an emulator's service."""

    faults: FaultInjector
    counter: RequestCounter

    def reset(self) -> None:
        """Back to the seed, faults and counts included."""
        ...


class AdminApi(ABC):
    """Reset, inspect, inject faults, count requests; a subclass adds what its API has."""

    # The API's response class, called as `response_type(status, body)`.
    response_type: ClassVar[Callable[..., Response]]

    def __init__(self, service: AdminService, router: Router) -> None:
        self.service = service
        self.router = router
        add = router.add
        add("POST", "/_admin/reset", self.reset)
        add("GET", "/_admin/state", self.state)
        add("GET", "/_admin/faults", self.list_faults)
        add("POST", "/_admin/faults", self.add_fault)
        add("DELETE", "/_admin/faults", self.clear_faults)
        add("GET", "/_admin/requests", self.request_counts)
        add("DELETE", "/_admin/requests", self.reset_request_counts)

    def handle(self, req: Any) -> Response:
        """Answer an admin request."""
        match = self.router.match(req.method, req.path)
        response: Response = match.route.handler(req, match.params)
        return response

    @abstractmethod
    def bad_request(self, message: str) -> Exception:
        """The API's 400 for an admin request it cannot take."""

    @abstractmethod
    def state(self, req: Any, params: dict[str, str]) -> Response:
        """What the emulator holds: calendars or mailboxes, channels or subscriptions…"""

    def json_object(self, req: Any) -> dict[str, Any]:
        """The body as a JSON object; empty is `{}`."""
        if not req.body.strip():
            return {}
        body = self._parse_json(req)
        if not isinstance(body, dict):
            raise self.bad_request("A JSON object is expected.")
        return body

    def _parse_json(self, req: Any) -> Any:
        try:
            return json.loads(req.body)
        except ValueError as exc:
            raise self.bad_request("A JSON object is expected.") from exc

    def reset(self, req: Any, params: dict[str, str]) -> Response:
        """Back to the seed."""
        self.service.reset()
        return self.response_type(204)

    def list_faults(self, req: Any, params: dict[str, str]) -> Response:
        """Active faults."""
        return self.response_type(200, {"faults": self.service.faults.list()})

    def add_fault(self, req: Any, params: dict[str, str]) -> Response:
        """Inject a fault: `{"match": {"method", "path_regex", <scope>}, "status", "code",
        "retry_after", "latency_ms", "times"}`."""
        try:
            fault = self.service.faults.add(self.json_object(req))
        except (ValueError, TypeError, KeyError) as exc:
            raise self.bad_request(f"Invalid fault: {exc}") from exc
        return self.response_type(201, self.service.faults.as_json(fault))

    def clear_faults(self, req: Any, params: dict[str, str]) -> Response:
        """Remove every fault."""
        self.service.faults.clear()
        return self.response_type(204)

    def request_counts(self, req: Any, params: dict[str, str]) -> Response:
        """Requests by route template, by scope (mailbox, calendar) and by status."""
        return self.response_type(200, self.service.counter.snapshot())

    def reset_request_counts(self, req: Any, params: dict[str, str]) -> Response:
        """Zero the counts."""
        self.service.counter.reset()
        return self.response_type(204)
