"""Request/response values shared by every part of the emulator, and Graph's error shape."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass
class ApiRequest:
    """One HTTP request as the emulator sees it (also used for each `$batch` item)."""

    method: str
    path: str  # path below the API root, e.g. "/users/x/events" (no "/v1.0", no query)
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)  # lower-cased names
    body: bytes = b""
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    raw_query: str = ""

    @classmethod
    def from_target(
        cls, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> ApiRequest:
        """Build a request from a request target such as "/users/x/events?$top=5"."""
        parts = urlsplit(target)
        query = {k: v for k, v in parse_qsl(parts.query, keep_blank_values=True)}
        return cls(
            method=method.upper(),
            path=parts.path,
            query=query,
            headers={k.lower(): v for k, v in headers.items()},
            body=body,
            raw_query=parts.query,
        )

    def header(self, name: str, default: str = "") -> str:
        """Header value by case-insensitive name."""
        return self.headers.get(name.lower(), default)

    def q(self, name: str) -> str | None:
        """Query parameter, matching OData system options case-insensitively ($top == $TOP)."""
        if name in self.query:
            return self.query[name]
        lowered = name.lower()
        for key, value in self.query.items():
            if key.lower() == lowered:
                return value
        return None

    def json(self) -> Any:
        """The body parsed as JSON; raises GraphError 400 when it is not."""
        if not self.body.strip():
            raise GraphError(400, "BadRequest", "Empty Payload, JSON content expected.")
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise GraphError(
                400, "BadRequest", f"Unable to read JSON request payload: {exc}"
            ) from exc

    def prefer(self) -> dict[str, str]:
        """The `Prefer` header as a mapping of lower-cased preference names to values."""
        result: dict[str, str] = {}
        for part in self.header("prefer").split(","):
            if not part.strip():
                continue
            name, _, value = part.strip().partition("=")
            result[name.strip().lower()] = value.strip().strip('"')
        return result


@dataclass
class ApiResponse:
    """What a handler answers: a status, a JSON-able body (or text) and extra headers."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    # Carried out, but never answered: the connection is closed instead (a fault).
    drop: bool = False

    def encode(self) -> bytes:
        """The body as bytes on the wire."""
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str) and not self.content_type.startswith("application/json"):
            return self.body.encode()
        return json.dumps(self.body).encode()


class GraphError(Exception):
    """An error answered in Microsoft Graph's error shape."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def error_response(error: GraphError, request: ApiRequest | None = None) -> ApiResponse:
    """Render a GraphError as `{"error": {"code", "message", "innerError": {...}}}`."""
    request_id = request.request_id if request else str(uuid.uuid4())
    client_request_id = (request.header("client-request-id") if request else "") or request_id
    body = {
        "error": {
            "code": error.code,
            "message": error.message,
            "innerError": {
                "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S"),
                "request-id": request_id,
                "client-request-id": client_request_id,
            },
        }
    }
    return ApiResponse(error.status, body, dict(error.headers))


def not_found(message: str = "The specified object was not found in the store.") -> GraphError:
    """Graph's 404 for an unknown Outlook item."""
    return GraphError(404, "ErrorItemNotFound", message)


def utc_now() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)


def iso_utc(moment: dt.datetime) -> str:
    """Graph's timestamp form for createdDateTime etc.: 2024-01-02T03:04:05.1234567Z."""
    moment = moment.astimezone(dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond:06d}0Z"


def parse_iso(value: str) -> dt.datetime:
    """Parse an ISO 8601 timestamp (naive values are taken as UTC); trims 7-digit fractions."""
    text = value.strip()
    if text.endswith("Z") or text.endswith("z"):
        text = text[:-1] + "+00:00"
    if "." in text:
        head, _, rest = text.partition(".")
        digits = ""
        tail = ""
        for i, ch in enumerate(rest):
            if not ch.isdigit():
                tail = rest[i:]
                break
            digits += ch
        text = f"{head}.{digits[:6].ljust(6, '0')}{tail}" if digits else head + tail
    moment = dt.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment
