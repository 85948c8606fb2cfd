"""Push notification channels: `events.watch`, `channels.stop`, and delivering messages.

Looked up: the Calendar "Push notifications" guide and the `events.watch` /
`channels.stop` references. A watch request names `id` (unique, at most 64 characters),
`type` `web_hook` (or `webhook`), `address`, optional `token` and `params.ttl` (seconds,
default 604800) or `expiration` (ms). The answer is an `api#channel` with `resourceId`
(opaque, stable for the watched resource), `resourceUri` and `expiration` (ms).
Right after the channel is made a `sync` message is sent; then every change to the
calendar's events sends `exists` (and a deleted calendar `not_exists`). Each message is
a POST with an empty body and the headers `X-Goog-Channel-ID`,
`X-Goog-Channel-Token` (when a token was given), `X-Goog-Channel-Expiration` (an HTTP
date), `X-Goog-Resource-ID`, `X-Goog-Resource-URI`, `X-Goog-Resource-State` and
`X-Goog-Message-Number` (1 for `sync`, growing after). Expired and stopped channels send
nothing. Google requires an HTTPS address with a valid certificate (observed error
`push.webhookUrlNotHttps`); this emulator also accepts plain http to a loopback host, for
local receivers. Delivery failures are retried a few times with back-off (Google retries
5xx answers with exponential back-off), then dropped.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import ssl
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from .api import GoogleError, Request, Response, bad_request, utc_now
from .store import Channel

if TYPE_CHECKING:
    from .service import CalendarService

log = logging.getLogger("emulators.google_calendar.channels")
DEFAULT_TTL = 604800
DELIVERY_TIMEOUT = 3.0
RETRY_DELAYS = (0.5, 1.5)
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class Pusher:
    """Posts notification messages from one background thread, so each channel's messages
    arrive in order."""

    def __init__(self, ca_path: str | None) -> None:
        self._context = ssl.create_default_context()
        if ca_path:
            self._context.load_verify_locations(ca_path)
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gcal-push")
        self.delivered = 0
        self.failed = 0

    def send(self, url: str, headers: dict[str, str]) -> None:
        """Queue one message; never blocks the caller."""
        if self._stop.is_set():
            return
        try:
            self._pool.submit(self._deliver, url, headers)
        except RuntimeError:  # already shut down
            pass

    def _deliver(self, url: str, headers: dict[str, str]) -> None:
        for attempt in range(len(RETRY_DELAYS) + 1):
            if self._stop.is_set():
                return
            request = urllib.request.Request(url, data=b"", method="POST", headers=headers)
            context = self._context if url.startswith("https") else None
            try:
                with urllib.request.urlopen(request, timeout=DELIVERY_TIMEOUT,
                                            context=context) as response:
                    status = response.status
            except urllib.error.HTTPError as exc:
                status = exc.code
            except (OSError, ValueError) as exc:
                log.info("push to %s failed: %s", url, exc)
                status = 0
            if 200 <= status < 300 or 400 <= status < 500:
                # Google retries only server errors and unreachable receivers.
                self.delivered += 1 if status < 300 else 0
                return
            if attempt < len(RETRY_DELAYS) and self._stop.wait(RETRY_DELAYS[attempt]):
                return
        self.failed += 1

    def stop(self) -> None:
        """Stop retrying and wait for in-flight posts."""
        self._stop.set()
        self._pool.shutdown(wait=True, cancel_futures=True)


def resource_id(calendar_id: str) -> str:
    """The opaque id of a calendar's events collection (stable across channels)."""
    return hashlib.sha256(f"events:{calendar_id.lower()}".encode()).hexdigest()[:27]


class ChannelApi:
    """`events.watch`, `channels.stop`, and notifying channels of changes."""

    def __init__(self, service: CalendarService, pusher: Pusher) -> None:
        self.service = service
        self.pusher = pusher
        service.store.listeners.append(self.changed)

    def resource_uri(self, calendar_id: str) -> str:
        """The watched collection's URL, as Google names it in `resourceUri`."""
        return (f"{self.service.base_url}/calendar/v3/calendars/"
                f"{quote(calendar_id, safe='@')}/events?alt=json")

    def watch(self, req: Request, calendar_id: str) -> Response:
        """Open a channel on a calendar's events; a `sync` message follows at once."""
        body = req.json_object()
        channel_id = body.get("id")
        if not isinstance(channel_id, str) or not channel_id or len(channel_id) > 64:
            raise GoogleError(400, "required", "Required", location="id")
        if body.get("type") not in ("web_hook", "webhook"):
            raise bad_request(f"Unknown channel type: {body.get('type')}", "invalid")
        address = str(body.get("address") or "")
        _check_address(address)
        now = utc_now()
        params = body.get("params") or {}
        if body.get("expiration") is not None:
            expiration_ms = int(body["expiration"])
        else:
            ttl = int(str(params.get("ttl") or DEFAULT_TTL))
            expiration_ms = int(now.timestamp() * 1000) + ttl * 1000
        store = self.service.store
        with store.lock:
            existing = store.channels.get(channel_id)
            if existing is not None and not existing.stopped and not existing.expired(now):
                raise bad_request(f"Channel id {channel_id} not unique", "channelIdNotUnique")
            channel = Channel(id=channel_id, resource_id=resource_id(calendar_id),
                              calendar_id=calendar_id, address=address,
                              token=body.get("token"), expiration_ms=expiration_ms)
            store.channels[channel_id] = channel
        store.changed()
        self._push(channel, "sync")
        answer: dict[str, Any] = {
            "kind": "api#channel", "id": channel.id, "resourceId": channel.resource_id,
            "resourceUri": self.resource_uri(calendar_id),
            "expiration": str(channel.expiration_ms),
        }
        if channel.token is not None:
            answer["token"] = channel.token
        return Response(200, answer)

    def stop_channel(self, req: Request, params: dict[str, str]) -> Response:
        """`POST /channels/stop` with `id` and `resourceId`: 204; unknown → 404."""
        body = req.json_object()
        store = self.service.store
        with store.lock:
            channel = store.channels.get(str(body.get("id")))
            if channel is None or channel.resource_id != body.get("resourceId") \
                    or channel.stopped:
                raise GoogleError(404, "notFound",
                                  f"Channel '{body.get('id')}' not found for project")
            principal = self.service.principal_of(req)
            self.service.calendar_for(channel.calendar_id, principal)
            channel.stopped = True
        store.changed()
        return Response(204)

    def changed(self, calendar_id: str, state: str) -> None:
        """A calendar's events changed (or the calendar is gone): tell its channels."""
        store = self.service.store
        with store.lock:
            channels = [c for c in store.channels.values()
                        if c.calendar_id.lower() == calendar_id.lower()
                        and not c.stopped and not c.expired()]
            for channel in channels:
                self._push(channel, state)

    def expire_all(self) -> int:
        """End every channel now (as if its expiration had passed)."""
        store = self.service.store
        now_ms = int(utc_now().timestamp() * 1000)
        with store.lock:
            count = 0
            for channel in store.channels.values():
                if not channel.expired() and not channel.stopped:
                    channel.expiration_ms = now_ms - 1
                    count += 1
        store.changed()
        return count

    def summary(self) -> list[dict[str, Any]]:
        """Channels for the admin state."""
        with self.service.store.lock:
            # The token as the watch answer gave it to the watcher: tests replay it.
            return [{"id": c.id, "resourceId": c.resource_id, "calendarId": c.calendar_id,
                     "address": c.address, "token": c.token,
                     "expiration": str(c.expiration_ms),
                     "messages": c.messages, "stopped": c.stopped, "expired": c.expired()}
                    for c in self.service.store.channels.values()]

    def _push(self, channel: Channel, state: str) -> None:
        channel.messages += 1
        expiration = dt.datetime.fromtimestamp(channel.expiration_ms / 1000, dt.UTC)
        headers = {
            "X-Goog-Channel-ID": channel.id,
            "X-Goog-Channel-Expiration": format_datetime(expiration, usegmt=True),
            "X-Goog-Resource-ID": channel.resource_id,
            "X-Goog-Resource-URI": self.resource_uri(channel.calendar_id),
            "X-Goog-Resource-State": state,
            "X-Goog-Message-Number": str(channel.messages),
            "Content-Length": "0",
        }
        if channel.token is not None:
            headers["X-Goog-Channel-Token"] = channel.token
        self.pusher.send(channel.address, headers)


def _check_address(address: str) -> None:
    parts = urlsplit(address)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname in LOOPBACK:
        return
    raise bad_request(f"WebHook callback must be HTTPS: {address}", "push.webhookUrlNotHttps")
