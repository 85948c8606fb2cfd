"""HttpClient: retries honouring Retry-After, the CA bundle kept per request, error mapping."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from calbridge.bridges.http import HttpClient, error_for_status
from calbridge.errors import (
    AuthError,
    EtagConflict,
    NotFound,
    UpstreamError,
    UpstreamRejected,
    UpstreamThrottled,
    UpstreamUnavailable,
)


def response(status: int, body: Any = None, headers: dict[str, str] | None = None
             ) -> requests.Response:
    answer = requests.Response()
    answer.status_code = status
    answer._content = json.dumps(body or {}).encode()
    answer.headers.update(headers or {})
    answer.url = "https://graph.example/v1.0/users/a/events?secret=x"
    answer.request = requests.Request("GET", answer.url).prepare()
    return answer


class ScriptedSession(requests.Session):
    """Answers from a script and records what each call was given."""

    def __init__(self, answers: list[requests.Response | Exception]) -> None:
        super().__init__()
        self.answers = answers
        self.calls: list[dict[str, Any]] = []

    def request(self, method: str | bytes, url: str | bytes,  # type: ignore[override]
                **kwargs: Any) -> requests.Response:
        self.calls.append({"method": method, "url": url, **kwargs})
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def client(answers: list[requests.Response | Exception], **kwargs: Any
           ) -> tuple[HttpClient, ScriptedSession, list[float]]:
    slept: list[float] = []
    session = ScriptedSession(answers)
    return (HttpClient("test", session=session, sleep=slept.append, **kwargs), session, slept)


def test_retry_after_is_waited_before_the_next_attempt() -> None:
    http, session, slept = client([response(429, headers={"Retry-After": "2"}), response(200)])
    assert http.request("GET", "https://graph.example/x").status_code == 200
    assert slept == [2.0] and len(session.calls) == 2


def test_throttling_that_lasts_is_upstream_throttled() -> None:
    http, _, slept = client([response(429, headers={"Retry-After": "1"})] * 3, max_attempts=3)
    with pytest.raises(UpstreamThrottled) as raised:
        http.request("GET", "https://graph.example/x")
    assert raised.value.retry_after == 1.0 and slept == [1.0, 1.0]


def test_post_is_not_retried_after_a_timeout_unless_idempotent() -> None:
    http, _, _ = client([requests.Timeout()])
    with pytest.raises(UpstreamUnavailable):
        http.request("POST", "https://graph.example/x")
    http, session, _ = client([requests.Timeout(), response(201)])
    assert http.request("POST", "https://graph.example/x", idempotent=True).status_code == 201
    assert len(session.calls) == 2


def test_ca_bundle_is_passed_with_every_request(monkeypatch: pytest.MonkeyPatch) -> None:
    # requests would let REQUESTS_CA_BUNDLE replace a bundle set only on the session.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    http, session, _ = client([response(200)], verify="/tmp/emulator-ca.pem")
    http.request("GET", "https://graph.example/x")
    assert session.calls[0]["verify"] == "/tmp/emulator-ca.pem"


def test_statuses_become_project_errors() -> None:
    assert isinstance(error_for_status(401, "w"), AuthError)
    assert isinstance(error_for_status(403, "w"), AuthError)
    assert isinstance(error_for_status(404, "w"), NotFound)
    assert isinstance(error_for_status(410, "w"), NotFound)
    assert isinstance(error_for_status(412, "w"), EtagConflict)
    assert isinstance(error_for_status(429, "w"), UpstreamThrottled)
    assert isinstance(error_for_status(503, "w"), UpstreamUnavailable)
    refused = error_for_status(400, "w", "ErrorInvalidRequest")
    assert type(refused) is UpstreamRejected and refused.details == {
        "status": 400, "code": "ErrorInvalidRequest"}
    assert type(error_for_status(422, "w")) is UpstreamRejected
    other = error_for_status(405, "w", "MethodNotAllowed")
    assert type(other) is UpstreamError and other.details == {
        "status": 405, "code": "MethodNotAllowed"}


def test_error_messages_leave_the_query_out() -> None:
    http, _, _ = client([response(400, {"error": {"code": "BadRequest"}})])
    with pytest.raises(UpstreamError) as raised:
        http.request("GET", "https://graph.example/v1.0/users/a/events?secret=x")
    assert "secret" not in str(raised.value) and "BadRequest" in str(raised.value)


def google_403(reason: str) -> requests.Response:
    return response(403, {"error": {"code": 403, "message": reason,
                                    "errors": [{"domain": "usageLimits", "reason": reason}]}})


@pytest.mark.parametrize("reason", ["rateLimitExceeded", "userRateLimitExceeded"])
def test_a_403_the_system_calls_throttling_is_retried(reason: str) -> None:
    from calbridge.bridges.google_calendar.client import rate_limited

    session = ScriptedSession([google_403(reason), google_403(reason), response(200, {"ok": 1})])
    waits: list[float] = []
    client = HttpClient("google_calendar", session=session, sleep=waits.append,
                        throttled=rate_limited)
    assert client.request("GET", "https://api.example/events").json() == {"ok": 1}
    assert len(session.calls) == 3 and len(waits) == 2


def test_a_403_that_is_a_refusal_is_not_retried() -> None:
    from calbridge.bridges.google_calendar.client import rate_limited

    session = ScriptedSession([google_403("forbidden")])
    client = HttpClient("google_calendar", session=session, sleep=lambda _: None,
                        throttled=rate_limited)
    with pytest.raises(AuthError):
        client.request("GET", "https://api.example/events")
    assert len(session.calls) == 1


def test_throttling_403s_that_never_end_are_upstream_throttled() -> None:
    from calbridge.bridges.google_calendar.client import rate_limited

    session = ScriptedSession([google_403("rateLimitExceeded") for _ in range(3)])
    client = HttpClient("google_calendar", session=session, sleep=lambda _: None,
                        max_attempts=3, throttled=rate_limited)
    with pytest.raises(UpstreamThrottled):
        client.request("GET", "https://api.example/events")
    assert len(session.calls) == 3
