"""Google sign-in through google-auth: every token request goes to the configured token
URI with calbridge's timeout and CA bundle, refusals and outages become calbridge errors,
and no secret reaches a log or an error message."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
import requests

from calbridge.bridges.google_calendar.auth import GoogleTokens
from calbridge.bridges.google_calendar.settings import GoogleCalendarSettings
from calbridge.errors import AuthError, ConfigurationError, UpstreamUnavailable
from tests.unit.test_http_retry import ScriptedSession, response

TOKEN_URI = "https://127.0.0.1:9/token"
SECRET = "client-secret-value"
REFRESH = "refresh-token-value"


def tokens(session: ScriptedSession, **extra: str) -> GoogleTokens:
    settings = GoogleCalendarSettings.from_env({
        "GOOGLE_CALENDAR_CLIENT_ID": "client", "GOOGLE_CALENDAR_CLIENT_SECRET": SECRET,
        "GOOGLE_CALENDAR_REFRESH_TOKEN": REFRESH, "GOOGLE_CALENDAR_TOKEN_URI": TOKEN_URI,
        "GOOGLE_CALENDAR_CA_BUNDLE": "/etc/emulator-ca.pem", **extra})
    built = GoogleTokens(settings, timeout=7.5)
    built._request.session = session  # the transport google-auth sends through
    return built


def granted(token: str) -> requests.Response:
    return response(200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"})


def test_a_token_is_fetched_once_with_the_timeout_and_ca_bundle() -> None:
    session = ScriptedSession([granted("ya29.first")])
    source = tokens(session)
    assert source.token() == source.token() == "ya29.first"
    [call] = session.calls
    assert call["url"] == TOKEN_URI and call["method"] == "POST"
    assert call["timeout"] == 7.5 and call["verify"] == "/etc/emulator-ca.pem"


def test_a_forgotten_token_is_fetched_again() -> None:
    source = tokens(ScriptedSession([granted("ya29.first"), granted("ya29.second")]))
    assert source.token() == "ya29.first"
    source.invalidate()
    assert source.token() == "ya29.second"


def test_a_refused_grant_is_an_auth_error_without_secrets(
        caplog: pytest.LogCaptureFixture) -> None:
    refused = response(400, {"error": "invalid_grant",
                             "error_description": "Token has been expired or revoked."})
    caplog.set_level(logging.DEBUG)
    with pytest.raises(AuthError) as raised:
        tokens(ScriptedSession([refused])).token()
    assert "invalid_grant" in raised.value.message
    for text in (raised.value.message, caplog.text):
        assert SECRET not in text and REFRESH not in text


def test_an_unreachable_token_endpoint_is_upstream_unavailable() -> None:
    failures: list[Any] = [requests.ConnectionError("refused")] * 3
    with pytest.raises(UpstreamUnavailable):
        tokens(ScriptedSession(failures)).token()


def test_a_service_account_key_that_is_not_json_is_named_not_quoted() -> None:
    settings = GoogleCalendarSettings.from_env(
        {"GOOGLE_CALENDAR_SERVICE_ACCOUNT_KEY": "-----BEGIN PRIVATE KEY----- not json"})
    with pytest.raises(ConfigurationError) as raised:
        GoogleTokens(settings)
    assert "GOOGLE_CALENDAR_SERVICE_ACCOUNT_KEY" in raised.value.message
    assert "PRIVATE KEY" not in raised.value.message
    incomplete = GoogleCalendarSettings.from_env(
        {"GOOGLE_CALENDAR_SERVICE_ACCOUNT_KEY": json.dumps({"client_email": "sa@x"})})
    with pytest.raises(ConfigurationError, match="private_key"):
        GoogleTokens(incomplete)
