"""Outbound webhook calls: the validation handshake and (retried) notification delivery."""

from __future__ import annotations

import json
import logging
import ssl
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote, urlsplit

from .api import GraphError

log = logging.getLogger("emulators.graph.notifier")
VALIDATION_TIMEOUT = 10.0
DELIVERY_TIMEOUT = 3.0
RETRY_DELAYS = (1.0, 3.0)  # three tries within about 10 seconds in all
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def check_url(url: str, field: str) -> None:
    """https everywhere; plain http is tolerated for loopback receivers (local development)."""
    parts = urlsplit(url or "")
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname in LOOPBACK:
        return
    raise GraphError(
        400, "InvalidRequest", f"The {field} must be an absolute https URL (got '{url}')."
    )


class Notifier:
    """Posts to subscriber endpoints from background threads."""

    def __init__(self, ca_path: str | None = None) -> None:
        self._context = ssl.create_default_context()
        if ca_path:
            self._context.load_verify_locations(ca_path)
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="graph-notify")
        self.delivered = 0
        self.failed = 0

    def _post(self, url: str, data: bytes, content_type: str, timeout: float) -> tuple[int, bytes]:
        request = urllib.request.Request(
            url, data=data, method="POST", headers={"Content-Type": content_type}
        )
        context = self._context if url.startswith("https") else None
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def validate(self, url: str, token: str) -> None:
        """The validation handshake; raises Graph's 400 when the endpoint answers wrongly."""
        separator = "&" if "?" in url else "?"
        target = f"{url}{separator}validationToken={quote(token, safe='')}"
        try:
            status, body = self._post(target, b"", "text/plain; charset=utf-8",
                                      VALIDATION_TIMEOUT)
        except TimeoutError as exc:
            raise GraphError(
                400, "InvalidRequest", "Subscription validation request timed out."
            ) from exc
        except (OSError, ValueError) as exc:
            raise GraphError(
                400,
                "ValidationError",
                "Subscription validation request failed. Notification endpoint must respond "
                f"with 200 OK to validation request. ({exc})",
            ) from exc
        if status != 200:
            raise GraphError(
                400,
                "ValidationError",
                "Subscription validation request failed. Notification endpoint must respond "
                "with 200 OK to validation request.",
            )
        if body.decode("utf-8", "replace") != token:
            raise GraphError(
                400,
                "ValidationError",
                "Subscription validation request failed. Response must exactly match "
                "validationToken query parameter.",
            )

    def send(self, url: str, payload: dict[str, Any]) -> None:
        """Queue a notification POST; never blocks the caller."""
        if self._stop.is_set():
            return
        data = json.dumps(payload).encode()
        try:
            self._pool.submit(self._deliver, url, data)
        except RuntimeError:  # pool already shut down
            pass

    def _deliver(self, url: str, data: bytes) -> None:
        for attempt in range(len(RETRY_DELAYS) + 1):
            if self._stop.is_set():
                return
            try:
                status, _ = self._post(url, data, "application/json; charset=utf-8",
                                       DELIVERY_TIMEOUT)
                if 200 <= status < 300:
                    self.delivered += 1
                    return
                log.info("notification to %s answered %s", url, status)
            except (OSError, ValueError) as exc:
                log.info("notification to %s failed: %s", url, exc)
            if attempt < len(RETRY_DELAYS) and self._stop.wait(RETRY_DELAYS[attempt]):
                return
        self.failed += 1

    def stop(self) -> None:
        """Stop retrying and wait for in-flight posts to finish."""
        self._stop.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
