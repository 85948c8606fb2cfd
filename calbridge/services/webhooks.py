"""Webhooks: the validation handshake, accepting notifications (authenticated, then
queued — nothing slow happens in the request), and processing them from the
`notifications` queue through the sync engine.

What a request must carry, and what its lifecycle events mean, is what the bridge's
adapter declares (`CalendarBridge.push`): a client state per subscription compared in
constant time (and the subscription's resource, where notices name it), or a signature
`parse_notification` verifies.

Senders count a notification as delivered only when it is answered quickly: Graph wants
2xx within 3 seconds; it retries slower answers, delays every notification to an endpoint
once more than 10% of its answers in 10 minutes took over 10 seconds, and drops them (for
good) past 15% (learn.microsoft.com/graph/change-notifications-delivery-webhooks,
"Throttling"). So a request only authenticates each item, merges items announcing the
same event, and queues the distinct notices packed many to a message (Storage Queues have
no batch send; one send per item made a 1,000-item batch take seconds). The queue trigger
reads each event once and syncs it. Delivery is at least once; the engine is idempotent.

A request announcing a few changes (`CALBRIDGE_WEBHOOK_APPLY_NOW`) also has them synced
right away on a worker thread, so an edit reaches the other side in a fraction of a second
rather than at the queue trigger's next poll (which backs off to `maxPollingInterval`
while the queue is idle). Its queue message is still sent first, hidden for a grace
period, and withdrawn once the work is done: if the work fails it is made visible at once,
and if the process stops it reappears by itself — either way the queue trigger does it.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from calbridge import push_secrets
from calbridge.bootstrap import Container
from calbridge.bridges.base import CalendarBridge, ChangeNotice, Delivery, LifecycleAction
from calbridge.errors import BadRequest, CalbridgeError, NotFound, PayloadTooLarge
from calbridge.model import End, ResourceMapping, Subscription, utcnow
from calbridge.services import subscriptions
from calbridge.store.deliveries import DeliveryRecord
from calbridge.store.queues import NOTIFICATIONS, Sent, batches
from calbridge.sync.engine import SyncEngine
from calbridge.sync.outcome import Outcome, OutcomeStatus
from calbridge.telemetry import WEBHOOK_DELAY, record_metric

log = logging.getLogger(__name__)

MAX_VALIDATION_TOKEN = 1024
PRELOAD_ABOVE = 5  # distinct subscriptions in one body before they are read in one query
# Notices per queue message: few enough that one message is processed in seconds and a
# large batch still spreads over several workers.
NOTICES_PER_MESSAGE = 50

# Changes applied right away: at most this many requests' work at once (a burst beyond
# that waits for the queue trigger), hidden on the queue meanwhile for this long.
APPLY_NOW_WORKERS = 2
APPLY_NOW_GRACE_SECONDS = 30
_apply_now_slots = threading.BoundedSemaphore(APPLY_NOW_WORKERS)
_apply_now_pool = ThreadPoolExecutor(max_workers=APPLY_NOW_WORKERS,
                                     thread_name_prefix="webhook-apply-now")

# Notifications refused because their client state did not match (or named no known
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
    # Set when the adapter declares `change_type` a lifecycle event (`PushSemantics`).
    lifecycle: LifecycleAction | None = None
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


def handshake(bridge: CalendarBridge, params: Mapping[str, str]) -> str | None:
    """The token to echo when a request is the validation handshake the bridge's adapter
    declares (`PushSemantics.handshake_parameter`), else None. Checked before it is
    echoed: present, bounded, printable."""
    parameter = bridge.push.handshake_parameter
    token = params.get(parameter) if parameter else None
    if parameter is None or token is None:
        return None
    if not token:
        raise BadRequest(f"{parameter} is empty")
    if len(token) > MAX_VALIDATION_TOKEN:
        raise BadRequest(f"{parameter} longer than {MAX_VALIDATION_TOKEN} characters")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in token):
        raise BadRequest(f"{parameter} contains control characters")
    return token


def receive(container: Container, bridge_name: str, headers: Mapping[str, str],
            body: bytes, *, apply_now: bool = False) -> Receipt:
    """Authenticate a webhook body and queue what it announces. When the adapter declares
    client states, each item must name a stored subscription and carry its client state;
    otherwise the adapter authenticated the request itself (a signature), and a signed
    delivery is accepted once. With `apply_now`, a few changes are also synced at once on
    a worker thread (see the module's docs)."""
    bridge = container.bridge(bridge_name)
    if len(body) > container.settings.max_body_bytes:
        raise PayloadTooLarge(f"request body exceeds {container.settings.max_body_bytes} bytes")
    if not body.strip() and not bridge.push.notice_in_headers:
        raise BadRequest("a notification body is required")
    try:
        notices = bridge.parse_notification(headers, body)
    except NotImplementedError:
        raise NotFound(f"bridge {bridge_name!r} takes no webhooks") from None
    accepted: list[tuple[ChangeNotice, PushNotice]] = []
    ignored = 0
    known: dict[str, Any] = {}
    named = {n.subscription_id for n in notices if n.subscription_id}
    if bridge.push.client_state and len(named) > PRELOAD_ABOVE:
        # Many subscriptions in one body: one query for all, not one read per id.
        known = {s.id: s for s in container.storage.subscriptions.list(bridge.name)}
        known.update({sid: known.get(sid) for sid in named})
    for notice in notices:
        message = (_authenticated(container, bridge, notice, known) if bridge.push.client_state
                   else _notice(bridge, notice))
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
    now = (apply_now and 0 < len(distinct) <= container.settings.webhook_apply_now
           and all(n.lifecycle is None for n in distinct)
           and _apply_now_slots.acquire(blocking=False))
    try:
        queued = _queue(container, distinct, delay_seconds=APPLY_NOW_GRACE_SECONDS if now else 0)
    except Exception:
        if now:
            _apply_now_slots.release()
        # Nothing (or not all) was queued: let the sender's retry be accepted.
        for delivery_id in claimed:
            container.storage.deliveries.release(bridge.name, delivery_id)
        raise
    if now:
        _apply_now_pool.submit(_apply_now, container, queued)
    return Receipt(accepted=len(fresh), ignored=ignored, duplicates=len(fresh) - len(distinct))


def _claim(container: Container, bridge: str, deliveries: Iterable[Delivery]) -> set[str]:
    """The ids of `deliveries` seen for the first time within their window (now taken)."""
    now = utcnow()
    return {d.id for d in deliveries if container.storage.deliveries.claim(DeliveryRecord(
        bridge=bridge, delivery_id=d.id, received_at=now, expires_at=d.replayable_until))}


def _queue(container: Container, notices: list[PushNotice], *,
           delay_seconds: int = 0) -> list[tuple[Sent, NoticeBatch]]:
    queue = container.storage.queue(NOTIFICATIONS)
    arrived = utcnow()
    for notice in notices:
        notice.received_at = arrived
    messages = [NoticeBatch(notices=run) for run in batches(notices, most=NOTICES_PER_MESSAGE)]
    return list(zip(queue.send_all(messages, delay_seconds=delay_seconds), messages,
                    strict=True))


def _apply_now(container: Container, queued: list[tuple[Sent, NoticeBatch]]) -> None:
    """Do the queue trigger's work on messages just queued (hidden), then withdraw them;
    a message whose work failed is made visible for the queue trigger to retry."""
    queue = container.storage.queue(NOTIFICATIONS)
    try:
        for sent, message in queued:
            try:
                process_message(container, message.model_dump_json())
            except Exception as exc:
                log.warning("a notification applied at once failed; the queue retries it",
                            extra={"error": type(exc).__name__})
                _settle(queue.release, sent)
            else:
                _settle(queue.withdraw, sent)
    finally:
        _apply_now_slots.release()


def _settle(action: Callable[[Sent], bool], sent: Sent) -> None:
    """Withdraw or release a message; should storage fail, the message reappears when its
    grace period ends and the queue trigger does the work (again: it is idempotent)."""
    try:
        action(sent)
    except Exception as exc:
        log.warning("queue message left to reappear", extra={"error": type(exc).__name__})


def _identity(notice: PushNotice) -> tuple[str | None, ...]:
    """Notices with the same identity ask for the same work. A change notice means "read
    this event (or calendar) again", whatever its change type, so those of one event
    merge; lifecycle notices merge per subscription and kind."""
    if notice.lifecycle is not None:
        return ("lifecycle", notice.bridge, notice.subscription_id, notice.change_type)
    return ("change", notice.bridge, (notice.calendar_id or "").casefold(), notice.event_id)


def merged(notices: Iterable[PushNotice]) -> list[PushNotice]:
    """`notices` without repeats of the same work, first ones first."""
    distinct: dict[tuple[str | None, ...], PushNotice] = {}
    for notice in notices:
        distinct.setdefault(_identity(notice), notice)
    return list(distinct.values())


def _notice(bridge: CalendarBridge, notice: ChangeNotice,
            calendar_id: str | None = None) -> PushNotice:
    """An authentic notice as the queue carries it, its lifecycle event classified."""
    return PushNotice(bridge=bridge.name, calendar_id=calendar_id or notice.calendar_id,
                      event_id=notice.event_id, change_type=notice.change_type,
                      lifecycle=bridge.push.lifecycle.get(notice.change_type),
                      subscription_id=notice.subscription_id)


def _authenticated(container: Container, bridge: CalendarBridge, notice: ChangeNotice,
                   known: dict[str, Any]) -> PushNotice | None:
    """The notice when it names a stored subscription and carries its client state (and,
    where the adapter declares it, names the resource that subscription watches)."""
    if notice.subscription_id is None:
        return None
    sid = notice.subscription_id
    if sid not in known:
        try:
            known[sid] = container.storage.subscriptions.get(bridge.name, sid)
        except NotFound:
            known[sid] = None
    stored = known[sid]
    # Compared even for unknown subscriptions, so timing tells nothing.
    matched = push_secrets.matches(container.settings.push_key, notice.client_state,
                                   stored.client_state_hash if stored else None)
    matched = matched and stored is not None
    if bridge.push.notice_names_resource:
        # A channel's token replayed against another resource is not that channel's notice.
        named = (notice.subscription_resource or "").encode()
        watched = (stored.resource if stored else "").encode()
        matched = hmac.compare_digest(named, watched) and bool(named) and matched
    if not matched:
        return None
    return _notice(bridge, notice, calendar_id=stored.calendar_id)


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
    notices = merged(_classified(container, read_message(body)))
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


def _classified(container: Container, notices: list[PushNotice]) -> list[PushNotice]:
    """`notices` with their lifecycle action: notices queued before they carried it name
    only their adapter's event, which its declaration classifies."""
    for notice in notices:
        bridge = container.bridges.get(notice.bridge)
        if notice.lifecycle is None and bridge is not None:
            notice.lifecycle = bridge.push.lifecycle.get(notice.change_type)
    return notices


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
    if notice.lifecycle is not None:
        return process_lifecycle(container, notice)
    engine = SyncEngine.for_container(container)
    outcomes: list[Outcome] = []
    for mapping, end in _targets(container, notice, mappings):
        if notice.event_id:
            outcomes += engine.sync_item(mapping, end, notice.event_id, "webhook")
        else:
            outcomes += engine.run(mapping, end)
    if notice.received_at is not None:
        # From the webhook's arrival to its change being applied on the other end.
        record_metric(WEBHOOK_DELAY, (utcnow() - notice.received_at).total_seconds(),
                      bridge=notice.bridge)
    return outcomes


def process_lifecycle(container: Container, notice: PushNotice) -> list[Outcome]:
    """Reauthorize → renew; recreate → open a new subscription, then catch up from the
    cursor; resync → catch up from the cursor."""
    stored: Subscription | None = None
    if notice.subscription_id is not None:
        try:
            stored = container.storage.subscriptions.get(notice.bridge, notice.subscription_id)
        except NotFound:
            pass
    log.info("lifecycle notification", extra={"bridge": notice.bridge,
                                              "event": notice.change_type,
                                              "action": notice.lifecycle})
    if notice.lifecycle is LifecycleAction.REAUTHORIZE:
        if stored is not None:
            try:
                subscriptions.renew(container, stored)
            except NotFound:
                subscriptions.recreate(container, stored)
        return []
    if notice.lifecycle is LifecycleAction.RECREATE and stored is not None:
        subscriptions.recreate(container, stored)
    engine = SyncEngine.for_container(container)
    outcomes: list[Outcome] = []
    for mapping, end in _targets(container, notice):
        outcomes += engine.run(mapping, end)
    return outcomes
