"""Outbound change notifications: signed POSTs sent from one background thread.

Each change is sent as ``{"event_type", "event", "occurred_at"}`` with headers

- ``X-Booking-Timestamp``: unix seconds when this attempt was signed,
- ``X-Booking-Delivery``: an id that stays the same across retries of one notification,
- ``X-Booking-Signature``: ``v2=`` + hex HMAC-SHA256 over ``f"{delivery}.{timestamp}.{body}"``,
- ``X-Booking-Event``: the event type.

Receivers should recompute the signature over the raw body, compare in constant time
(:func:`verify_signature`), reject timestamps more than five minutes old, and accept a
delivery id once: as it is signed, a replay cannot change it.

Earlier versions signed ``sha256=`` + hex HMAC-SHA256 over ``f"{timestamp}.{body}"``
(:func:`sign`), leaving the delivery id unsigned; :func:`verify_signature` still checks
that form.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import queue
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from .timestamps import now_stamp

log = logging.getLogger(__name__)

EVENT_TYPES = ("created", "updated", "cancelled", "reactivated", "purged")
SIGNATURE_TOLERANCE_SECONDS = 300
DELIVERY_SIGNATURE_PREFIX = "v2="


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The earlier ``X-Booking-Signature`` value (``sha256=``) for ``body`` sent at
    ``timestamp``; it does not cover the delivery id."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def sign_delivery(secret: str, delivery_id: str, timestamp: str, body: bytes) -> str:
    """The ``X-Booking-Signature`` value (``v2=``) for delivery ``delivery_id`` of
    ``body`` sent at ``timestamp``."""
    signed = f"{delivery_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256)
    return DELIVERY_SIGNATURE_PREFIX + digest.hexdigest()


def verify_signature(
    secret: str,
    timestamp: str | None,
    body: bytes,
    signature: str | None,
    *,
    delivery_id: str | None = None,
    now: float | None = None,
    tolerance: int = SIGNATURE_TOLERANCE_SECONDS,
) -> bool:
    """True when ``signature`` matches and ``timestamp`` is within ``tolerance`` seconds.
    A ``v2=`` signature needs the ``delivery_id`` it signs; a ``sha256=`` one does not."""
    if not timestamp or not signature or not timestamp.isdigit():
        return False
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > tolerance:
        return False
    if signature.startswith(DELIVERY_SIGNATURE_PREFIX):
        if not delivery_id:
            return False
        expected = sign_delivery(secret, delivery_id, timestamp, body)
    else:
        expected = sign(secret, timestamp, body)
    return hmac.compare_digest(expected, signature)


def check_webhook_url(url: str) -> str:
    """Only absolute http(s) URLs are accepted as webhook targets."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"webhook URL must be an absolute http(s) URL, got {url!r}")
    return url


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirected webhook counts as failed (a POST must not silently become a GET)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@dataclass
class _Delivery:
    event_type: str
    event_id: str
    body: bytes
    url: str
    secret: str | None
    generation: int
    delivery_id: str = field(default_factory=lambda: uuid.uuid4().hex)


class WebhookNotifier:
    """Queues change notifications and delivers them in order, retrying with backoff."""

    def __init__(
        self,
        url: str | None = None,
        secret: str | None = None,
        *,
        retry_delays: Sequence[float] = (1.0, 3.0),
        timeout: float = 5.0,
        max_queue: int = 1000,
    ):
        self._url = check_webhook_url(url) if url else None
        self._secret = secret
        self._retry_delays = tuple(retry_delays)
        self._timeout = timeout
        self._queue: queue.Queue[_Delivery] = queue.Queue(maxsize=max_queue)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._generation = 0
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect)
        self._reset_counts()

    def _reset_counts(self) -> None:
        self._counts = {
            "queued": 0, "attempted": 0, "succeeded": 0, "failed": 0, "retried": 0, "dropped": 0,
        }
        self._recent: deque[dict[str, Any]] = deque(maxlen=50)

    @property
    def url(self) -> str | None:
        """Where notifications go (None: nowhere)."""
        return self._url

    def configure(self, url: str | None, secret: str | None) -> None:
        """Point later notifications at ``url`` signed with ``secret`` (None stops sending)."""
        with self._lock:
            self._url = check_webhook_url(url) if url else None
            self._secret = secret

    def start(self) -> None:
        """Start the sender thread."""
        if self._thread is None:
            self._stopping.clear()
            self._thread = threading.Thread(
                target=self._run, name="booking-webhook-sender", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the sender thread; undelivered notifications are dropped."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def notify(self, event_type: str, event: dict[str, Any]) -> None:
        """Queue one change; never blocks (a full queue drops it and counts the drop)."""
        with self._lock:
            if self._url is None:
                return
            payload = {"event_type": event_type, "event": event, "occurred_at": now_stamp()}
            body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
            delivery = _Delivery(
                event_type, str(event.get("id")), body, self._url, self._secret, self._generation
            )
            try:
                self._queue.put_nowait(delivery)
                self._counts["queued"] += 1
            except queue.Full:
                self._counts["dropped"] += 1
                log.warning("webhook queue full, dropped %s of event %s", event_type, event["id"])

    def reset(self) -> None:
        """Forget queued notifications and counts (the target URL stays configured)."""
        with self._lock:
            self._generation += 1
            while True:
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    break
            self._reset_counts()

    def stats(self) -> dict[str, Any]:
        """Counts of notifications and attempts, plus the most recent deliveries."""
        with self._lock:
            return {
                **self._counts,
                "pending": self._queue.qsize(),
                "url": self._url,
                "recent": list(self._recent),
            }

    def _count(self, generation: int, key: str, record: dict[str, Any] | None = None) -> None:
        with self._lock:
            if generation != self._generation:
                return
            self._counts[key] += 1
            if record is not None:
                self._recent.append(record)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                delivery = self._queue.get(timeout=0.1)
            except queue.Empty:
                continue
            self._deliver(delivery)

    def _deliver(self, delivery: _Delivery) -> None:
        attempts, outcome = 0, ""
        for attempt in range(len(self._retry_delays) + 1):
            if self._stopping.is_set() or delivery.generation != self._generation:
                return  # stopped, or reset since this was queued
            attempts += 1
            self._count(delivery.generation, "attempted")
            outcome = self._post(delivery)
            if outcome == "ok":
                self._count(delivery.generation, "succeeded", self._record(delivery, attempts))
                return
            if attempt < len(self._retry_delays):
                self._count(delivery.generation, "retried")
                if self._stopping.wait(self._retry_delays[attempt]):
                    return
        log.warning("webhook %s for event %s failed: %s", delivery.event_type,
                    delivery.event_id, outcome)
        self._count(delivery.generation, "failed", self._record(delivery, attempts, outcome))

    @staticmethod
    def _record(delivery: _Delivery, attempts: int, error: str | None = None) -> dict[str, Any]:
        return {
            "delivery_id": delivery.delivery_id,
            "event_type": delivery.event_type,
            "event_id": delivery.event_id,
            "attempts": attempts,
            "delivered": error is None,
            "error": error,
        }

    def _post(self, delivery: _Delivery) -> str:
        """One attempt: ``"ok"`` or a short reason."""
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "booking-system-example/1.0",
            "X-Booking-Timestamp": timestamp,
            "X-Booking-Delivery": delivery.delivery_id,
            "X-Booking-Event": delivery.event_type,
        }
        if delivery.secret:
            headers["X-Booking-Signature"] = sign_delivery(
                delivery.secret, delivery.delivery_id, timestamp, delivery.body)
        request = urllib.request.Request(  # noqa: S310 - scheme checked in check_webhook_url
            delivery.url, data=delivery.body, headers=headers, method="POST"
        )
        try:
            with self._opener.open(request, timeout=self._timeout) as response:
                response.read()
                return "ok" if 200 <= response.status < 300 else f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            exc.close()
            return f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError, ValueError) as exc:
            return f"{type(exc).__name__}: {exc}"
