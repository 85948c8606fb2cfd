"""The one HTTP chokepoint for adapters: a `requests` session with timeouts and a
`tenacity` policy that retries throttling and transient failures, honouring
`Retry-After`, and turns what is left into `calbridge.errors`."""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from typing import Any

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_exponential_jitter

from calbridge.connections import pooled_adapter
from calbridge.errors import (
    AuthError,
    CalbridgeError,
    EtagConflict,
    NotFound,
    UpstreamError,
    UpstreamRejected,
    UpstreamThrottled,
    UpstreamUnavailable,
)

log = logging.getLogger(__name__)

THROTTLED = 429
TRANSIENT = frozenset({500, 502, 503, 504})
REJECTED = frozenset({400, 422})  # the request itself was wrong
MAX_RETRY_AFTER = 120.0


class _Retryable(Exception):
    def __init__(self, response: requests.Response | None, cause: Exception | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__("retryable upstream failure")
        self.response = response
        self.cause = cause
        self.retry_after = retry_after


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = (when - (now or datetime.now(UTC))).total_seconds()
    return max(0.0, min(delta, MAX_RETRY_AFTER))


def upstream_code(response: requests.Response) -> str | None:
    """The error code an upstream put in its JSON body (Graph and OAuth shapes)."""
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            return str(error.get("code") or "") or None
        if isinstance(error, str):
            return error
    return None


def error_for_status(status: int, where: str, code: str | None = None) -> CalbridgeError:
    """The project error for an upstream's final error status (`where` names the call).
    Also used for the parts of a batch response, which carry their own statuses."""
    message = f"{where} answered {status}" + (f" ({code})" if code else "")
    if status in (401, 403):
        return AuthError(message)
    if status in (404, 410):
        # The code tells "no such item" from "no such calendar" (adapters read it).
        return NotFound(message, details={"status": status, "code": code})
    if status in (409, 412):
        return EtagConflict(message)
    if status == THROTTLED:
        return UpstreamThrottled(message)
    if status >= 500:
        return UpstreamUnavailable(message)
    if status in REJECTED:
        return UpstreamRejected(message, details={"status": status, "code": code})
    return UpstreamError(message, details={"status": status, "code": code})


def pooled_session() -> requests.Session:
    """A session keeping `connections.POOL_SIZE` connections per host."""
    session = requests.Session()
    adapter = pooled_adapter()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


class HttpClient:
    """Sends requests to one calendar system (`system` names it in errors and logs).
    `throttled` recognises throttling a system answers with another status than 429
    (Google's 403 `rateLimitExceeded`): such answers are retried and reported as 429s."""

    def __init__(self, system: str, *, timeout: float = 30.0, verify: str | bool = True,
                 max_attempts: int = 5, max_backoff: float = 30.0,
                 session: requests.Session | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 throttled: Callable[[requests.Response], bool] | None = None) -> None:
        self.system = system
        self._throttled = throttled
        self.timeout = timeout
        self.session = session or pooled_session()
        self.session.verify = verify
        self.max_attempts = max_attempts
        self._backoff = wait_exponential_jitter(multiplier=0.5, max=max_backoff)
        self._sleep = sleep

    def request(self, method: str, url: str, *, idempotent: bool | None = None,
                ok: Collection[int] = (), headers: dict[str, str] | None = None,
                max_attempts: int | None = None, **kwargs: Any) -> requests.Response:
        """Send with retries. `idempotent` (default: by method) allows retrying after a
        timeout or 5xx; 429 is always retried. Statuses in `ok` are returned as they are.
        `max_attempts` lowers the client's own limit for a call that must answer fast."""
        if idempotent is None:
            idempotent = method.upper() in {"GET", "HEAD", "PUT", "DELETE", "OPTIONS"}
        attempts = max_attempts or self.max_attempts
        retrying = Retrying(
            stop=stop_after_attempt(attempts),
            wait=self._wait,
            retry=retry_if_exception_type(_Retryable),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    response = self._send(method, url, idempotent, headers, kwargs)
        except _Retryable as failure:
            raise self._exhausted(method, url, failure, attempts) from None
        return self._check(response, ok)

    def _send(self, method: str, url: str, idempotent: bool, headers: dict[str, str] | None,
              kwargs: dict[str, Any]) -> requests.Response:
        try:
            # verify is passed per request: requests would otherwise let REQUESTS_CA_BUNDLE
            # from the environment replace a CA bundle set on the session.
            response = self.session.request(method, url, headers=headers, timeout=self.timeout,
                                            **{"verify": self.session.verify, **kwargs})
        except (requests.ConnectionError, requests.Timeout) as exc:
            if idempotent:
                raise _Retryable(None, exc) from exc
            raise UpstreamUnavailable(
                f"{self.system}: {method} {_path(url)} failed: {type(exc).__name__}") from None
        except requests.RequestException as exc:
            raise UpstreamError(
                f"{self.system}: {method} {_path(url)} failed: {type(exc).__name__}") from None
        status = response.status_code
        if status == THROTTLED or (idempotent and status in TRANSIENT) or self._is_throttled(
                response):
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            log.info("upstream retry", extra={"bridge": self.system, "status": status,
                                               "retry_after": retry_after})
            raise _Retryable(response, retry_after=retry_after)
        return response

    def _is_throttled(self, response: requests.Response) -> bool:
        return (self._throttled is not None and response.status_code != THROTTLED
                and 400 <= response.status_code < 500 and self._throttled(response))

    def _wait(self, state: RetryCallState) -> float:
        failure = state.outcome.exception() if state.outcome else None
        if isinstance(failure, _Retryable) and failure.retry_after is not None:
            return failure.retry_after
        return self._backoff(state)

    def _exhausted(self, method: str, url: str, failure: _Retryable,
                   attempts: int) -> Exception:
        where = f"{self.system}: {method} {_path(url)}"
        if failure.response is None:
            return UpstreamUnavailable(f"{where} unreachable after {attempts} attempts")
        status = failure.response.status_code
        if status == THROTTLED or self._is_throttled(failure.response):
            return UpstreamThrottled(f"{where} still throttled after {attempts} attempts",
                                     retry_after=failure.retry_after)
        return UpstreamUnavailable(f"{where} answered {status} after {attempts} attempts")

    def _check(self, response: requests.Response, ok: Collection[int]) -> requests.Response:
        status = response.status_code
        if 200 <= status < 300 or status in ok:
            return response
        where = f"{self.system}: {response.request.method} {_path(response.url)}"
        raise error_for_status(status, where, upstream_code(response))


def _path(url: str) -> str:
    """The URL without its query (which may carry tokens) for messages and logs."""
    return requests.utils.urlparse(url)._replace(query="", fragment="").geturl()
