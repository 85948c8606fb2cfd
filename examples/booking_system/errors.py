"""Errors the booking system answers with, each carrying its HTTP status and error code."""

from __future__ import annotations


class ApiError(Exception):
    """An error that becomes a JSON response ``{"error": {"code", "message"}}``."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code

    def to_body(self) -> dict[str, object]:
        """The JSON body of the error response."""
        error: dict[str, object] = {"code": self.code, "message": self.message}
        if self.field is not None:
            error["field"] = self.field
        return {"error": error}


class MalformedJson(ApiError):
    """The body is not valid JSON (or not a JSON object)."""

    status = 400
    code = "malformed_json"


class Unauthorized(ApiError):
    """The ``X-API-Key`` header is missing or wrong."""

    status = 401
    code = "unauthorized"


class Forbidden(ApiError):
    """The request is understood but refused (a stale form token, for example)."""

    status = 403
    code = "forbidden"


class NotFound(ApiError):
    """No such event, resource or route."""

    status = 404
    code = "not_found"


class MethodNotAllowed(ApiError):
    """The route exists but not for this method."""

    status = 405
    code = "method_not_allowed"

    def __init__(self, message: str, *, allowed: list[str]):
        super().__init__(message)
        self.allowed = allowed


class Conflict(ApiError):
    """The write would break a uniqueness rule (resource id, origin of an event)."""

    status = 409
    code = "conflict"


class LengthRequired(ApiError):
    """A body was sent without ``Content-Length``."""

    status = 411
    code = "length_required"


class PreconditionFailed(ApiError):
    """``If-Match`` names a version that is no longer current."""

    status = 412
    code = "precondition_failed"


class PayloadTooLarge(ApiError):
    """The body is larger than the limit."""

    status = 413
    code = "payload_too_large"


class InvalidField(ApiError):
    """A field is missing, of the wrong type or has an unacceptable value."""

    status = 422
    code = "invalid_field"

    def __init__(self, field: str, message: str, *, code: str | None = None):
        super().__init__(f"{field}: {message}", field=field, code=code)
