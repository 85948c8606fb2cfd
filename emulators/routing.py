"""Route templates ("/users/{user}/events/{event}") matched against request paths.

Each emulator answers a path no route matches in its own API's words, so `Router.no_route`
is what a subclass overrides; whether paths match case-insensitively is the API's choice
too (Graph: yes; Google: no).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

Handler = Callable[[Any, dict[str, str]], Any]


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

    case_sensitive = True

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, method: str, template: str, handler: Handler) -> None:
        """Register ``handler`` for ``method`` on ``template``."""
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", re.escape(template).replace(r"\{", "{")
                       .replace(r"\}", "}"))
        flags = 0 if self.case_sensitive else re.IGNORECASE
        pattern = re.compile(f"^{regex}/?$", flags)
        self.routes.append(Route(method.upper(), template, handler, pattern))

    def match(self, method: str, path: str) -> Match:
        """The route for ``method path``; raises `no_route(...)` when there is none."""
        path_matched = False
        for route in self.routes:
            found = route.pattern.match(path)
            if not found:
                continue
            path_matched = True
            if route.method == method.upper():
                params = {k: unquote(v) for k, v in found.groupdict().items()}
                return Match(route, params)
        raise self.no_route(method, path, path_matched)

    def no_route(self, method: str, path: str, path_matched: bool) -> Exception:
        """The error for a request no route serves (``path_matched``: another method would)."""
        return LookupError(f"{method} {path}")
