"""The emulator's Admin SDK Directory API as a client sees it: room calendars listed page by
page to an administrator acting through the service account's delegation, Google's 403s
for a user who is not one and for a token without the scope."""

from __future__ import annotations

from typing import Any

import pytest
from google.auth.exceptions import RefreshError
from google.auth.transport.requests import AuthorizedSession
from google.auth.transport.requests import Request as AuthRequest
from google.oauth2 import service_account

from emulators.google_calendar import CALENDAR_SCOPE, ROOMS_SCOPE
from tests.fixtures.google import GoogleClient, authorized, google_http_session

ROOMS = ["room-a@rooms.example.org", "room-b@rooms.example.org", "room-c@rooms.example.org",
         "room-d@rooms.example.org", "projector-1@rooms.example.org"]


def acting_as(google: GoogleClient, subject: str,
              scopes: tuple[str, ...] = (CALENDAR_SCOPE, ROOMS_SCOPE)) -> AuthorizedSession:
    """A session whose tokens come from the emulator's token endpoint: the service account
    acting as ``subject`` through domain-wide delegation."""
    creds = service_account.Credentials.from_service_account_file(
        str(google.key_file), scopes=list(scopes), subject=subject)
    return authorized(google.emulator, creds)


def resources(google: GoogleClient, session: AuthorizedSession, customer: str = "my_customer",
              **params: Any) -> Any:
    return session.get(f"{google.emulator.directory_url}/customer/{customer}"
                       "/resources/calendars", params=params, timeout=15)


def test_an_administrator_lists_every_room_page_by_page(google: GoogleClient) -> None:
    session = acting_as(google, "alex@example.org")
    items: list[dict[str, Any]] = []
    pages = 0
    token: str | None = None
    while True:
        answer = resources(google, session, maxResults=2, **({"pageToken": token} if token
                                                               else {}))
        assert answer.status_code == 200, answer.text
        page = answer.json()
        assert page["kind"] == "admin#directory#resources#calendars#calendarResourcesList"
        assert len(page["items"]) <= 2
        items += page["items"]
        pages += 1
        token = page.get("nextPageToken")
        if not token:
            break
    assert pages == 3
    assert [i["resourceEmail"] for i in items] == ROOMS
    room_a = items[0]
    assert room_a["kind"] == "admin#directory#resources#calendars#CalendarResource"
    assert (room_a["resourceName"], room_a["capacity"], room_a["resourceCategory"]) == (
        "Conference Room A", 8, "CONFERENCE_ROOM")
    assert items[-1]["resourceCategory"] == "OTHER"
    # The account's own customer id names the same resources as `my_customer`.
    assert [i["resourceEmail"] for i in resources(
        google, session, customer="C0emu1ated").json()["items"]] == ROOMS


def test_a_room_nobody_subscribed_to_is_reachable_but_in_no_calendar_list(
        google: GoogleClient) -> None:
    listed = {e["id"] for e in google.get("/users/me/calendarList").json()["items"]}
    assert "room-d@rooms.example.org" not in listed
    assert google.get("/calendars/room-d@rooms.example.org").json()["summary"] == "Studio D"


def test_a_user_who_is_not_an_administrator_gets_googles_403(google: GoogleClient) -> None:
    # The delegation covers the scope, so the token is granted; the Directory refuses.
    answer = resources(google, acting_as(google, "sam@example.org"))
    assert answer.status_code == 403
    assert answer.json()["error"]["errors"][0] == {
        "domain": "global", "reason": "forbidden",
        "message": "Not Authorized to access this resource/api"}
    assert answer.json()["error"]["message"] == "Not Authorized to access this resource/api"


def test_the_service_account_itself_and_another_customer_are_refused(
        google: GoogleClient) -> None:
    itself = service_account.Credentials.from_service_account_file(
        str(google.key_file), scopes=[ROOMS_SCOPE])
    assert resources(google, authorized(google.emulator, itself)).status_code == 403
    stranger = resources(google, acting_as(google, "alex@example.org"), customer="C0other99")
    assert stranger.json()["error"]["errors"][0]["reason"] == "forbidden"


def test_a_token_without_the_scope_is_insufficient(google: GoogleClient) -> None:
    answer = resources(google, acting_as(google, "alex@example.org", (CALENDAR_SCOPE,)))
    assert answer.status_code == 403
    assert answer.json()["error"]["errors"][0]["reason"] == "insufficientPermissions"


def test_the_admin_scope_is_granted_only_where_the_delegation_covers_it(
        google: GoogleClient) -> None:
    request = AuthRequest(google_http_session(google.emulator))
    granted = service_account.Credentials.from_service_account_file(
        str(google.key_file), scopes=[ROOMS_SCOPE], subject="alex@example.org")
    granted.refresh(request)
    assert granted.valid
    wider = service_account.Credentials.from_service_account_file(
        str(google.key_file), scopes=["https://www.googleapis.com/auth/admin.directory.user"],
        subject="alex@example.org")
    with pytest.raises(RefreshError, match="unauthorized_client"):
        wider.refresh(request)


def test_page_sizes_beyond_500_are_refused(google: GoogleClient) -> None:
    answer = resources(google, acting_as(google, "alex@example.org"), maxResults=501)
    assert answer.status_code == 400
    assert answer.json()["error"]["errors"][0]["location"] == "maxResults"
