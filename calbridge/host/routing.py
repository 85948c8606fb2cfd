"""Route templates as the Functions host matches them: `{name}`, `{name?}`, `{*rest}`,
`{name:constraint}`; literal segments win over parameters."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from calbridge.host.app import HttpFunction

_PARAM = re.compile(r"^\{(\*?)([A-Za-z_][A-Za-z0-9_]*)(?::[^}?]+)?(\??)\}$")


@dataclass(frozen=True)
class Route:
    function: HttpFunction
    pattern: re.Pattern[str]
    names: tuple[str, ...]
    precedence: tuple[int, int]

    @classmethod
    def compile(cls, function: HttpFunction, prefix: str) -> Route:
        template = "/".join(p for p in (prefix, function.route.strip("/")) if p)
        parts, names, literals = [], [], 0
        for segment in template.split("/") if template else []:
            match = _PARAM.match(segment)
            if not match:
                parts.append("/" + re.escape(segment))
                literals += 1
                continue
            catch_all, name, optional = match.groups()
            names.append(name)
            body = f"(?P<{name}>.+)" if catch_all else f"(?P<{name}>[^/]+)"
            parts.append(f"(?:/{body})?" if optional or catch_all else f"/{body}")
        pattern = re.compile("^" + "".join(parts) + "/?$")
        return cls(function, pattern, tuple(names), (-literals, len(names)))


class Router:
    def __init__(self, functions: list[HttpFunction], prefix: str) -> None:
        self.routes = sorted((Route.compile(f, prefix) for f in functions),
                             key=lambda r: r.precedence)

    def match(self, method: str, path: str
              ) -> tuple[HttpFunction | None, dict[str, str], tuple[HttpFunction, ...]]:
        """The function for a request, its route parameters, and every function whose
        route the path matches whatever the method (none: 404; some but not this
        method: 405, once the caller may know they exist)."""
        chosen: HttpFunction | None = None
        params: dict[str, str] = {}
        candidates: list[HttpFunction] = []
        for route in self.routes:
            found = route.pattern.match(path)
            if not found:
                continue
            candidates.append(route.function)
            if chosen is None and method.upper() in route.function.methods:
                chosen = route.function
                params = {k: unquote(v) for k, v in found.groupdict().items() if v is not None}
        return chosen, params, tuple(candidates)
