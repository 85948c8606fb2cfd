"""Google Calendar push: channel notifications → `ChangeNotice`s, and `events.watch`
answers → `PushSubscription`s (pure, bounded).

A notification is a POST with an empty body; everything is in its headers
(developers.google.com/workspace/calendar/api/guides/push): `X-Goog-Channel-ID` (the
channel calbridge opened), `X-Goog-Channel-Token` (the token it set: its client state),
`X-Goog-Resource-State` (`sync` right after a channel opens, then `exists` /
`not_exists`), `X-Goog-Resource-ID`, `X-Goog-Resource-URI`, `X-Goog-Message-Number`. It
names no event: the calendar is read again from its sync token.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from calbridge.bridges.base import ChangeNotice, PushSubscription
from calbridge.errors import UpstreamError, ValidationFailed

CHANNEL_ID = "X-Goog-Channel-ID"
CHANNEL_TOKEN = "X-Goog-Channel-Token"  # noqa: S105 (a header name)
RESOURCE_STATE = "X-Goog-Resource-State"
RESOURCE_ID = "X-Goog-Resource-ID"
# The handshake Google sends when a channel opens: acknowledged, nothing to read.
SYNC = "sync"
# States announcing a change somewhere in the watched events collection.
CHANGED = frozenset({"exists", "not_exists"})
MAX_HEADER = 1024
# The life of an events.watch channel: the reference gives `params.ttl` a default of
# 604800 seconds and publishes no longer maximum, so calbridge never asks for more (a
# longer request may be cut short by Google; its answer's `expiration` is what is kept).
MAX_CHANNEL_TTL = timedelta(seconds=604800)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    if value is None:
        return None
    if len(value) > MAX_HEADER or any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValidationFailed(f"{name} is longer than {MAX_HEADER} characters or holds "
                               "control characters", details={"fields": [name]})
    return value.strip()


def parse_channel_notification(headers: Mapping[str, str]) -> list[ChangeNotice]:
    """The notice a channel notification stands for: none for the `sync` handshake, one
    naming the channel (with its token and the resource id it watches) for a change.
    Raises `ValidationFailed` for a request that is not a channel notification."""
    channel = _header(headers, CHANNEL_ID)
    state = (_header(headers, RESOURCE_STATE) or "").lower()
    if not channel:
        raise ValidationFailed(f"{CHANNEL_ID} is missing", details={"fields": [CHANNEL_ID]})
    if state == SYNC:
        return []
    if state not in CHANGED:
        raise ValidationFailed(f"{RESOURCE_STATE} must be sync, exists or not_exists",
                               details={"fields": [RESOURCE_STATE]})
    return [ChangeNotice(subscription_id=channel, client_state=_header(headers, CHANNEL_TOKEN),
                         subscription_resource=_header(headers, RESOURCE_ID),
                         change_type="updated")]


def channel_from_google(data: dict[str, Any], channel_id: str) -> PushSubscription:
    """An `events.watch` answer as a subscription: its id is the channel id, its resource
    Google's `resourceId` (which `channels.stop` needs), its expiry Google's `expiration`
    (milliseconds since the epoch)."""
    try:
        if str(data.get("id") or channel_id) != channel_id:
            raise UpstreamError("google_calendar: watch answered for another channel")
        resource = str(data["resourceId"])
        expires = datetime.fromtimestamp(int(data["expiration"]) / 1000, tz=UTC)
    except (KeyError, TypeError, ValueError) as exc:
        raise UpstreamError(f"google_calendar: watch answer lacks {exc}") from None
    return PushSubscription(id=channel_id, resource=resource, expires_at=expires)


def clamp_expiry(wanted: datetime, now: datetime,
                 longest: timedelta = MAX_CHANNEL_TTL) -> datetime:
    """The expiry to ask `events.watch` for: `wanted`, or at most `longest` from `now`."""
    return min(wanted.astimezone(UTC), now.astimezone(UTC) + longest)


def expiration_ms(moment: datetime) -> int:
    """An expiry as `events.watch` takes it: milliseconds since the epoch."""
    return int(moment.astimezone(UTC).timestamp() * 1000)
