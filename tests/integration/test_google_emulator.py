"""The Google Calendar emulator as a client sees it: OAuth through the real google-auth
library, calendars, events CRUD, etags, paging, sync tokens, faults and counts."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
import requests
from google.auth.exceptions import RefreshError
from google.auth.transport.requests import Request as AuthRequest
from google.oauth2 import credentials as user_credentials
from google.oauth2 import service_account

from emulators.google_calendar import CALENDAR_SCOPE, GoogleCalendarEmulator
from tests.fixtures.google import GoogleClient, authorized, google_http_session

ROOM = "room-a@rooms.example.org"


def timed(day: str, start: str, end: str, zone: str = "Europe/Berlin", **extra: Any
          ) -> dict[str, Any]:
    """An event body from local times in ``zone``."""
    return {"start": {"dateTime": f"{day}T{start}:00", "timeZone": zone},
            "end": {"dateTime": f"{day}T{end}:00", "timeZone": zone}, **extra}


# OAuth ---------------------------------------------------------------------------------


def test_service_account_key_file_with_subject_acts_as_that_user(google: GoogleClient) -> None:
    creds = service_account.Credentials.from_service_account_file(
        str(google.key_file), scopes=[CALENDAR_SCOPE], subject="alex@example.org")
    session = authorized(google.emulator, creds)
    answer = session.get(f"{google.url}/users/me/calendarList")
    assert answer.status_code == 200, answer.text
    entries = {e["id"]: e for e in answer.json()["items"]}
    assert set(entries) == {"alex@example.org", ROOM, "room-b@rooms.example.org",
                            "room-c@rooms.example.org"}
    assert entries["alex@example.org"]["primary"] is True
    assert entries[ROOM]["accessRole"] == "writer"
    assert creds.valid and creds.expiry is not None


def test_service_account_without_subject_acts_as_itself(google: GoogleClient) -> None:
    info = json.loads(google.key_file.read_text())
    assert info["type"] == "service_account" and info["token_uri"] == google.emulator.token_uri
    creds = service_account.Credentials.from_service_account_info(info, scopes=[CALENDAR_SCOPE])
    session = authorized(google.emulator, creds)
    ids = [e["id"] for e in session.get(f"{google.url}/users/me/calendarList").json()["items"]]
    assert google.emulator.service_account_email in ids and "alex@example.org" not in ids
    assert session.get(f"{google.url}/calendars/{ROOM}").json()["summary"] == "Conference Room A"
    assert session.get(f"{google.url}/calendars/alex@example.org").status_code == 404


def test_refresh_token_credentials(google: GoogleClient) -> None:
    emulator = google.emulator
    creds = user_credentials.Credentials(
        None, refresh_token=emulator.refresh_token_for("alex@example.org"),
        token_uri=emulator.token_uri, client_id=emulator.oauth_client_id,
        client_secret=emulator.oauth_client_secret)
    session = authorized(emulator, creds)
    assert session.get(f"{google.url}/calendars/primary").json()["id"] == "alex@example.org"
    revoked = user_credentials.Credentials(
        None, refresh_token="1//not-a-token", token_uri=emulator.token_uri,
        client_id=emulator.oauth_client_id, client_secret=emulator.oauth_client_secret)
    with pytest.raises(RefreshError, match="invalid_grant"):
        revoked.refresh(AuthRequest(google_http_session(emulator)))


def test_token_endpoint_refuses_what_google_refuses(google: GoogleClient) -> None:
    emulator = google.emulator
    request = AuthRequest(google_http_session(emulator))
    base = service_account.Credentials.from_service_account_file(
        str(google.key_file), scopes=[CALENDAR_SCOPE])
    with pytest.raises(RefreshError, match="Invalid email or User ID"):
        base.with_subject("nobody@example.org").refresh(request)
    with pytest.raises(RefreshError, match="unauthorized_client"):
        base.with_scopes(["https://www.googleapis.com/auth/drive"]) \
            .with_subject("alex@example.org").refresh(request)
    # A key of the right shape but not the one the emulator issued: a forged assertion.
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    forged_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    info = json.loads(google.key_file.read_text())
    info["private_key"] = forged_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()
    forged = service_account.Credentials.from_service_account_info(info, scopes=[CALENDAR_SCOPE])
    with pytest.raises(RefreshError, match="Invalid JWT Signature"):
        forged.refresh(request)
    stranger = dict(info, client_email="someone@else.iam.gserviceaccount.com")
    with pytest.raises(RefreshError, match="account not found"):
        service_account.Credentials.from_service_account_info(
            stranger, scopes=[CALENDAR_SCOPE]).refresh(request)
    answer = google.http.post(emulator.token_uri, data={"grant_type": "password"}, timeout=15)
    assert answer.status_code == 400 and answer.json()["error"] == "unsupported_grant_type"


def test_api_needs_a_valid_bearer_token(google: GoogleClient) -> None:
    for headers in ({}, {"Authorization": "Bearer ya29.forged.token"}):
        answer = google.http.get(f"{google.url}/users/me/calendarList", headers=headers,
                                 timeout=15)
        assert answer.status_code == 401
        assert answer.json()["error"]["errors"][0] == {
            "domain": "global", "reason": "authError", "message": "Invalid Credentials",
            "locationType": "header", "location": "Authorization"}
    readonly = google.emulator.issue_token("alex@example.org",
                                           [CALENDAR_SCOPE + ".readonly"])
    assert google.get("/calendars/primary/events", token=readonly).status_code == 200
    refused = google.post("/calendars/primary/events", token=readonly,
                          json=timed("2031-01-06", "09:00", "10:00"))
    assert refused.status_code == 403
    assert refused.json()["error"]["errors"][0]["reason"] == "insufficientPermissions"


# calendars ---------------------------------------------------------------------------


def test_calendar_list_pages_and_unknown_calendars(google: GoogleClient) -> None:
    first = google.get("/users/me/calendarList", params={"maxResults": 3}).json()
    assert len(first["items"]) == 3 and "nextPageToken" in first
    rest = google.get("/users/me/calendarList",
                      params={"maxResults": 3, "pageToken": first["nextPageToken"]}).json()
    assert "nextPageToken" not in rest
    assert len({e["id"] for e in first["items"] + rest["items"]}) == 4
    missing = google.get("/calendars/nobody@rooms.example.org")
    assert missing.status_code == 404
    assert missing.json()["error"] == {"errors": [{"domain": "global", "reason": "notFound",
                                                   "message": "Not Found"}],
                                       "code": 404, "message": "Not Found"}


def test_reader_cannot_write(google: GoogleClient) -> None:
    sam = google.emulator.issue_token("sam@example.org")
    room_c = "/calendars/room-c@rooms.example.org/events"
    assert google.get(room_c, token=sam).json()["accessRole"] == "reader"
    answer = google.post(room_c, token=sam, json=timed("2031-01-06", "09:00", "10:00"))
    assert answer.status_code == 403
    assert answer.json()["error"]["errors"][0]["reason"] == "requiredAccessLevel"
    assert google.get(f"/calendars/{ROOM}/events", token=sam).status_code == 404


# events ------------------------------------------------------------------------------


def test_insert_with_client_id_get_and_duplicate(google: GoogleClient) -> None:
    body = timed("2031-03-10", "09:00", "10:30", summary="Planning", id="calbridge00001",
                 extendedProperties={"private": {"calbridge": "link-1"}})
    created = google.post(f"/calendars/{ROOM}/events", json=body)
    assert created.status_code == 200, created.text
    event = created.json()
    assert event["id"] == "calbridge00001" and event["status"] == "confirmed"
    assert event["start"] == {"dateTime": "2031-03-10T09:00:00+01:00",
                              "timeZone": "Europe/Berlin"}
    assert event["extendedProperties"] == {"private": {"calbridge": "link-1"}}
    assert event["iCalUID"] == "calbridge00001@google.com"
    assert event["etag"].startswith('"') and event["organizer"]["email"] == ROOM
    fetched = google.get(f"/calendars/{ROOM}/events/calbridge00001").json()
    assert fetched == event
    again = google.post(f"/calendars/{ROOM}/events", json=body)
    assert again.status_code == 409
    assert again.json()["error"]["errors"][0]["reason"] == "duplicate"
    assert google.delete(f"/calendars/{ROOM}/events/calbridge00001").status_code == 204
    # The id of a deleted event stays taken.
    assert google.post(f"/calendars/{ROOM}/events", json=body).status_code == 409


@pytest.mark.parametrize(("body", "reason"), [
    (timed("2031-03-10", "09:00", "10:00", id="UPPER-case"), "invalid"),
    (timed("2031-03-10", "09:00", "10:00", id="abcd"), "invalid"),
    (timed("2031-03-10", "09:00", "10:00", id="wxyz12345"), "invalid"),
    ({"start": {"dateTime": "2031-03-10T09:00:00+01:00"}}, "required"),
    ({"start": {"dateTime": "2031-03-10T09:00:00"}, "end": {"dateTime": "2031-03-10T10:00:00"}},
     "required"),
    (timed("2031-03-10", "10:00", "09:00"), "timeRangeEmpty"),
    ({"start": {"date": "2031-03-10"}, "end": {"dateTime": "2031-03-10T10:00:00Z"}}, "invalid"),
    (timed("2031-03-10", "09:00", "10:00", zone="Mars/Olympus"), "invalid"),
    (timed("2031-03-10", "09:00", "10:00", recurrence=["RRULE:FREQ=SOMETIMES"]), "invalid"),
    ({"start": {"dateTime": "2031-03-10T09:00:00+01:00"},
      "end": {"dateTime": "2031-03-10T10:00:00+01:00"}, "recurrence": ["RRULE:FREQ=DAILY"]},
     "required"),
])
def test_invalid_events_are_refused(google: GoogleClient, body: dict[str, Any],
                                    reason: str) -> None:
    answer = google.post("/calendars/primary/events", json=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["errors"][0]["reason"] == reason


def test_all_day_and_offset_events(google: GoogleClient) -> None:
    all_day = google.post("/calendars/primary/events", json={
        "summary": "Offsite", "start": {"date": "2031-05-01"}, "end": {"date": "2031-05-03"}})
    assert all_day.json()["start"] == {"date": "2031-05-01"}
    offset = google.post("/calendars/primary/events", json={
        "start": {"dateTime": "2031-05-01T12:00:00Z"},
        "end": {"dateTime": "2031-05-01T13:00:00Z"}}).json()
    # Answered in the calendar's zone, without a timeZone the client did not give.
    assert offset["start"] == {"dateTime": "2031-05-01T14:00:00+02:00"}
    in_utc = google.get(f"/calendars/primary/events/{offset['id']}",
                        params={"timeZone": "UTC"}).json()
    assert in_utc["start"] == {"dateTime": "2031-05-01T12:00:00+00:00"}


def test_patch_update_and_if_match(google: GoogleClient) -> None:
    event = google.post("/calendars/primary/events", json=timed(
        "2031-03-10", "09:00", "10:00", summary="Draft", location="Room A",
        extendedProperties={"private": {"a": "1"}})).json()
    path = f"/calendars/primary/events/{event['id']}"
    patched = google.patch(path, json={"summary": "Final",
                                       "extendedProperties": {"private": {"b": "2"}}},
                           headers={"If-Match": event["etag"]})
    assert patched.status_code == 200
    after = patched.json()
    assert after["summary"] == "Final" and after["location"] == "Room A"
    assert after["extendedProperties"]["private"] == {"a": "1", "b": "2"}
    assert after["etag"] != event["etag"]
    stale = google.patch(path, json={"summary": "Lost"}, headers={"If-Match": event["etag"]})
    assert stale.status_code == 412
    assert stale.json()["error"]["errors"][0]["reason"] == "conditionNotMet"
    assert google.put(path, json=timed("2031-03-10", "11:00", "12:00"),
                      headers={"If-Match": event["etag"]}).status_code == 412
    replaced = google.put(path, json=timed("2031-03-10", "11:00", "12:00", summary="Moved"),
                          headers={"If-Match": after["etag"]}).json()
    assert replaced["summary"] == "Moved" and "location" not in replaced
    assert replaced["sequence"] == after["sequence"] + 1
    assert google.delete(path, headers={"If-Match": event["etag"]}).status_code == 412


def test_delete_leaves_a_cancelled_event(google: GoogleClient) -> None:
    event = google.post("/calendars/primary/events", json=timed(
        "2031-03-10", "09:00", "10:00", summary="Gone soon")).json()
    path = f"/calendars/primary/events/{event['id']}"
    assert google.delete(path).status_code == 204
    assert google.get(path).json()["status"] == "cancelled"
    again = google.delete(path)
    assert again.status_code == 410
    assert again.json()["error"]["errors"][0]["reason"] == "deleted"
    listed = google.get("/calendars/primary/events").json()["items"]
    assert listed == []
    shown = google.get("/calendars/primary/events", params={"showDeleted": "true"}).json()
    assert [e["status"] for e in shown["items"]] == ["cancelled"]


def test_list_window_filters_and_paging(google: GoogleClient) -> None:
    for day in range(1, 8):
        google.post(f"/calendars/{ROOM}/events", json=timed(
            f"2031-06-0{day}", "09:00", "10:00", summary=f"Day {day}",
            extendedProperties={"private": {"parity": str(day % 2)}}))
    params = {"timeMin": "2031-06-02T08:00:00Z", "timeMax": "2031-06-05T07:00:00Z",
              "singleEvents": "true", "orderBy": "startTime"}
    # 06-02 09:00+02 = 07:00Z ends 08:00Z: touching timeMin is not an overlap.
    items, _ = google.pages(f"/calendars/{ROOM}/events", params)
    assert [e["summary"] for e in items] == ["Day 3", "Day 4"]
    items, last = google.pages(f"/calendars/{ROOM}/events", {"maxResults": "2"})
    assert len(items) == 7 and "nextSyncToken" in last
    odd, _ = google.pages(f"/calendars/{ROOM}/events",
                          {"privateExtendedProperty": "parity=1"})
    assert sorted(e["summary"] for e in odd) == ["Day 1", "Day 3", "Day 5", "Day 7"]
    first = google.get(f"/calendars/{ROOM}/events", params={"maxResults": "3"}).json()
    assert "nextSyncToken" not in first and len(first["items"]) == 3
    for bad in ({"maxResults": "2501"}, {"orderBy": "startTime"},
                {"timeMin": "2031-06-05T00:00:00Z", "timeMax": "2031-06-01T00:00:00Z"},
                {"timeMin": "2031-06-05T00:00:00"}):
        assert google.get(f"/calendars/{ROOM}/events", params=bad).status_code == 400, bad


def test_sync_token_reports_changes_and_deletions(google: GoogleClient) -> None:
    path = f"/calendars/{ROOM}/events"
    keep = google.post(path, json=timed("2031-06-01", "09:00", "10:00", summary="Keep")).json()
    drop = google.post(path, json=timed("2031-06-02", "09:00", "10:00", summary="Drop")).json()
    _, last = google.pages(path, {"maxResults": "1"})
    token = last["nextSyncToken"]
    quiet = google.get(path, params={"syncToken": token}).json()
    assert quiet["items"] == [] and quiet["nextSyncToken"]
    google.patch(f"{path}/{keep['id']}", json={"summary": "Kept"})
    google.delete(f"{path}/{drop['id']}")
    added = google.post(path, json=timed("2031-06-03", "09:00", "10:00", summary="New")).json()
    changes = google.get(path, params={"syncToken": token}).json()
    by_id = {e["id"]: e for e in changes["items"]}
    assert set(by_id) == {keep["id"], drop["id"], added["id"]}
    assert by_id[drop["id"]]["status"] == "cancelled"
    assert by_id[keep["id"]]["summary"] == "Kept"
    follow = google.get(path, params={"syncToken": changes["nextSyncToken"]}).json()
    assert follow["items"] == []
    refused = google.get(path, params={"syncToken": token, "timeMin": "2031-01-01T00:00:00Z"})
    assert refused.status_code == 400
    assert google.get(path, params={"syncToken": token, "showDeleted": "false"}
                      ).status_code == 400


def test_expired_or_foreign_sync_token_is_410(google: GoogleClient) -> None:
    path = f"/calendars/{ROOM}/events"
    token = google.get(path).json()["nextSyncToken"]
    other = google.get("/calendars/primary/events").json()["nextSyncToken"]
    for bad in (other, "garbage"):
        answer = google.get(path, params={"syncToken": bad})
        assert answer.status_code == 410
    assert google.admin("POST", "/sync-tokens/expire").status_code == 200
    gone = google.get(path, params={"syncToken": token})
    assert gone.status_code == 410
    assert gone.json()["error"] == {
        "errors": [{"domain": "global", "reason": "fullSyncRequired",
                    "message": "Sync token is no longer valid, a full sync is required."}],
        "code": 410, "message": "Sync token is no longer valid, a full sync is required."}


# faults and counts -------------------------------------------------------------------


def test_injected_rate_limits_and_server_errors(google: GoogleClient) -> None:
    path = f"/calendars/{ROOM}/events"
    google.admin("POST", "/faults", {"match": {"method": "GET", "calendar": ROOM},
                                     "status": 403, "code": "userRateLimitExceeded",
                                     "times": 1})
    google.admin("POST", "/faults", {"match": {"path_regex": "/calendar/v3/calendars/room-a"},
                                     "status": 429, "retry_after": 2, "times": 1})
    google.admin("POST", "/faults", {"match": {"method": "POST"}, "status": 503, "times": 1})
    first = google.get(path)
    assert first.status_code == 403 and "Retry-After" not in first.headers
    assert first.json()["error"]["errors"][0] == {
        "domain": "usageLimits", "reason": "userRateLimitExceeded",
        "message": "User Rate Limit Exceeded"}
    second = google.get(path)
    assert second.status_code == 429 and second.headers["Retry-After"] == "2"
    assert second.json()["error"]["errors"][0]["reason"] == "rateLimitExceeded"
    assert google.post(path, json=timed("2031-01-06", "09:00", "10:00")).status_code == 503
    assert google.get(path).status_code == 200
    assert google.get("/calendars/primary/events").status_code == 200


def test_request_counts_by_route_and_calendar(google: GoogleClient) -> None:
    google.admin("DELETE", "/requests")
    google.get(f"/calendars/{ROOM}/events")
    google.get(f"/calendars/{ROOM}/events")
    google.get("/calendars/primary/events")
    counts = google.admin("GET", "/requests").json()
    assert counts["by_route"]["GET /calendars/{calendarId}/events"] == 3
    assert counts["by_calendar"][ROOM] == {"GET /calendars/{calendarId}/events": 2}
    assert counts["by_calendar"]["alex@example.org"] == {"GET /calendars/{calendarId}/events": 1}
    assert counts["by_status"]["200"] == 3
    assert google.emulator.request_counts()["total"] == 3


def test_access_tokens_expire(google: GoogleClient) -> None:
    stale = google.emulator.identity.issue_token("alex@example.org", [CALENDAR_SCOPE],
                                                 lifetime=-1)
    assert google.get("/calendars/primary/events", token=stale).status_code == 401
    payload = base64.urlsafe_b64encode(json.dumps(
        {"sub": "alex@example.org", "scp": [CALENDAR_SCOPE], "exp": time.time() + 60}
    ).encode()).decode().rstrip("=")
    assert google.get("/calendars/primary/events",
                      token=f"ya29.{payload}.forged").status_code == 401


def test_only_loopback(tmp_path: Any) -> None:
    with pytest.raises(ValueError, match=r"127\.0\.0\.1"):
        GoogleCalendarEmulator(host="0.0.0.0", cert_dir=tmp_path)  # noqa: S104 - refused


def test_state_survives_a_restart(tmp_path: Any) -> None:
    state = tmp_path / "google-events.json"
    certs = tmp_path / "certs"
    with GoogleCalendarEmulator(cert_dir=certs, state_file=state) as emulator:
        http = google_http_session(emulator)
        token = emulator.issue_token("alex@example.org")
        headers = {"Authorization": f"Bearer {token}"}
        url = f"{emulator.api_url}/calendars/{ROOM}/events"
        made = http.post(url, headers=headers, timeout=15,
                         json=timed("2031-02-03", "09:00", "10:00", summary="Persisted",
                                    id="persisted001")).json()
        gone = http.post(url, headers=headers, timeout=15,
                         json=timed("2031-02-04", "09:00", "10:00")).json()
        sync_token = http.get(url, headers=headers, timeout=15).json()["nextSyncToken"]
        http.delete(f"{url}/{gone['id']}", headers=headers, timeout=15)
    with GoogleCalendarEmulator(cert_dir=certs, state_file=state) as emulator:
        http = google_http_session(emulator)
        # Same certificate folder: the same service-account key, so old tokens still work.
        again = http.get(f"{emulator.api_url}/calendars/{ROOM}/events/persisted001",
                         headers=headers, timeout=15)
        assert again.status_code == 200 and again.json()["etag"] == made["etag"]
        changes = http.get(f"{emulator.api_url}/calendars/{ROOM}/events", headers=headers,
                           params={"syncToken": sync_token}, timeout=15).json()
        assert [(e["id"], e["status"]) for e in changes["items"]] == [(gone["id"], "cancelled")]


def test_unknown_paths_are_404(google: GoogleClient) -> None:
    assert google.get("/nothing/here").status_code == 404
    assert requests.get(f"{google.emulator.base_url}/elsewhere", verify=google.emulator.ca_path,
                        timeout=15).status_code == 404
