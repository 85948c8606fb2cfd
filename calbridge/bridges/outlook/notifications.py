"""Graph change and lifecycle notifications → `ChangeNotice`s (pure, schema-checked)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from calbridge import untrusted_json
from calbridge.bridges.base import ChangeNotice, LifecycleAction, PushSubscription
from calbridge.bridges.outlook.convert import parse_graph_datetime
from calbridge.errors import BadRequest, UpstreamError, ValidationFailed

CHANGE_TYPES = frozenset({"created", "updated", "deleted"})
# Graph's lifecycle events (learn.microsoft.com/graph/change-notifications-lifecycle-events).
LIFECYCLE_EVENTS = {
    "reauthorizationRequired": LifecycleAction.REAUTHORIZE,
    "subscriptionRemoved": LifecycleAction.RECREATE,
    "missed": LifecycleAction.RESYNC,
}
# Graph's ids and resource paths are a few hundred characters at most.
MAX_TEXT = 1024


def parse_notifications(body: Any) -> list[ChangeNotice]:
    """Notices from a Graph notification body (`{"value": [...]}`, as bytes, text or
    parsed JSON). Lifecycle notifications become notices whose `change_type` is the
    lifecycle event. Raises `ValidationFailed` naming the offending fields."""
    data = _json(body)
    items = data.get("value") if isinstance(data, dict) else None
    if not isinstance(items, list) or not items:
        raise ValidationFailed("notification body needs a non-empty 'value' list",
                               details={"fields": ["value"]})
    return [_notice(item, n) for n, item in enumerate(items)]


def _json(body: Any) -> Any:
    if isinstance(body, bytes | bytearray | str):
        try:
            return untrusted_json.loads(body, "notification body")
        except BadRequest as exc:
            raise ValidationFailed(exc.message, details={"fields": ["body"]}) from None
    return body


def _text(item: dict[str, Any], key: str, where: str) -> str | None:
    """A string member of a notification item, if present: bounded and printable, as
    the ids and states Graph sends are, so nothing longer reaches storage or a queue."""
    value = item.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationFailed(f"{where}.{key} is not a string",
                               details={"fields": [f"{where}.{key}"]})
    if len(value) > MAX_TEXT or any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValidationFailed(
            f"{where}.{key} is longer than {MAX_TEXT} characters or holds control characters",
            details={"fields": [f"{where}.{key}"]})
    return value


def _notice(item: Any, n: int) -> ChangeNotice:
    where = f"value[{n}]"
    if not isinstance(item, dict):
        raise ValidationFailed(f"{where} is not an object", details={"fields": [where]})
    subscription_id = _text(item, "subscriptionId", where)
    if not subscription_id:
        raise ValidationFailed(f"{where}.subscriptionId is missing",
                               details={"fields": [f"{where}.subscriptionId"]})
    client_state = _text(item, "clientState", where)
    resource = _text(item, "resource", where)
    lifecycle = item.get("lifecycleEvent")
    if lifecycle is not None:
        # isinstance first: a list or object is not hashable, so `in` would raise.
        if not isinstance(lifecycle, str) or lifecycle not in LIFECYCLE_EVENTS:
            raise ValidationFailed(f"{where}.lifecycleEvent is unknown",
                                   details={"fields": [f"{where}.lifecycleEvent"]})
        return ChangeNotice(subscription_id=subscription_id, change_type=lifecycle,
                            client_state=client_state,
                            calendar_id=_mailbox(resource))
    change_type = item.get("changeType")
    if not isinstance(change_type, str) or change_type not in CHANGE_TYPES:
        raise ValidationFailed(f"{where}.changeType must be one of created, updated, deleted",
                               details={"fields": [f"{where}.changeType"]})
    if not resource:
        raise ValidationFailed(f"{where}.resource is missing",
                               details={"fields": [f"{where}.resource"]})
    data = item.get("resourceData")
    event_id = _text(data, "id", f"{where}.resourceData") if isinstance(data, dict) else None
    return ChangeNotice(subscription_id=subscription_id, change_type=change_type,
                        client_state=client_state, calendar_id=_mailbox(resource),
                        event_id=event_id or _event_id(resource))


def _segments(resource: Any) -> list[str]:
    if not isinstance(resource, str):
        return []
    return [s for s in resource.replace("('", "/").replace("')", "").split("/") if s]


def _mailbox(resource: Any) -> str | None:
    """The user segment of `Users/{id}/Events/{id}` (a user id or address, as Graph sent)."""
    parts = _segments(resource)
    for n, part in enumerate(parts[:-1]):
        if part.lower() == "users":
            return parts[n + 1]
    return None


def _event_id(resource: str) -> str | None:
    parts = _segments(resource)
    for n, part in enumerate(parts[:-1]):
        if part.lower() == "events":
            return parts[n + 1]
    return None


def subscription_from_graph(data: dict[str, Any]) -> PushSubscription:
    """A Graph `subscription` answer as a `PushSubscription`."""
    try:
        expires = parse_graph_datetime(str(data["expirationDateTime"]))
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=UTC)
        return PushSubscription(id=str(data["id"]), resource=str(data.get("resource") or ""),
                                expires_at=expires.astimezone(UTC))
    except (KeyError, ValueError) as exc:
        raise UpstreamError(f"outlook: subscription answer lacks {exc}") from None


def clamp_expiry(wanted: datetime, now: datetime, max_minutes: int) -> datetime:
    """Graph refuses expiries beyond a resource's maximum: ask for at most that."""
    latest = now + timedelta(minutes=max_minutes)
    return min(wanted.astimezone(UTC), latest)
