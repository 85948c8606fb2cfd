"""Graph's routes: matched case-insensitively, unknown paths answered as Graph does."""

from __future__ import annotations

from ..routing import Handler, Match, Route
from ..routing import Router as _Router
from .api import GraphError

__all__ = ["Handler", "Match", "Route", "Router"]


class Router(_Router):
    """An ordered table of routes, answering Graph-shaped 400/405 errors when none matches."""

    case_sensitive = False

    def no_route(self, method: str, path: str, path_matched: bool) -> Exception:
        if path_matched:
            return GraphError(
                405, "Request_BadRequest", f"The HTTP method '{method}' is not allowed."
            )
        segment = path.rstrip("/").rsplit("/", 1)[-1] or path
        return GraphError(400, "BadRequest", f"Resource not found for the segment '{segment}'.")
