"""Who calls an HTTP route, told by the key they present: the booking system's own key
reaches only what a booking system calls (the usage guide's `/sync/item/...` and
`/cancel/booking/...`); an operator's key reaches every route. Function-level keys
cannot express roles per route, so the app checks this itself (and the local host
checks it the same way, before a method is refused)."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any

KEY_HEADER = "x-functions-key"
KEY_PARAMETER = "code"
# The attribute a route's handler carries naming the callers it serves.
CALLERS_ATTRIBUTE = "calbridge_callers"
# Carried (True) by the handler of a route anonymous to the host that checks the
# operator's key itself: the status page, whose key comes back as a session cookie.
CHECKS_KEY_ATTRIBUTE = "calbridge_checks_key"


class Caller(StrEnum):
    OPERATOR = "operator"
    BOOKING_SYSTEM = "booking_system"


OPERATOR_ONLY: frozenset[Caller] = frozenset({Caller.OPERATOR})
BOOKING_SYSTEM_AND_OPERATOR: frozenset[Caller] = frozenset(Caller)


def presented_key(headers: Mapping[str, str], params: Mapping[str, str]) -> str:
    """The key of a request, from the header or the `code` parameter, as the host reads it."""
    lowered = {k.lower(): v for k, v in headers.items()}
    return lowered.get(KEY_HEADER) or params.get(KEY_PARAMETER) or ""


def caller_of(key: str, booking_system_key: str | None) -> Caller:
    """The booking system when it presents its own key (compared in constant time); any
    other key the host let through is an operator's."""
    if booking_system_key and hmac.compare_digest(key.encode(), booking_system_key.encode()):
        return Caller.BOOKING_SYSTEM
    return Caller.OPERATOR


def callers_of(handler: Callable[..., Any]) -> frozenset[Caller]:
    """The callers a route's handler serves (an operator only, unless it says more)."""
    return getattr(handler, CALLERS_ATTRIBUTE, OPERATOR_ONLY)


def checks_key_itself(handler: Callable[..., Any]) -> bool:
    """Whether an anonymous route's handler refuses callers without the operator's key."""
    return bool(getattr(handler, CHECKS_KEY_ATTRIBUTE, False))
