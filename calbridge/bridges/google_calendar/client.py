"""Google Calendar API calls: the bearer token, paging by `pageToken`, Google's error
bodies (`error.errors[].reason`), the 403 rate limits and used-up quotas told from real
refusals, and pacing under the per-user quota (600 requests a minute per user and
project)."""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterator
from datetime import UTC, datetime, time, timedelta
from typing import Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

import requests

from calbridge.bridges.google_calendar.auth import SYSTEM, GoogleTokens
from calbridge.bridges.http import HttpClient, error_for_status, parse_retry_after
from calbridge.bridges.pacing import Pacer
from calbridge.errors import UpstreamError, UpstreamThrottled

log = logging.getLogger(__name__)

QUOTA_PERIOD = 60.0  # Google's quotas are per minute, over a sliding window
# 403 reasons that are throttling, not a refusal: retried with backoff
# (developers.google.com/workspace/calendar/api/guides/errors).
RATE_LIMIT_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
# 403 reasons for a quota that is used up rather than a rate: `dailyLimitExceeded` (the
# project's daily limit; the errors guide: ask for more quota) and `quotaExceeded`
# (Calendar's usage limits for a user). Retrying within the call only spends more of
# it, so the call fails at once as throttled and a later run tries again.
QUOTA_REASONS = frozenset({"quotaExceeded", "dailyLimitExceeded"})
# Google's daily quotas end at midnight Pacific time.
QUOTA_DAY_ZONE = ZoneInfo("America/Los_Angeles")


def path_segment(value: str) -> str:
    """One URL path segment (a calendar or event id), escaped: `/`, `?` and `#` never
    reach the path as syntax."""
    return quote(value, safe="@")


def with_query(url: str, params: dict[str, Any] | None) -> str:
    """`url` with query parameters; list values repeat the parameter."""
    if not params:
        return url
    pairs: list[tuple[str, Any]] = []
    for key, value in params.items():
        if value is None:
            continue
        for item in value if isinstance(value, list) else [value]:
            pairs.append((key, str(item).lower() if isinstance(item, bool) else item))
    return f"{url}{'&' if '?' in url else '?'}{urlencode(pairs, quote_via=quote, safe=':')}"


def error_reason(response: requests.Response) -> str | None:
    """The first `reason` in a Google error body, else the error's status word."""
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        for item in error.get("errors") or []:
            if isinstance(item, dict) and item.get("reason"):
                return str(item["reason"])
        if error.get("status"):
            return str(error["status"])
    elif isinstance(error, str):
        return error  # the OAuth token endpoint's shape
    return None


def rate_limited(response: requests.Response) -> bool:
    """Google's throttling answered as 403: told from a real refusal by its reason."""
    return response.status_code == 403 and error_reason(response) in RATE_LIMIT_REASONS


def quota_reset_after(now: datetime) -> float:
    """Seconds from `now` until Google's quota day ends (midnight Pacific time)."""
    local = now.astimezone(QUOTA_DAY_ZONE)
    midnight = datetime.combine(local.date() + timedelta(days=1), time(0),
                                tzinfo=QUOTA_DAY_ZONE)
    return (midnight.astimezone(UTC) - now.astimezone(UTC)).total_seconds()


def quota_exhausted(response: requests.Response, where: str,
                    now: datetime | None = None) -> UpstreamThrottled | None:
    """`UpstreamThrottled` for a 403 whose reason is a used-up quota, else None. Its
    `retry_after` is Google's `Retry-After`, or for the daily limit the end of the quota
    day; the run reports it and the next run (not this call) tries again."""
    reason = error_reason(response)
    if response.status_code != 403 or reason not in QUOTA_REASONS:
        return None
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    if retry_after is None and reason == "dailyLimitExceeded":
        retry_after = quota_reset_after(now or datetime.now(UTC))
    log.warning("google quota used up", extra={"bridge": SYSTEM, "reason": reason,
                                                "retry_after": retry_after})
    return UpstreamThrottled(f"{where} answered 403 ({reason}): the quota is used up",
                             retry_after=retry_after)


def google_error(response: requests.Response, where: str) -> Exception:
    """The project error for a Google error answer, its reason as the code."""
    return error_for_status(response.status_code, where, error_reason(response))


def json_body(response: requests.Response) -> dict[str, Any]:
    """A JSON object body; anything else is an `UpstreamError`."""
    try:
        body = response.json()
    except ValueError:
        raise UpstreamError(f"{SYSTEM}: answer is not JSON ({response.status_code})") from None
    if not isinstance(body, dict):
        raise UpstreamError(f"{SYSTEM}: answer is not a JSON object")
    return body


class GoogleClient:
    """Authenticated, paced Calendar API requests through the shared `HttpClient`. All
    calls act as one user (the delegated subject or the OAuth account), so they share one
    budget."""

    def __init__(self, base_url: str, tokens: GoogleTokens, http: HttpClient,
                 pacer: Pacer) -> None:
        self.base_url = base_url.rstrip("/")
        self.tokens = tokens
        self.http = http
        self.pacer = pacer

    def url(self, *segments: str, query: dict[str, Any] | None = None) -> str:
        """The API URL of path segments (each escaped) with a query."""
        path = "/".join(path_segment(s) for s in segments)
        return with_query(f"{self.base_url}/{path}", query)

    def request(self, method: str, url: str, *, json: Any = None,
                headers: dict[str, str] | None = None, ok: Collection[int] = (),
                idempotent: bool | None = None,
                max_attempts: int | None = None) -> requests.Response:
        """One call, retried by `HttpClient`, paced under the user's quota. A 401 (the
        token was revoked or expired early) is tried once more with a fresh token; a 403
        for a used-up quota is `UpstreamThrottled` at once, any other 403 `AuthError`."""
        for fresh in (False, True):
            merged = {"Authorization": f"Bearer {self.tokens.token()}", **(headers or {})}
            with self.pacer.slot(SYSTEM):
                response = self.http.request(method, url, json=json, headers=merged,
                                             ok=(*ok, 401, 403), idempotent=idempotent,
                                             max_attempts=max_attempts)
            if response.status_code == 403 and 403 not in ok:
                where = f"{SYSTEM}: {method} {_path(url)}"
                raise quota_exhausted(response, where) or google_error(response, where)
            if response.status_code != 401 or 401 in ok:
                return response
            if fresh:
                break
            self.tokens.invalidate()
        raise google_error(response, f"{SYSTEM}: {method} {_path(url)}")

    def pages(self, url: str, *, ok: Collection[int] = ()
              ) -> Iterator[tuple[requests.Response, dict[str, Any]]]:
        """Every page of a list, following `nextPageToken`; yields the answer and its
        body. A status in `ok` ends the walk after yielding that answer (body empty)."""
        token: str | None = None
        while True:
            page_url = with_query(url, {"pageToken": token}) if token else url
            response = self.request("GET", page_url, ok=ok)
            if response.status_code >= 400:
                yield response, {}
                return
            body = json_body(response)
            yield response, body
            token = body.get("nextPageToken") or None
            if not token:
                return


def _path(url: str) -> str:
    return requests.utils.urlparse(url)._replace(query="", fragment="").geturl()
