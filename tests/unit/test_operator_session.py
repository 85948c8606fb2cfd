"""Who the status page lets in, decided from settings, the presented key and the cookie:
open locally while no key is set (as the local host's other routes), shut in Azure
without one, sessions that end, and form tokens bound to one session and one action."""

from __future__ import annotations

import pytest

from calbridge.config import Settings
from calbridge.errors import Forbidden, Unauthorized
from calbridge.functions.operator_session import (
    COOKIE,
    SESSION_SECONDS,
    DashboardNotConfigured,
    FormTokenRejected,
    authenticate,
    check_form_token,
    form_token,
    log_in,
)

KEY = "operator-key"
BOOKING = "booking-key"
NOW = 1_800_000_000.0


def settings(**env: str) -> Settings:
    return Settings.from_env({"AzureWebJobsStorage": "UseDevelopmentStorage=true", **env})


def cookie(token: str) -> dict[str, str]:
    return {"Cookie": f"other=1; {COOKIE}={token}"}


def test_without_a_key_the_page_is_open_locally_and_shut_in_azure() -> None:
    local = settings(CALBRIDGE_BOOKING_SYSTEM_KEY=BOOKING)
    assert authenticate(local, {}, "", NOW).fresh is False
    with pytest.raises(Forbidden):  # the booking system's key is refused even then
        authenticate(local, {}, BOOKING, NOW)
    azure = settings(WEBSITE_SITE_NAME="calbridge-prod")
    with pytest.raises(DashboardNotConfigured, match="CALBRIDGE_FUNCTION_KEY") as refused:
        authenticate(azure, {}, "", NOW)
    assert refused.value.status == 503
    with pytest.raises(DashboardNotConfigured):
        log_in(azure, "anything", NOW)


def test_a_session_lasts_its_time_and_only_under_the_key_that_made_it() -> None:
    keyed = settings(CALBRIDGE_FUNCTION_KEY=KEY, WEBSITE_SITE_NAME="calbridge-prod")
    session = authenticate(keyed, {}, KEY, NOW)
    assert session.fresh and KEY not in session.token
    assert authenticate(keyed, cookie(session.token), "", NOW + 60).token == session.token
    with pytest.raises(Unauthorized):
        authenticate(keyed, cookie(session.token), "", NOW + SESSION_SECONDS + 1)
    rotated = settings(CALBRIDGE_FUNCTION_KEY="the-next-key")
    with pytest.raises(Unauthorized):
        authenticate(rotated, cookie(session.token), "", NOW + 60)
    for junk in ("", "x", "1.2.3", f"{int(NOW)}..", "=;"):
        with pytest.raises(Unauthorized):
            authenticate(keyed, cookie(junk), "", NOW)


def test_a_form_token_belongs_to_one_session_and_one_action() -> None:
    keyed = settings(CALBRIDGE_FUNCTION_KEY=KEY)
    mine, theirs = log_in(keyed, KEY, NOW), log_in(keyed, KEY, NOW)
    token = form_token(keyed, mine, "/dashboard/retry")
    check_form_token(keyed, mine, "/dashboard/retry", token)
    for session, action, given in ((theirs, "/dashboard/retry", token),
                                   (mine, "/dashboard/logout", token),
                                   (mine, "/dashboard/retry", None),
                                   (mine, "/dashboard/retry", token[:-1])):
        with pytest.raises(FormTokenRejected):
            check_form_token(keyed, session, action, given)
