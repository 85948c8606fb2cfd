"""The project's own exception hierarchy.

Adapters and repositories raise these in place of library errors, so the engine
and the triggers never see `requests`, `azure.core` or `msal` exceptions. They are
turned into HTTP responses (or queue retries) in one place: `functions/http.py`.
"""

from __future__ import annotations

from typing import Any


class CalbridgeError(Exception):
    """Base class: `code` is machine-readable, `status` the HTTP status it maps to."""

    code = "internal_error"
    status = 500

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class BadRequest(CalbridgeError):
    code = "bad_request"
    status = 400


class ValidationFailed(CalbridgeError):
    """Well-formed input that violates the schema; `details["fields"]` names the fields."""

    code = "validation_error"
    status = 422


class Inexpressible(ValidationFailed):
    """A recurrence rule the target calendar system cannot carry exactly (an hourly rule
    for Outlook, say). `reason` is a short sentence for the link's record; callers fall
    back to single occurrences."""

    code = "recurrence_inexpressible"

    def __init__(self, reason: str, *, rule: str | None = None) -> None:
        super().__init__(reason, details={"fields": ["recurrence"], "reason": reason,
                                          "rule": rule})
        self.reason = reason
        self.rule = rule


class TooManyOccurrences(ValidationFailed):
    """Expanding a series would pass the hard cap on occurrences (an absurd window, or a
    rule that repeats every minute for years); `limit` is the cap."""

    code = "too_many_occurrences"

    def __init__(self, message: str, *, limit: int) -> None:
        super().__init__(message, details={"fields": ["recurrence"], "limit": limit})
        self.limit = limit


class PayloadTooLarge(CalbridgeError):
    code = "payload_too_large"
    status = 413


class Unauthorized(CalbridgeError):
    code = "unauthorized"
    status = 401


class Forbidden(CalbridgeError):
    """A valid key, but of a caller this route does not serve (the booking system's key
    on a management route)."""

    code = "forbidden"
    status = 403


class NotFound(CalbridgeError):
    code = "not_found"
    status = 404


class CalendarNotFound(NotFound):
    """A calendar system says the calendar itself (a mailbox, a resource) does not exist,
    as opposed to one event in it. `details` names the `bridge` and `calendar_id`."""

    code = "calendar_not_found"

    def __init__(self, message: str, *, bridge: str, calendar_id: str) -> None:
        super().__init__(message, details={"bridge": bridge, "calendar_id": calendar_id})
        self.bridge = bridge
        self.calendar_id = calendar_id


class AlreadyExists(CalbridgeError):
    code = "conflict"
    status = 409


class StateConflict(CalbridgeError):
    """The request contradicts the current state of what it names (e.g. cancelling a
    booking that is still active)."""

    code = "state_conflict"
    status = 409


class EtagConflict(CalbridgeError):
    """Optimistic concurrency: the stored row changed since it was read."""

    code = "etag_conflict"
    status = 409


class StorageUnavailable(CalbridgeError):
    code = "storage_unavailable"
    status = 503


class ConfigurationError(CalbridgeError):
    code = "configuration_error"
    status = 500


class WebhookSecretMissing(ConfigurationError):
    """A bridge's webhooks cannot be verified because their signing secret is not set:
    deliveries are refused (the sender retries them) rather than accepted unsigned."""

    code = "webhook_secret_missing"
    status = 503


class UpstreamError(CalbridgeError):
    """A calendar system answered with an error that retrying will not fix."""

    code = "upstream_error"
    status = 502


class UpstreamRejected(UpstreamError):
    """A calendar system refused a request as invalid (400 or 422). Where the refused
    value came straight from the caller's request, the trigger answers 422 naming it
    (`functions.http.refused_input`); anywhere else it is the upstream's error."""

    code = "upstream_rejected"
    status = 502


class UpstreamUnavailable(UpstreamError):
    """A calendar system could not be reached, or answered 5xx after retries."""

    code = "upstream_unavailable"
    status = 503


class UpstreamThrottled(UpstreamUnavailable):
    """429 after retries; `retry_after` (seconds) when the upstream said so."""

    code = "upstream_throttled"
    status = 503

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message, details={"retry_after": retry_after})
        self.retry_after = retry_after


class AuthError(UpstreamError):
    """Credentials for a calendar system were refused."""

    code = "upstream_auth_failed"
    status = 502


class SyncStateExpired(UpstreamError):
    """A stored delta link / sync token is no longer valid: a full listing is needed."""

    code = "sync_state_expired"
    status = 409
