"""Push secrets at rest. The client state calbridge gives a push subscription (Graph's
`clientState`, a Google channel's `token`) is what proves a notification came from the
calendar system, so it is kept only as a keyed hash (HMAC-SHA256 under
CALBRIDGE_PUSH_SECRET_KEY): a read of the subscriptions table, or a backup of it, reveals
nothing a forger could send. Graph renewals keep the client state and Google renewals
open a channel with a new one, so the plain value is never needed after subscribing."""

from __future__ import annotations

import hashlib
import hmac

PREFIX = "hmac-sha256:"
# What a key's id is the keyed hash of: it names the key (backups record it) without
# revealing it.
_KEY_ID_MESSAGE = b"calbridge push secret key id"


def digest(key: bytes, client_state: str) -> str:
    """The stored form of a client state."""
    mac = hmac.new(key, client_state.encode("utf-8"), hashlib.sha256).hexdigest()
    return PREFIX + mac


def matches(key: bytes, given: str | None, stored: str | None) -> bool:
    """Whether a notification's client state is the one stored as `stored`, compared in
    constant time (also when nothing is stored, so timing tells nothing)."""
    expected = (stored or "").encode()
    actual = digest(key, given or "").encode()
    return hmac.compare_digest(actual, expected) and bool(given) and bool(stored)


def key_id(key: bytes) -> str:
    """A short public name of a key: two deployments with the same key share it."""
    return hmac.new(key, _KEY_ID_MESSAGE, hashlib.sha256).hexdigest()[:16]
