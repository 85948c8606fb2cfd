"""Webhooks: the validation handshake, accepting notifications (authenticated, then
queued — nothing slow happens in the request), and processing them from the
`notifications` queue through the sync engine.

Graph counts a notification as delivered only when it is answered 2xx within 3 seconds;
it retries slower answers, delays every notification to an endpoint once more than 10%
of its answers in 10 minutes took over 10 seconds, and drops them (for good) past 15%
(learn.microsoft.com/graph/change-notifications-delivery-webhooks, "Throttling"). So a
request only checks each item's `clientState` against the stored subscription, merges
items announcing the same event, and queues the distinct notices packed many to a
message (Storage Queues have no batch send; one send per item made a 1,000-item batch
take seconds). The queue trigger reads each event once and syncs it. Delivery is at
least once; the engine is idempotent.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from calbridge.bootstrap import Container
from calbridge.bridges.base import ChangeNotice, Delivery
from calbridge.errors import BadRequest, CalbridgeError, NotFound, PayloadTooLarge
from calbridge.model import End, ResourceMapping, utcnow
from calbridge.services import subscriptions
from calbridge.store.deliveries import DeliveryRecord
from calbridge.store.queues import NOTIFICATIONS, batches
from calbridge.sync.engine import SyncEngine
from calbridge.sync.outcome import Outcome, OutcomeStatus
from calbridge.telemetry import WEBHOOK_DELAY, record_metric

log = logging.getLogger(__name__)

MAX_VALIDATION_TOKEN = 1024
PRELOAD_ABOVE = 5  # distinct subscriptions in one body before they are read in one query
LIFECYCLE = frozenset({"reauthorizationRequired", "subscriptionRemoved", "missed"})
# Notices per queue message: few enough that one message is processed in seconds and a
# large batch still spreads over several workers.
NOTICES_PER_MESSAGE = 50

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
    """One accepted notification, as the `notifications` queue carries it."""

    model_config = ConfigDict(extra="ignore")

    bridge: str
    calendar_id: str | None = None
    event_id: str | None = None
    change_type: str = "updated"
    subscription_id: str | None = None
    received_at: datetime | None = None


class NoticeBatch(BaseModel):
    """One `notifications` queue message: the distinct notices of (part of) a request."""

    notices: list[PushNotice] = Field(min_length=1)


class Receipt(BaseModel):
    """What a webhook request did: items accepted (authentic), ignored (not), how many
    accepted ones repeated another of the same request (merged into it), and whether the
    whole delivery had been accepted before (a replay: nothing was queued)."""

    accepted: int = 0
    ignored: int = 0
    duplicates: int = 0
    replayed: bool = False


class NoticeFailed(CalbridgeError):
    """A queued notice could not be synced and recorded nowhere: the host retries it."""

    code = "notice_failed"
    status = 503


def validation_token(token: str) -> str:
    """The handshake's token, checked before it is echoed: bounded, printable."""
    if len(token) > MAX_VALIDATION_TOKEN:
        raise BadRequest(f"validationToken longer than {MAX_VALIDATION_TOKEN} characters")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in token):
        raise BadRequest("validationToken contains control characters")
    return token


def receive(container: Container, bridge_name: str, headers: Mapping[str, str],
            body: bytes) -> Receipt:
    """Authenticate a webhook body and queue what it announces. Items naming a
    subscription must carry its clientState; the rest must have been authenticated by
    the adapter itself (a signature), and a signed delivery is accepted once."""
    bridge = container.bridge(bridge_name)
    if len(body) > container.settings.max_body_bytes:
        raise PayloadTooLarge(f"request body exceeds {container.settings.max_body_bytes} bytes")
    if not body.strip():
        raise BadRequest("a notification body is required")
    try:
        notices = bridge.parse_notification(headers, body)
    except NotImplementedError:
        raise NotFound(f"bridge {bridge_name!r} takes no webhooks") from None
    accepted: list[tuple[ChangeNotice, PushNotice]] = []
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
            accepted.append((notice, message))
    if ignored:
        _count_rejected(ignored)
        log.warning("webhook items ignored", extra={"bridge": bridge.name, "count": ignored})
    deliveries = {n.delivery.id: n.delivery for n, _ in accepted if n.delivery is not None}
    claimed = _claim(container, bridge.name, deliveries.values())
    fresh = [message for notice, message in accepted
             if notice.delivery is None or notice.delivery.id in claimed]
    if accepted and not fresh:
        log.info("webhook delivery replayed", extra={"bridge": bridge.name})
        return Receipt(ignored=ignored, replayed=True)
    distinct = merged(fresh)
    try:
        _queue(container, distinct)
    except Exception:
        # Nothing (or not all) was queued: let the sender's retry be accepted.
        for delivery_id in claimed:
            container.storage.deliveries.release(bridge.name, delivery_id)
        raise
    return Receipt(accepted=len(fresh), ignored=ignored, duplicates=len(fresh) - len(distinct))


def _claim(container: Container, bridge: str, deliveries: Iterable[Delivery]) -> set[str]:
    """The ids of `deliveries` seen for the first time within their window (now taken)."""
    now = utcnow()
    return {d.id for d in deliveries if container.storage.deliveries.claim(DeliveryRecord(
        bridge=bridge, delivery_id=d.id, received_at=now, expires_at=d.replayable_until))}


def _queue(container: Container, notices: list[PushNotice]) -> None:
    queue = container.storage.queue(NOTIFICATIONS)
    arrived = utcnow()
    for notice in notices:
        notice.received_at = arrived
    queue.send_all([NoticeBatch(notices=run)
                    for run in batches(notices, most=NOTICES_PER_MESSAGE)])


def _identity(notice: PushNotice) -> tuple[str | None, ...]:
    """Notices with the same identity ask for the same work. A change notice means "read
    this event (or calendar) again", whatever its change type, so those of one event
    merge; lifecycle notices merge per subscription and kind."""
    if notice.change_type in LIFECYCLE:
        return ("lifecycle", notice.bridge, notice.subscription_id, notice.change_type)
    return ("change", notice.bridge, (notice.calendar_id or "").casefold(), notice.event_id)


def merged(notices: Iterable[PushNotice]) -> list[PushNotice]:
    """`notices` without repeats of the same work, first ones first."""
    distinct: dict[tuple[str | None, ...], PushNotice] = {}
    for notice in notices:
        distinct.setdefault(_identity(notice), notice)
    return list(distinct.values())


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


def forget_expired_deliveries(container: Container) -> int:
    """Drop remembered deliveries whose replays the signature check refuses by itself."""
    return container.storage.deliveries.forget_expired()


# ------------------------------------------------------------------ processing


def read_message(body: bytes | str) -> list[PushNotice]:
    """The notices of one `notifications` queue message: a `NoticeBatch`, or a single
    `PushNotice` (queued by earlier versions). Raises `ValidationError`/`ValueError`."""
    data = json.loads(body)
    if isinstance(data, dict) and "notices" in data:
        return NoticeBatch.model_validate(data).notices
    return [PushNotice.model_validate(data)]


def process_message(container: Container, body: bytes | str) -> list[Outcome]:
    """One `notifications` queue message (the queue trigger). Each event is read once,
    however often the message names it. A lone notice that fails raises `NoticeFailed`,
    so the host retries the message and poisons it after 5 attempts; a notice failing
    inside a batch is queued again on its own, where the same rules apply to it alone,
    and the rest of the batch is done."""
    notices = merged(read_message(body))
    mappings = container.storage.mappings.list(active=True)
    if len(notices) == 1:
        outcomes = process(container, notices[0], mappings)
        if (failure := _unrecorded_failure(outcomes)) is not None:
            raise NoticeFailed(f"notification sync failed: {failure}")
        return outcomes
    outcomes: list[Outcome] = []
    failed: list[PushNotice] = []
    for notice in notices:
        try:
            done = process(container, notice, mappings)
        except Exception as exc:  # one notice's failure must not hold up the others
            log.warning("notice failed in a batch", extra={"bridge": notice.bridge,
                                                            "error": type(exc).__name__})
            failed.append(notice)
            continue
        if _unrecorded_failure(done) is not None:
            failed.append(notice)
        outcomes += done
    # Should this fail, the host retries the whole message; what was done is skipped.
    container.storage.queue(NOTIFICATIONS).send_all(
        [NoticeBatch(notices=[notice]) for notice in failed])
    return outcomes


def _unrecorded_failure(outcomes: list[Outcome]) -> str | None:
    """The error of a failure not recorded on an event link. A failed write is recorded
    on its link and retried with backoff by the engine, so it is not retried here too."""
    for outcome in outcomes:
        if outcome.status is OutcomeStatus.FAILED and outcome.link_id is None:
            return outcome.error or "unknown error"
    return None


def _targets(container: Container, notice: PushNotice,
             mappings: list[ResourceMapping] | None = None) -> list[tuple[ResourceMapping, End]]:
    """Which mappings (and from which end) a notice concerns."""
    if not notice.calendar_id:
        return []
    if mappings is None:
        mappings = container.storage.mappings.list(active=True)
    found = []
    wanted = notice.calendar_id.casefold()
    for mapping in mappings:
        for end in End:
            if (mapping.end(end).bridge == notice.bridge
                    and mapping.end(end).calendar_id.casefold() == wanted):
                found.append((mapping, end))
    return [(m, end) for m, end in found if m.allows(end)
            and m.a.bridge in container.bridges and m.b.bridge in container.bridges]


def process(container: Container, notice: PushNotice,
            mappings: list[ResourceMapping] | None = None) -> list[Outcome]:
    """One notice; `mappings` are the active ones, when already read."""
    if notice.change_type in LIFECYCLE:
        return process_lifecycle(container, notice)
    engine = SyncEngine.for_container(container)
    outcomes: list[Outcome] = []
    for mapping, side in _targets(container, notice, mappings):
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
    engine = SyncEngine.for_container(container)
    outcomes: list[Outcome] = []
    for mapping, side in _targets(container, notice):
        outcomes += engine.run(mapping, side)
    return outcomes
