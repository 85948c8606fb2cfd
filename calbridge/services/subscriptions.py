"""Push subscriptions: creating them for mapped calendars, renewing them well before they
expire, re-creating lost ones, and removing them — with a secret client state each.

Every bridge whose adapter declares subscriptions (`PushSemantics.subscriptions`) gets
the same treatment; how a renewal works is the adapter's declaration too (extended in
place, or replaced by a new channel). Notification and lifecycle URLs are both
`{WEBHOOK_BASE_URL}/bridges/webhook/{bridge}` (Graph allows the two to be equal).
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict

from calbridge import push_secrets
from calbridge.bootstrap import Container
from calbridge.bridges.base import CalendarBridge
from calbridge.errors import CalbridgeError, NotFound
from calbridge.model import CalendarId, ResourceMapping, Subscription, utcnow

log = logging.getLogger(__name__)


class SubscriptionRequest(BaseModel):
    """The body of `POST /webhook/create` and `POST /bridges/{bridge}/subscriptions`."""

    model_config = ConfigDict(extra="forbid")

    calendar_id: CalendarId


class WebhookNotConfigured(CalbridgeError):
    """Webhooks cannot be used until WEBHOOK_BASE_URL says where this app is reachable."""

    code = "webhook_not_configured"
    status = 409


class PushNotSupported(CalbridgeError):
    code = "push_not_supported"
    status = 409


class CalendarNotMapped(CalbridgeError):
    code = "calendar_not_mapped"
    status = 409


def can_subscribe(bridge: CalendarBridge) -> bool:
    """Whether the adapter declares push subscriptions (not just signed webhooks)."""
    return bridge.push.subscriptions


def webhook_url(container: Container, bridge: str) -> str:
    """Where a bridge's notifications (and lifecycle notifications) are delivered."""
    base = container.settings.webhook_base_url
    if not base:
        raise WebhookNotConfigured(
            "WEBHOOK_BASE_URL is not set: calbridge does not know the public HTTPS address "
            "calendar systems should send notifications to")
    return f"{base.rstrip('/')}/bridges/webhook/{bridge}"


def bridge_of_type(container: Container, type_name: str) -> CalendarBridge:
    """The bridge an endpoint naming a calendar system means: the one named as the type,
    else the first bridge of that type. Raises `NotFound`."""
    named = container.bridges.get(type_name)
    if named is not None and named.type_name == type_name:
        return named
    for bridge in container.bridges.values():
        if bridge.type_name == type_name:
            return bridge
    raise NotFound(f"no {type_name} bridge is configured (CALBRIDGE_BRIDGES)")


def lifetime(container: Container) -> timedelta:
    return timedelta(minutes=container.settings.subscription_minutes)


def renewal_due(container: Container, subscription: Subscription, now: datetime) -> bool:
    """Renew when less than a third of a subscription's lifetime is left."""
    return subscription.expires_at - now < lifetime(container) / 3


def status_of(container: Container, subscription: Subscription, now: datetime) -> str:
    if subscription.expires_at <= now:
        return "expired"
    if subscription.last_error:
        return "failing"
    if renewal_due(container, subscription, now):
        return "expiring"
    return "healthy"


def public(container: Container, subscription: Subscription,
           now: datetime | None = None) -> dict[str, Any]:
    """A subscription as the API shows it: never its client state."""
    moment = now or utcnow()
    shown = subscription.model_dump(mode="json", exclude={"client_state_hash", "etag"})
    shown["status"] = status_of(container, subscription, moment)
    shown["minutes_left"] = max(0, int((subscription.expires_at - moment).total_seconds() // 60))
    return shown


def _same_calendar(a: str, b: str) -> bool:
    return a.casefold() == b.casefold()


def mappings_for_calendar(container: Container, bridge: str, calendar_id: str
                          ) -> list[ResourceMapping]:
    """Active mappings with an end on `calendar_id` of `bridge`."""
    return [m for m in container.storage.mappings.list(active=True)
            if any(end.bridge == bridge and _same_calendar(end.calendar_id, calendar_id)
                   for end in (m.a, m.b))]


def _mapped_calendar(mapping: ResourceMapping, bridge: str, calendar_id: str) -> str:
    """The calendar id as the mapping spells it."""
    return next(end.calendar_id for end in (mapping.a, mapping.b)
                if end.bridge == bridge and _same_calendar(end.calendar_id, calendar_id))


def list_subscriptions(container: Container, bridge: str | None = None) -> list[Subscription]:
    return container.storage.subscriptions.list(bridge)


def find(container: Container, subscription_id: str) -> Subscription:
    """A stored subscription by id, whatever its bridge. Raises `NotFound`."""
    for name in container.bridges:
        try:
            return container.storage.subscriptions.get(name, subscription_id)
        except NotFound:
            continue
    raise NotFound(f"subscription {subscription_id!r} not found")


def subscribe_calendar(container: Container, bridge_name: str, calendar_id: str, *,
                       now: datetime | None = None) -> tuple[Subscription, bool]:
    """A live subscription for a mapped calendar: the stored one when it is healthy, else
    a new one. Returns it and whether it was created."""
    bridge = container.bridge(bridge_name)
    if not can_subscribe(bridge):
        raise PushNotSupported(f"bridge {bridge_name!r} has no push subscriptions")
    webhook_url(container, bridge.name)  # refused first: notifications could not arrive
    mappings = mappings_for_calendar(container, bridge.name, calendar_id)
    if not mappings:
        raise CalendarNotMapped(
            f"calendar {calendar_id!r} of {bridge.name} is not in an active resource mapping; "
            "only mapped calendars are subscribed (POST /mappings/resources first)")
    moment = now or utcnow()
    for existing in container.storage.subscriptions.list(bridge.name):
        if _same_calendar(existing.calendar_id, calendar_id) and existing.expires_at > moment:
            return existing, False
    mapped = _mapped_calendar(mappings[0], bridge.name, calendar_id)
    return _open(container, bridge, mapped, mappings[0].id, moment), True


def _open(container: Container, bridge: CalendarBridge, calendar_id: str,
          mapping_id: str | None, moment: datetime, *, renewed: bool = False) -> Subscription:
    """A new subscription with the calendar system, with a fresh client state, stored."""
    url = webhook_url(container, bridge.name)
    client_state = secrets.token_urlsafe(32)
    push = bridge.subscribe(calendar_id, url, client_state, moment + lifetime(container),
                            lifecycle_url=url)
    stored = container.storage.subscriptions.add(Subscription(
        id=push.id, bridge=bridge.name, calendar_id=calendar_id, resource=push.resource,
        expires_at=push.expires_at,
        client_state_hash=push_secrets.digest(container.settings.push_key, client_state),
        mapping_id=mapping_id,
        renewed_at=moment if renewed else None))
    log.info("subscription created", extra={"bridge": bridge.name, "calendar": calendar_id,
                                            "subscription_id": push.id})
    return stored


def renew(container: Container, subscription: Subscription, *,
          now: datetime | None = None) -> Subscription:
    """Extend a subscription: under its id, or — for a system whose subscriptions cannot
    be extended (`PushSemantics.renewal_keeps_id` false) — by a new one that replaces it.
    A failure is recorded on it (`last_error`) and raised."""
    moment = now or utcnow()
    bridge = container.bridge(subscription.bridge)
    try:
        if not bridge.push.renewal_keeps_id:
            return _replace(container, bridge, subscription, moment)
        push = bridge.renew(subscription.id, moment + lifetime(container))
    except CalbridgeError as exc:
        _record_failure(container, subscription, exc)
        raise
    subscription.expires_at, subscription.renewed_at = push.expires_at, moment
    subscription.last_error = None
    return container.storage.subscriptions.update(subscription)


def _replace(container: Container, bridge: CalendarBridge, old: Subscription,
             moment: datetime) -> Subscription:
    """A new subscription for `old`'s calendar, stored before `old` is stopped and
    forgotten, so no change goes unannounced in between."""
    fresh = _open(container, bridge, old.calendar_id, old.mapping_id, moment, renewed=True)
    try:
        bridge.unsubscribe(old.id, old.resource)
    except CalbridgeError as exc:
        # It expires by itself; its notifications are ignored once it is forgotten.
        log.warning("replaced subscription not stopped", extra={
            "bridge": bridge.name, "subscription_id": old.id, "code": exc.code})
    try:
        container.storage.subscriptions.delete(old.bridge, old.id)
    except NotFound:
        pass
    return fresh


def renew_by_id(container: Container, subscription_id: str, *,
                now: datetime | None = None) -> tuple[Subscription, bool]:
    """Renew a subscription now; one its calendar system no longer has (it dropped it, or
    lost it) is made again, as the renewal timer does. The subscription, and whether it
    is a new one."""
    subscription = find(container, subscription_id)
    try:
        return renew(container, subscription, now=now), False
    except NotFound:
        return recreate(container, subscription, now=now), True


def delete(container: Container, subscription_id: str) -> Subscription:
    """Stop a subscription with its calendar system and forget it."""
    subscription = find(container, subscription_id)
    bridge = container.bridges.get(subscription.bridge)
    if bridge is not None:
        bridge.unsubscribe(subscription.id, subscription.resource)
    container.storage.subscriptions.delete(subscription.bridge, subscription.id)
    return subscription


def recreate(container: Container, subscription: Subscription, *,
             now: datetime | None = None) -> Subscription:
    """Replace a subscription the calendar system dropped (or that could not be renewed)."""
    try:
        container.storage.subscriptions.delete(subscription.bridge, subscription.id)
    except NotFound:
        pass
    created, _ = subscribe_calendar(container, subscription.bridge, subscription.calendar_id,
                                    now=now)
    return created


def _record_failure(container: Container, subscription: Subscription,
                    exc: CalbridgeError) -> None:
    log.warning("subscription renewal failed", extra={
        "bridge": subscription.bridge, "subscription_id": subscription.id, "code": exc.code})
    try:
        fresh = container.storage.subscriptions.get(subscription.bridge, subscription.id)
        fresh.last_error = exc.message[:500]
        container.storage.subscriptions.update(fresh)
    except CalbridgeError:
        log.exception("could not record a subscription failure")


def maintain(container: Container, *, now: datetime | None = None) -> dict[str, Any]:
    """The renewal timer: renew what is due, re-create what was lost, subscribe mapped
    calendars that have none, and drop subscriptions no active mapping needs."""
    moment = now or utcnow()
    report: dict[str, Any] = {"renewed": [], "recreated": [], "created": [], "removed": [],
                              "failed": []}
    mapped: dict[tuple[str, str], str] = {}  # (bridge, calendar) → the calendar id
    for mapping in container.storage.mappings.list(active=True):
        for end in (mapping.a, mapping.b):
            bridge = container.bridges.get(end.bridge)
            if bridge is not None and can_subscribe(bridge):
                mapped.setdefault((bridge.name, end.calendar_id.casefold()), end.calendar_id)
    covered: set[tuple[str, str]] = set()
    for subscription in container.storage.subscriptions.list():
        key = (subscription.bridge, subscription.calendar_id.casefold())
        try:
            if key not in mapped:
                delete(container, subscription.id)
                report["removed"].append(subscription.id)
                continue
            if subscription.expires_at <= moment:
                created = recreate(container, subscription, now=moment)
                report["recreated"].append(created.id)
            elif renewal_due(container, subscription, moment) or subscription.last_error:
                try:
                    renewed = renew(container, subscription, now=moment)
                    report["renewed"].append(renewed.id)
                except NotFound:
                    created = recreate(container, subscription, now=moment)
                    report["recreated"].append(created.id)
            covered.add(key)
        except CalbridgeError as exc:
            covered.add(key)  # failing, but recorded: retried next time, not duplicated
            report["failed"].append({"subscription_id": subscription.id,
                                     "calendar_id": subscription.calendar_id,
                                     "error": exc.message})
    if container.settings.webhook_base_url:
        for (bridge_name, folded), calendar_id in mapped.items():
            if (bridge_name, folded) in covered:
                continue
            try:
                created, _ = subscribe_calendar(container, bridge_name, calendar_id,
                                                now=moment)
                report["created"].append(created.id)
            except CalbridgeError as exc:
                report["failed"].append({"subscription_id": None, "calendar_id": calendar_id,
                                         "error": exc.message})
    else:
        report["skipped"] = "WEBHOOK_BASE_URL is not set: no subscriptions are created"
    return report


def summary(container: Container, *, now: datetime | None = None) -> dict[str, Any]:
    """The `subscriptions` block of `/bridges/health`."""
    moment = now or utcnow()
    subscriptions = container.storage.subscriptions.list()
    statuses = [status_of(container, s, moment) for s in subscriptions]
    from calbridge.services.webhooks import rejected_notifications

    return {"total": len(subscriptions), "healthy": statuses.count("healthy"),
            "expiring": statuses.count("expiring") + statuses.count("expired"),
            "failing": statuses.count("failing"),
            "rejected_notifications": rejected_notifications()}
