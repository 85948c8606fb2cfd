"""Microsoft Graph calls for the Outlook bridge: authentication header, paging, `$batch`,
and per-mailbox pacing (at most 4 concurrent requests and a 10-minute request budget,
as Outlook's throttling limits are per app and mailbox; see `calbridge.bridges.pacing`)."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Collection, Iterator
from typing import Any
from urllib.parse import quote, urlencode

import requests
from pydantic import BaseModel, ConfigDict, Field

from calbridge.bridges.http import HttpClient, error_for_status, parse_retry_after
from calbridge.bridges.outlook.auth import GraphTokens
from calbridge.bridges.pacing import Pacer
from calbridge.errors import (
    CalbridgeError,
    UpstreamError,
    UpstreamThrottled,
    UpstreamUnavailable,
)

log = logging.getLogger(__name__)

SYSTEM = "outlook"
BATCH_LIMIT = 20  # Graph's JSON batching limit
# Graph's throttling guidance evaluates every part of a `$batch` against the mailbox's limits
# on its own: each part is one request of the 10-minute budget, and Graph hands up to four
# parts of one batch to Outlook at the same time (parts without `dependsOn` run in
# parallel, in any order), each taking one of the mailbox's 4 concurrent-request slots. A
# batch therefore holds as many slots as it has parts, up to four.
BATCH_PARALLEL_PARTS = 4
WINDOW_SECONDS = 600.0
TENANT_KEY = ""  # pacing bucket for calls that name no mailbox (places, subscriptions)
_RETRIED_ITEM_STATUSES = frozenset({503, 504})


def path_segment(value: str) -> str:
    """One URL path segment (mailbox address or item id), escaped."""
    return quote(value, safe="@=")


def with_query(url: str, params: dict[str, Any] | None) -> str:
    """`url` with OData query parameters (spaces as %20, `$` kept readable)."""
    if not params:
        return url
    query = urlencode({k: v for k, v in params.items() if v is not None},
                      quote_via=quote, safe="$:,")
    return f"{url}{'&' if '?' in url else '?'}{query}"


# ------------------------------------------------------------------ batch payloads


class BatchRequest(BaseModel):
    """One request inside a `$batch` (url relative to the API version root)."""

    method: str
    url: str
    body: dict[str, Any] | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    idempotent: bool = True


class BatchResponse(BaseModel):
    """One part of a `$batch` answer, or (`unanswered`) of a batch whose answer never came:
    then `error` says why, and whether Graph carried the part out is unknown."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    status: int
    body: Any = None
    headers: dict[str, str] = Field(default_factory=dict)
    error: CalbridgeError | None = None

    @classmethod
    def unanswered(cls, error: CalbridgeError) -> BatchResponse:
        return cls(status=error.status, error=error)

    @property
    def code(self) -> str | None:
        error = self.body.get("error") if isinstance(self.body, dict) else None
        return str(error.get("code")) if isinstance(error, dict) and error.get("code") else None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


# ------------------------------------------------------------------ the client


class GraphClient:
    """Authenticated, paced Graph requests through the shared `HttpClient`."""

    def __init__(self, base_url: str, tokens: GraphTokens, http: HttpClient, pacer: Pacer,
                 *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.base_url = base_url.rstrip("/")
        self.tokens = tokens
        self.http = http
        self.pacer = pacer
        self._sleep = sleep

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def request(self, method: str, url: str, *, mailbox: str = TENANT_KEY,
                json: Any = None, headers: dict[str, str] | None = None,
                ok: Collection[int] = (), idempotent: bool | None = None,
                max_attempts: int | None = None) -> requests.Response:
        """One call (retried by `HttpClient`), paced for `mailbox`. `url` must be ours."""
        self._check_url(url)
        merged = {"Authorization": f"Bearer {self.tokens.token()}", **(headers or {})}
        with self.pacer.slot(mailbox):
            return self.http.request(method, url, json=json, headers=merged, ok=ok,
                                     idempotent=idempotent, max_attempts=max_attempts)

    def pages(self, url: str, *, mailbox: str = TENANT_KEY,
              headers: dict[str, str] | None = None) -> Iterator[dict[str, Any]]:
        """Every page of a collection, following `@odata.nextLink`; yields page bodies."""
        next_url: str | None = url
        while next_url:
            page = json_body(self.request("GET", next_url, mailbox=mailbox, headers=headers))
            yield page
            link = page.get("@odata.nextLink")
            next_url = str(link) if link else None

    def batch(self, items: list[BatchRequest], *, mailbox: str = TENANT_KEY,
              max_attempts: int | None = None) -> list[BatchResponse]:
        """Send up to any number of requests in `$batch`es of 20; parts answered 429 (and
        503/504 for idempotent parts) are sent again after their `Retry-After`, alone.

        A batch whose answer never came (the connection dropped, perhaps after Graph carried
        it out) is sent again by `HttpClient` when every part is idempotent; otherwise its
        idempotent parts are sent again and the others are `unanswered`. When Graph cannot
        be reached at all, the parts not yet sent are `unanswered` too, never sent."""
        results: list[BatchResponse | None] = [None] * len(items)
        attempts = max_attempts or self.http.max_attempts
        pending = list(range(len(items)))
        unreachable: UpstreamUnavailable | None = None
        for attempt in range(1, attempts + 1):
            retry: list[int] = []
            waits: list[float] = []
            for start in range(0, len(pending), BATCH_LIMIT):
                chunk = pending[start:start + BATCH_LIMIT]
                if unreachable is not None:
                    for index in chunk:
                        results[index] = BatchResponse.unanswered(unreachable)
                    continue
                try:
                    answers = self._send_batch([items[i] for i in chunk], mailbox)
                except UpstreamUnavailable as exc:
                    safe = [i for i in chunk if items[i].idempotent]
                    if len(safe) == len(chunk):  # already sent again by HttpClient
                        unreachable = exc
                        safe = []
                    for index in chunk:
                        results[index] = BatchResponse.unanswered(exc)
                    retry.extend(safe)
                    continue
                for index, answer in zip(chunk, answers, strict=True):
                    results[index] = answer
                    if answer.status == 429 or (answer.status in _RETRIED_ITEM_STATUSES
                                                and items[index].idempotent):
                        retry.append(index)
                        after = parse_retry_after(_header(answer.headers, "Retry-After"))
                        if after is not None:
                            waits.append(after)
            if not retry or attempt == attempts:
                break
            delay = max(waits) if waits else _backoff(attempt)
            log.info("batch parts retried", extra={"bridge": SYSTEM, "calendar": mailbox,
                                                   "parts": len(retry), "retry_after": delay})
            self._sleep(delay)
            pending = retry
        return [r if r is not None else BatchResponse(status=500) for r in results]

    def _send_batch(self, chunk: list[BatchRequest], mailbox: str) -> list[BatchResponse]:
        payload = {"requests": [
            {"id": str(n), "method": item.method, "url": item.url,
             **({"headers": item.headers} if item.headers or item.body is not None else {}),
             **({"body": item.body} if item.body is not None else {})}
            for n, item in enumerate(chunk)]}
        for part, item in zip(payload["requests"], chunk, strict=True):
            if item.body is not None:
                part["headers"] = {"Content-Type": "application/json", **item.headers}
        url = self.url("/$batch")
        merged = {"Authorization": f"Bearer {self.tokens.token()}"}
        # Each part is a request against the mailbox's budget and, while Graph runs it, one
        # of its concurrent slots (see BATCH_PARALLEL_PARTS).
        with self.pacer.slot(mailbox, cost=len(chunk),
                             width=min(len(chunk), BATCH_PARALLEL_PARTS)):
            response = self.http.request("POST", url, json=payload, headers=merged,
                                         idempotent=all(item.idempotent for item in chunk))
        body = json_body(response)
        by_id: dict[str, BatchResponse] = {}
        for part in body.get("responses") or []:
            if isinstance(part, dict) and "id" in part:
                by_id[str(part["id"])] = BatchResponse(
                    status=int(part.get("status") or 500), body=part.get("body"),
                    headers={str(k): str(v) for k, v in (part.get("headers") or {}).items()})
        missing = [str(n) for n in range(len(chunk)) if str(n) not in by_id]
        if missing:
            raise UpstreamError(f"{SYSTEM}: $batch answer lacks parts {', '.join(missing)}")
        return [by_id[str(n)] for n in range(len(chunk))]

    def owns(self, url: str) -> bool:
        """Whether a link is of this Graph endpoint."""
        return url == self.base_url or url.startswith(self.base_url + "/")

    def _check_url(self, url: str) -> None:
        # Links and stored cursors come from outside: never send our token elsewhere.
        if not self.owns(url):
            raise UpstreamError(f"{SYSTEM}: refusing a link outside {self.base_url}")


def part_error(answer: BatchResponse, where: str) -> CalbridgeError:
    """The project error for a failed batch part."""
    if answer.error is not None:
        return answer.error
    if answer.status == 429:  # still throttled after the retries: say for how long
        return UpstreamThrottled(f"{where} answered 429", retry_after=parse_retry_after(
            _header(answer.headers, "Retry-After")))
    return error_for_status(answer.status, where, answer.code)


def json_body(response: requests.Response) -> dict[str, Any]:
    """A Graph JSON object body; anything else is an `UpstreamError`."""
    try:
        body = response.json()
    except ValueError:
        raise UpstreamError(f"{SYSTEM}: answer is not JSON ({response.status_code})") from None
    if not isinstance(body, dict):
        raise UpstreamError(f"{SYSTEM}: answer is not a JSON object")
    return body


def _header(headers: dict[str, str], name: str) -> str | None:
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), None)


def _backoff(attempt: int) -> float:
    """Exponential backoff with jitter for batch parts that named no `Retry-After`."""
    return min(30.0, 0.5 * 2 ** (attempt - 1)) + random.uniform(0, 0.5)
