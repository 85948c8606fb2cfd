"""The booking system's signed change notifications: verification and parsing.

Each POST carries `X-Booking-Timestamp` (unix seconds), `X-Booking-Delivery` (an id that
stays the same across retries of one notification) and `X-Booking-Signature`:

- `v2=<hex HMAC-SHA256 of f"{delivery}.{timestamp}.{raw body}">`: the delivery id is
  signed, so it can be trusted to recognise a replay;
- `sha256=<hex HMAC-SHA256 of f"{timestamp}.{raw body}">`: what earlier booking systems
  send, still accepted. Its delivery header is not signed, so a replay is recognised by
  the signed timestamp and body alone.

The body is `{"event_type", "event": {...}, "occurred_at"}`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError, field_validator

from calbridge import untrusted_json
from calbridge.bridges.base import ChangeNotice, Delivery
from calbridge.errors import BadRequest, Unauthorized, ValidationFailed
from calbridge.model import Identifier

TIMESTAMP_HEADER = "x-booking-timestamp"
SIGNATURE_HEADER = "x-booking-signature"
DELIVERY_HEADER = "x-booking-delivery"
TOLERANCE_SECONDS = 300
DELIVERY_PREFIX = "v2="
# Signed as text before a ".", so a delivery id must not contain one.
_DELIVERY_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")

# The booking system's event types in the change vocabulary the engine speaks.
CHANGE_TYPES = {
    "created": "created",
    "updated": "updated",
    "reactivated": "updated",
    "cancelled": "deleted",
    "purged": "deleted",
}


def signature_for(secret: str, timestamp: str, body: bytes) -> str:
    """The earlier `X-Booking-Signature` value (`sha256=`), which does not sign the
    delivery id."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def delivery_signature_for(secret: str, delivery: str, timestamp: str, body: bytes) -> str:
    """The `X-Booking-Signature` value (`v2=`) that signs the delivery id as well."""
    signed = f"{delivery}.{timestamp}.".encode() + body
    return DELIVERY_PREFIX + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def verify_signature(secret: str, headers: Mapping[str, str], body: bytes, *,
                     now: float | None = None, tolerance: int = TOLERANCE_SECONDS) -> Delivery:
    """The verified delivery, or `Unauthorized` unless the headers sign `body` with
    `secret` within `tolerance` seconds of `now`. Compared in constant time; several
    comma-separated signatures (a secret being rotated on the sender's side) are each
    tried."""
    lowered = {key.lower(): value for key, value in headers.items()}
    timestamp = (lowered.get(TIMESTAMP_HEADER) or "").strip()
    delivery = (lowered.get(DELIVERY_HEADER) or "").strip()
    signatures = [part.strip() for part in (lowered.get(SIGNATURE_HEADER) or "").split(",")]
    signatures = [part for part in signatures if part]
    if not timestamp or not signatures:
        raise Unauthorized("booking system webhook is not signed")
    if not timestamp.isdigit():
        raise Unauthorized("booking system webhook has an unreadable timestamp")
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > tolerance:
        raise Unauthorized("booking system webhook timestamp is outside the accepted window")
    earlier = signature_for(secret, timestamp, body).encode()
    signed_delivery = (delivery_signature_for(secret, delivery, timestamp, body).encode()
                       if _DELIVERY_ID.fullmatch(delivery) else None)
    matched = delivery_matched = False
    for candidate in signatures:
        # No early exit, so timing does not tell which candidate matched.
        if candidate.startswith(DELIVERY_PREFIX):
            if signed_delivery is not None:
                delivery_matched |= hmac.compare_digest(signed_delivery, candidate.encode())
        else:
            matched |= hmac.compare_digest(earlier, candidate.encode())
    if not (matched or delivery_matched):
        raise Unauthorized("booking system webhook signature does not match")
    # Past this instant the timestamp check above refuses a replay by itself.
    until = datetime.fromtimestamp(int(timestamp) + tolerance, UTC)
    if delivery_matched:
        return Delivery(id=delivery, replayable_until=until)
    # Only the timestamp and body are signed: the request itself is the delivery.
    request = hashlib.sha256(timestamp.encode() + b"." + body).hexdigest()
    return Delivery(id=f"sha256:{request}", replayable_until=until)


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


def notices_from_body(body: bytes, delivery: Delivery | None = None) -> list[ChangeNotice]:
    """The change notice in a verified webhook body (from `delivery`). Raises
    `ValidationFailed`."""
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
                         change_type=change_type, delivery=delivery)]
