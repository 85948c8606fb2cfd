"""The booking system's signed change notifications: verification and parsing.

Each POST carries `X-Booking-Timestamp` (unix seconds) and `X-Booking-Signature:
sha256=<hex HMAC-SHA256 of f"{timestamp}.{raw body}">`; the body is
`{"event_type", "event": {...}, "occurred_at"}`.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError, field_validator

from calbridge import untrusted_json
from calbridge.bridges.base import ChangeNotice
from calbridge.errors import BadRequest, Unauthorized, ValidationFailed
from calbridge.model import Identifier

TIMESTAMP_HEADER = "x-booking-timestamp"
SIGNATURE_HEADER = "x-booking-signature"
TOLERANCE_SECONDS = 300

# The booking system's event types in the change vocabulary the engine speaks.
CHANGE_TYPES = {
    "created": "created",
    "updated": "updated",
    "reactivated": "updated",
    "cancelled": "deleted",
    "purged": "deleted",
}


def signature_for(secret: str, timestamp: str, body: bytes) -> str:
    """The `X-Booking-Signature` value the booking system sends for `body`."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def verify_signature(secret: str, headers: Mapping[str, str], body: bytes, *,
                     now: float | None = None, tolerance: int = TOLERANCE_SECONDS) -> None:
    """Raise `Unauthorized` unless the headers sign `body` with `secret` within `tolerance`
    seconds of `now`. Compared in constant time; several comma-separated signatures
    (a secret being rotated on the sender's side) are each tried."""
    lowered = {key.lower(): value for key, value in headers.items()}
    timestamp = (lowered.get(TIMESTAMP_HEADER) or "").strip()
    signatures = [part.strip() for part in (lowered.get(SIGNATURE_HEADER) or "").split(",")]
    signatures = [part for part in signatures if part]
    if not timestamp or not signatures:
        raise Unauthorized("booking system webhook is not signed")
    if not timestamp.isdigit():
        raise Unauthorized("booking system webhook has an unreadable timestamp")
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > tolerance:
        raise Unauthorized("booking system webhook timestamp is outside the accepted window")
    expected = signature_for(secret, timestamp, body).encode()
    matched = False
    for candidate in signatures:
        # No early exit, so timing does not tell which candidate matched.
        matched |= hmac.compare_digest(expected, candidate.encode())
    if not matched:
        raise Unauthorized("booking system webhook signature does not match")


class _WebhookEvent(BaseModel):
    model_config = ConfigDict(extra="ignore")

    # Bounded and printable: they go to the notifications queue and into storage keys.
    id: Identifier
    resource_id: Identifier

    @field_validator("id", "resource_id", mode="before")
    @classmethod
    def _id_as_text(cls, value: object) -> object:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class _WebhookBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    event_type: Annotated[str, StringConstraints(max_length=64)]
    event: _WebhookEvent
    occurred_at: str | None = None


def notices_from_body(body: bytes) -> list[ChangeNotice]:
    """The change notice in a verified webhook body. Raises `ValidationFailed`."""
    try:
        parsed = _WebhookBody.model_validate(untrusted_json.loads(body, "booking system "
                                                                        "webhook body"))
    except BadRequest as exc:
        raise ValidationFailed(exc.message, details={"fields": ["body"]}) from None
    except ValidationError as exc:
        fields = sorted({".".join(str(part) for part in err["loc"]) for err in exc.errors()})
        raise ValidationFailed("booking system webhook body has the wrong shape",
                               details={"fields": fields}) from None
    # An event type this version does not know still means "look at this booking".
    change_type = CHANGE_TYPES.get(parsed.event_type, "updated")
    return [ChangeNotice(calendar_id=parsed.event.resource_id, event_id=parsed.event.id,
                         change_type=change_type)]
