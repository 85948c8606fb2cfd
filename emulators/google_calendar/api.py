"""Requests, responses and errors in the shapes Google's APIs use.

Calendar API errors follow the "Handle API errors" guide of the Calendar API v3
(looked up): `{"error": {"errors": [{"domain", "reason", "message", "locationType",
"location"}], "code", "message"}}`. OAuth token endpoint errors are
`{"error": ..., "error_description": ...}` (RFC 6749 §5.2, as Google answers them).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

JSON = "application/json"


@dataclass
class Request:
    """One HTTP request: path below the API root, every query value, lower-cased headers."""

    method: str
    path: str
    query: dict[str, list[str]] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    principal: Any = None  # set once the bearer token is checked

    @classmethod
    def from_target(cls, method: str, target: str, headers: dict[str, str], body: bytes
                    ) -> Request:
        """Build a request from a request target such as "/calendar/v3/x?maxResults=5"."""
        parts = urlsplit(target)
        return cls(method.upper(), parts.path,
                   parse_qs(parts.query, keep_blank_values=True),
                   {k.lower(): v for k, v in headers.items()}, body)

    def param(self, name: str) -> str | None:
        """The first value of a query parameter."""
        values = self.query.get(name)
        return values[0] if values else None

    def params(self, name: str) -> list[str]:
        """Every value of a (repeatable) query parameter."""
        return list(self.query.get(name, []))

    def header(self, name: str, default: str = "") -> str:
        """A header by case-insensitive name."""
        return self.headers.get(name.lower(), default)

    def json_object(self) -> dict[str, Any]:
        """The body as a JSON object; Google's 400 `parseError` otherwise."""
        try:
            value = json.loads(self.body or b"null")
        except (ValueError, UnicodeDecodeError) as exc:
            raise GoogleError(400, "parseError", "Parse Error") from exc
        if not isinstance(value, dict):
            raise GoogleError(400, "parseError", "Parse Error")
        return value


@dataclass
class Response:
    """What a handler answers: status, JSON-able body (or bytes), extra headers."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = JSON

    def encode(self) -> bytes:
        """The body on the wire."""
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body).encode()


class GoogleError(Exception):
    """A Calendar API error: HTTP status, `reason`, message, and where it was found."""

    def __init__(self, status: int, reason: str, message: str, domain: str = "global",
                 location: str | None = None, location_type: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message
        self.domain = domain
        self.location = location
        self.location_type = location_type
        self.headers = headers or {}

    def response(self) -> Response:
        """The error in the Calendar API's JSON shape."""
        item: dict[str, Any] = {"domain": self.domain, "reason": self.reason,
                                "message": self.message}
        if self.location:
            item["locationType"] = self.location_type or "parameter"
            item["location"] = self.location
        body = {"error": {"errors": [item], "code": self.status, "message": self.message}}
        return Response(self.status, body, dict(self.headers))


def not_found() -> GoogleError:
    """The 404 for an unknown (or unreachable) calendar or event."""
    return GoogleError(404, "notFound", "Not Found")


def bad_request(message: str = "Bad Request", reason: str = "badRequest",
                location: str | None = None) -> GoogleError:
    """A 400 for an invalid value or combination."""
    return GoogleError(400, reason, message, location=location)


class OAuthError(Exception):
    """A token endpoint error (`invalid_grant`, `unauthorized_client`, …)."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description

    def response(self) -> Response:
        """`{"error", "error_description"}` as Google's token endpoint answers."""
        return Response(self.status, {"error": self.error,
                                      "error_description": self.description})


def utc_now() -> dt.datetime:
    """Now, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)


def rfc3339(moment: dt.datetime) -> str:
    """Google's timestamp form for `created`/`updated`: 2024-01-02T03:04:05.678Z."""
    moment = moment.astimezone(dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_rfc3339(value: str, location: str) -> dt.datetime:
    """An RFC 3339 timestamp with a mandatory offset (as `timeMin`/`timeMax` require)."""
    text = value.strip()
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise bad_request(location=location)
    return moment
