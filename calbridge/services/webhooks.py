"""Webhooks: the validation handshake, accepting notifications (authenticated, then
queued — nothing slow happens in the request), and processing them from the
`notifications` queue through the sync engine.

Graph's budget for an answer is 3 seconds, so a request only checks each item's
`clientState` against the stored subscription and queues it; the queue trigger reads
the event and syncs it. Delivery is at least once; the engine is idempotent.
"""

from __future__ import annotations

import hmac
import logging
import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from calbridge.bootstrap import Container
from calbridge.bridges.base import ChangeNotice
from calbridge.errors import BadRequest, NotFound, PayloadTooLarge
from calbridge.model import ResourceMapping, Side, utcnow
from calbridge.services import subscriptions
from calbridge.services.sync import allowed
from calbridge.store.queues import NOTIFICATIONS
from calbridge.sync.engine import Outcome, SyncEngine
from calbridge.telemetry import WEBHOOK_DELAY, record_metric

log = logging.getLogger(__name__)

MAX_VALIDATION_TOKEN = 1024
PRELOAD_ABOVE = 5  # distinct subscriptions in one body before they are read in one query
LIFECYCLE = frozenset({"reauthorizationRequired", "subscriptionRemoved", "missed"})

# Notifications refused because their clientState did not match (or named no known
# subscription). Counted per process: a forged request must not cause a storage write.
_rejected_lock = threading.Lock()
_rejected = {"count": 0}


def rejected_notifications() -> int:
    with _rejected_lock:
        return _rejected["count"]


def _count_rejected(n: int) -> None:
    with _rejected_lock:
        _rejected["count"] += n


class PushNotice(BaseModel):
    """One accepted notification on the `notifications` queue."""

    model_config = ConfigDict(extra="ignore")

    bridge: str
    calendar_id: str | None = None
    event_id: str | None = None
    change_type: str = "updated"
    subscription_id: str | None = None
    received_at: datetime | None = None


def validation_token(token: str) -> str:
    """The handshake's token, checked before it is echoed: bounded, printable."""
    if len(token) > MAX_VALIDATION_TOKEN:
        raise BadRequest(f"validationToken longer than {MAX_VALIDATION_TOKEN} characters")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in token):
        raise BadRequest("validationToken contains control characters")
    return token


def receive(container: Container, bridge_name: str, headers: Mapping[str, str],
            body: bytes) -> dict[str, int]:
    """Authenticate a webhook body and queue what it announces. Items naming a
    subscription must carry its clientState; the rest must have been authenticated by
    the adapter itself (a signature). Returns accepted/ignored counts."""
    bridge = container.bridge(bridge_name)
    if len(body) > container.settings.max_body_bytes:
        raise PayloadTooLarge(f"request body exceeds {container.settings.max_body_bytes} bytes")
    if not body.strip():
        raise BadRequest("a notification body is required")
    try:
        notices = bridge.parse_notification(headers, body)
    except NotImplementedError:
        raise NotFound(f"bridge {bridge_name!r} takes no webhooks") from None
    container.storage.ensure()
    accepted: list[PushNotice] = []
    ignored = 0
    known: dict[str, Any] = {}
    if len({n.subscription_id for n in notices if n.subscription_id}) > PRELOAD_ABOVE:
        # Many subscriptions in one body: one query for all, not one read per id.
        known = {s.id: s for s in container.storage.subscriptions.list(bridge.name)}
        known.update({n.subscription_id: known.get(n.subscription_id)
                      for n in notices if n.subscription_id})
    needs_subscription = subscriptions.can_subscribe(bridge)
    for notice in notices:
        message = (None if needs_subscription and notice.subscription_id is None
                   else _authenticated(container, bridge.name, notice, known))
        if message is None:
            ignored += 1
        else:
            accepted.append(message)
    if ignored:
        _count_rejected(ignored)
        log.warning("webhook items ignored", extra={"bridge": bridge.name, "count": ignored})
    queue = container.storage.queue(NOTIFICATIONS)
    arrived = utcnow()
    for message in accepted:
        message.received_at = arrived
        queue.send(message)
    return {"accepted": len(accepted), "ignored": ignored}


def _authenticated(container: Container, bridge: str, notice: ChangeNotice,
                   known: dict[str, Any]) -> PushNotice | None:
    if notice.subscription_id is None:
        return PushNotice(bridge=bridge, calendar_id=notice.calendar_id,
                          event_id=notice.event_id, change_type=notice.change_type)
    sid = notice.subscription_id
    if sid not in known:
        try:
            known[sid] = container.storage.subscriptions.get(bridge, sid)
        except NotFound:
            known[sid] = None
    stored = known[sid]
    given = (notice.client_state or "").encode()
    expected = (stored.client_state if stored else "").encode()
    # compare_digest runs even for unknown subscriptions so timing tells nothing.
    matched = hmac.compare_digest(given, expected) and stored is not None and bool(given)
    if not matched:
        return None
    return PushNotice(bridge=bridge, calendar_id=stored.calendar_id, event_id=notice.event_id,
                      change_type=notice.change_type, subscription_id=sid)


# ------------------------------------------------------------------ processing


def _targets(container: Container, notice: PushNotice) -> list[tuple[ResourceMapping, Side]]:
    """Which mappings (and from which side) a notice concerns."""
    if not notice.calendar_id:
        return []
    container.storage.ensure()
    found = []
    wanted = notice.calendar_id.casefold()
    for mapping in container.storage.mappings.list(active=True):
        if (mapping.calendar_system == notice.bridge
                and mapping.calendar_resource_id.casefold() == wanted):
            found.append((mapping, Side.CALENDAR))
        elif (mapping.booking_system == notice.bridge
              and mapping.booking_system_resource_id.casefold() == wanted):
            found.append((mapping, Side.BOOKING))
    return [(m, side) for m, side in found if allowed(m, side)
            and m.calendar_system in container.bridges and m.booking_system in container.bridges]


def process(container: Container, notice: PushNotice) -> list[Outcome]:
    """One queued notice (the `notifications` queue trigger)."""
    if notice.change_type in LIFECYCLE:
        return process_lifecycle(container, notice)
    engine = SyncEngine(container)
    outcomes: list[Outcome] = []
    for mapping, side in _targets(container, notice):
        if notice.event_id:
            outcomes.append(engine.sync_event(mapping, side, notice.event_id, "webhook"))
        else:
            outcomes += engine.run(mapping, side)
    if notice.received_at is not None:
        # From the webhook's arrival to its change being applied on the other side.
        record_metric(WEBHOOK_DELAY, (utcnow() - notice.received_at).total_seconds(),
                      bridge=notice.bridge)
    return outcomes


def process_lifecycle(container: Container, notice: PushNotice) -> list[Outcome]:
    """reauthorizationRequired → renew; subscriptionRemoved → re-create, then catch up
    from the delta link; missed → catch up from the delta link."""
    if notice.subscription_id is None:
        return []
    try:
        stored = container.storage.subscriptions.get(notice.bridge, notice.subscription_id)
    except NotFound:
        stored = None
    log.info("lifecycle notification", extra={"bridge": notice.bridge,
                                              "event": notice.change_type})
    if notice.change_type == "reauthorizationRequired":
        if stored is not None:
            try:
                subscriptions.renew(container, stored)
            except NotFound:
                subscriptions.recreate(container, stored)
        return []
    if notice.change_type == "subscriptionRemoved" and stored is not None:
        subscriptions.recreate(container, stored)
    engine = SyncEngine(container)
    outcomes: list[Outcome] = []
    for mapping, side in _targets(container, notice):
        outcomes += engine.run(mapping, side)
    return outcomes
