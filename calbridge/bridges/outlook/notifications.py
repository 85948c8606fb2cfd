"""Graph change and lifecycle notifications → `ChangeNotice`s (pure, schema-checked)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from calbridge.bridges.base import ChangeNotice, PushSubscription
from calbridge.bridges.outlook.convert import parse_graph_datetime
from calbridge.errors import UpstreamError, ValidationFailed

CHANGE_TYPES = frozenset({"created", "updated", "deleted"})
LIFECYCLE_EVENTS = frozenset({"reauthorizationRequired", "subscriptionRemoved", "missed"})


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
    if isinstance(body, bytes | bytearray):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationFailed("notification body is not UTF-8",
                                   details={"fields": ["body"]}) from None
    if isinstance(body, str):
        try:
            return json.loads(body)
        except ValueError:
            raise ValidationFailed("notification body is not JSON",
                                   details={"fields": ["body"]}) from None
    return body


def _notice(item: Any, n: int) -> ChangeNotice:
    where = f"value[{n}]"
    if not isinstance(item, dict):
        raise ValidationFailed(f"{where} is not an object", details={"fields": [where]})
    subscription_id = item.get("subscriptionId")
    if not isinstance(subscription_id, str) or not subscription_id:
        raise ValidationFailed(f"{where}.subscriptionId is missing",
                               details={"fields": [f"{where}.subscriptionId"]})
    client_state = item.get("clientState")
    if client_state is not None and not isinstance(client_state, str):
        raise ValidationFailed(f"{where}.clientState is not a string",
                               details={"fields": [f"{where}.clientState"]})
    lifecycle = item.get("lifecycleEvent")
    if lifecycle is not None:
        if lifecycle not in LIFECYCLE_EVENTS:
            raise ValidationFailed(f"{where}.lifecycleEvent is unknown",
                                   details={"fields": [f"{where}.lifecycleEvent"]})
        return ChangeNotice(subscription_id=subscription_id, change_type=lifecycle,
                            client_state=client_state,
                            calendar_id=_mailbox(item.get("resource")))
    change_type = item.get("changeType")
    if change_type not in CHANGE_TYPES:
        raise ValidationFailed(f"{where}.changeType must be one of created, updated, deleted",
                               details={"fields": [f"{where}.changeType"]})
    resource = item.get("resource")
    if not isinstance(resource, str) or not resource:
        raise ValidationFailed(f"{where}.resource is missing",
                               details={"fields": [f"{where}.resource"]})
    data = item.get("resourceData")
    event_id = data.get("id") if isinstance(data, dict) else None
    if event_id is not None and not isinstance(event_id, str):
        raise ValidationFailed(f"{where}.resourceData.id is not a string",
                               details={"fields": [f"{where}.resourceData.id"]})
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
