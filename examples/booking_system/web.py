"""The small HTTP toolkit the app is built on: requests, responses, routes."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from .admin import FaultInjector, RequestCounter
from .bookings import BookingService
from .errors import MethodNotAllowed, NotFound

MAX_BODY_BYTES = 1024 * 1024


@dataclass
class BookingApp:
    """Everything a request handler may use."""

    bookings: BookingService
    api_key: str
    ui_token: str
    seed: bool
    faults: FaultInjector = field(default_factory=FaultInjector)
    requests: RequestCounter = field(default_factory=RequestCounter)

    def reset(self, *, seed: bool) -> None:
        """Back to a fresh start: data (reseeded if asked), faults, counts, queued webhooks.

        Where webhooks are sent stays configured.
        """
        self.bookings.reset(seed=seed)
        self.faults.clear()
        self.requests.clear()
        self.bookings.notifier.reset()


@dataclass
class Request:
    """A parsed HTTP request (query parameters keep their last value)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    params: dict[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        """A header by case-insensitive name."""
        return self.headers.get(name.lower())


@dataclass
class Response:
    """What the server writes back."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    """A JSON response."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(status, body, "application/json", headers or {})


Handler = Callable[[BookingApp, Request], Response]


@dataclass
class Route:
    """``method`` + path ``template`` (``{name}`` segments) served by ``handler``."""

    method: str
    template: str
    handler: Handler
    needs_key: bool = True
    pattern: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.template))
        self.pattern = re.compile(f"^{regex}$")


class Router:
    """Finds the route for a request (404 for unknown paths, 405 for unknown methods)."""

    def __init__(self, routes: list[Route]):
        self.routes = routes

    def template_for(self, path: str) -> str | None:
        """The template of the first route whose path matches, for request counting."""
        for route in self.routes:
            if route.pattern.match(path):
                return route.template
        return None

    def resolve(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        """The route and its path parameters."""
        allowed = []
        for route in self.routes:
            match = route.pattern.match(path)
            if match is None:
                continue
            if route.method == method:
                return route, {key: unquote(value) for key, value in match.groupdict().items()}
            allowed.append(route.method)
        if allowed:
            raise MethodNotAllowed(f"{method} is not allowed on {path}", allowed=allowed)
        raise NotFound(f"no route {path}")
