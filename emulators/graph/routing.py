"""Route templates ("/users/{user}/events/{event}") matched case-insensitively, as Graph does."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote

from .api import ApiRequest, ApiResponse, GraphError

Handler = Callable[[ApiRequest, dict[str, str]], ApiResponse]


@dataclass(frozen=True)
class Route:
    """One method + path template and the handler serving it."""

    method: str
    template: str
    handler: Handler
    pattern: re.Pattern[str]


@dataclass(frozen=True)
class Match:
    """A route matched against a concrete path, with its decoded parameters."""

    route: Route
    params: dict[str, str]


class Router:
    """An ordered table of routes."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, method: str, template: str, handler: Handler) -> None:
        """Register ``handler`` for ``method`` on ``template``."""
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", re.escape(template).replace(r"\{", "{")
                       .replace(r"\}", "}"))
        pattern = re.compile(f"^{regex}/?$", re.IGNORECASE)
        self.routes.append(Route(method.upper(), template, handler, pattern))

    def match(self, method: str, path: str) -> Match:
        """The route for ``method path``; Graph-shaped 400/405 errors when there is none."""
        path_matched = False
        for route in self.routes:
            found = route.pattern.match(path)
            if not found:
                continue
            path_matched = True
            if route.method == method.upper():
                params = {k: unquote(v) for k, v in found.groupdict().items()}
                return Match(route, params)
        if path_matched:
            raise GraphError(
                405, "Request_BadRequest", f"The HTTP method '{method}' is not allowed."
            )
        segment = path.rstrip("/").rsplit("/", 1)[-1] or path
        raise GraphError(
            400, "BadRequest", f"Resource not found for the segment '{segment}'."
        )
