"""Recurring events and push channels in the Google Calendar emulator, as a client sees
them: instances compared with an independent RFC 5545 expansion (recurring-ical-events),
exceptions and cancelled instances, and push messages to a loopback receiver."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import recurring_ical_events

from tests.fixtures.google import GoogleClient
from tests.fixtures.graph import WebhookReceiver

ROOM = "room-a@rooms.example.org"
BERLIN = ZoneInfo("Europe/Berlin")


def series(google: GoogleClient, recurrence: list[str], **extra: Any) -> dict[str, Any]:
    """A weekly-ish series in room A starting Thursday 20 March 2031, 09:00 Berlin."""
    body = {"summary": "Stand-up", "recurrence": recurrence,
            "start": {"dateTime": "2031-03-20T09:00:00", "timeZone": "Europe/Berlin"},
            "end": {"dateTime": "2031-03-20T09:30:00", "timeZone": "Europe/Berlin"}, **extra}
    answer = google.post(f"/calendars/{ROOM}/events", json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()


def reference_starts(recurrence: list[str], low: dt.datetime, high: dt.datetime
                     ) -> list[dt.datetime]:
    """The same series expanded by recurring-ical-events, as UTC instants."""
    text = "\r\n".join([
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//calbridge tests//EN", "BEGIN:VEVENT",
        "UID:series@test", "DTSTAMP:20310101T000000Z",
        "DTSTART;TZID=Europe/Berlin:20310320T090000",
        "DTEND;TZID=Europe/Berlin:20310320T093000", *recurrence, "END:VEVENT", "END:VCALENDAR",
        ""])
    events = recurring_ical_events.of(icalendar.Calendar.from_ical(text)).between(low, high)
    return sorted(e["DTSTART"].dt.astimezone(dt.UTC) for e in events)


def listed_starts(google: GoogleClient, low: dt.datetime, high: dt.datetime
                  ) -> list[dt.datetime]:
    items, _ = google.pages(f"/calendars/{ROOM}/events", {
        "singleEvents": "true", "orderBy": "startTime", "maxResults": "7",
        "timeMin": low.isoformat(), "timeMax": high.isoformat()})
    return [dt.datetime.fromisoformat(e["start"]["dateTime"]).astimezone(dt.UTC) for e in items]


def test_expansion_matches_rfc5545_across_dst(google: GoogleClient) -> None:
    rules = [
        ["RRULE:FREQ=WEEKLY;BYDAY=MO,TH;UNTIL=20310501T000000Z",
         "EXDATE;TZID=Europe/Berlin:20310327T090000"],
        ["RRULE:FREQ=DAILY;INTERVAL=3;COUNT=12", "RDATE;TZID=Europe/Berlin:20310322T150000"],
        ["RRULE:FREQ=MONTHLY;BYDAY=1TH,-1FR;COUNT=6"],
    ]
    low = dt.datetime(2031, 3, 1, tzinfo=dt.UTC)
    high = dt.datetime(2031, 9, 1, tzinfo=dt.UTC)
    for recurrence in rules:
        google.admin("POST", "/reset")
        series(google, recurrence)
        ours = listed_starts(google, low, high)
        assert ours == reference_starts(recurrence, low, high), recurrence
    # 09:00 local stays 09:00 local on both sides of the change to summer time (30 March).
    google.admin("POST", "/reset")
    made = series(google, ["RRULE:FREQ=DAILY;COUNT=14"])
    items, _ = google.pages(f"/calendars/{ROOM}/events", {"singleEvents": "true"})
    assert {dt.datetime.fromisoformat(e["start"]["dateTime"]).astimezone(BERLIN).hour
            for e in items} == {9}
    assert items[0]["id"] == f"{made['id']}_20310320T080000Z"
    assert items[-1]["id"] == f"{made['id']}_20310402T070000Z"
    assert items[0]["recurringEventId"] == made["id"]
    assert items[0]["originalStartTime"] == {"dateTime": "2031-03-20T09:00:00+01:00",
                                             "timeZone": "Europe/Berlin"}


def test_exceptions_and_cancelled_instances(google: GoogleClient) -> None:
    master = series(google, ["RRULE:FREQ=DAILY;COUNT=4"])
    path = f"/calendars/{ROOM}/events"
    second = f"{master['id']}_20310321T080000Z"
    third = f"{master['id']}_20310322T080000Z"
    token = google.get(path).json()["nextSyncToken"]
    moved = google.patch(f"{path}/{second}", json={
        "summary": "Moved stand-up",
        "start": {"dateTime": "2031-03-21T11:00:00", "timeZone": "Europe/Berlin"},
        "end": {"dateTime": "2031-03-21T11:30:00", "timeZone": "Europe/Berlin"}})
    assert moved.status_code == 200, moved.text
    assert moved.json()["id"] == second and moved.json()["recurringEventId"] == master["id"]
    assert google.delete(f"{path}/{third}").status_code == 204
    assert google.get(f"{path}/{master['id']}_20310325T080000Z").status_code == 404
    instances = google.get(f"{path}/{master['id']}/instances").json()["items"]
    assert [(i["id"], i.get("summary")) for i in instances] == [
        (f"{master['id']}_20310320T080000Z", "Stand-up"), (second, "Moved stand-up"),
        (f"{master['id']}_20310323T080000Z", "Stand-up")]
    assert instances[1]["start"]["dateTime"] == "2031-03-21T11:00:00+01:00"
    shown = google.get(f"{path}/{master['id']}/instances", params={"showDeleted": "true"}
                       ).json()["items"]
    cancelled = [i for i in shown if i["status"] == "cancelled"]
    assert [i["id"] for i in cancelled] == [third]
    assert cancelled[0]["originalStartTime"]["dateTime"] == "2031-03-22T09:00:00+01:00"
    # Without singleEvents: the master, the exception, and the cancelled instance.
    plain = google.get(path).json()["items"]
    assert {(i["id"], i["status"]) for i in plain} == {
        (master["id"], "confirmed"), (second, "confirmed"), (third, "cancelled")}
    changes = google.get(path, params={"syncToken": token}).json()["items"]
    assert {(i["id"], i["status"]) for i in changes} == {(second, "confirmed"),
                                                        (third, "cancelled")}
    # Changing the series shows in unchanged instances; the exception keeps its own.
    google.patch(f"{path}/{master['id']}", json={"location": "Room A"})
    singles = google.get(path, params={"singleEvents": "true", "orderBy": "startTime"}
                         ).json()["items"]
    assert [i.get("location") for i in singles] == ["Room A", None, "Room A"]
    # Deleting the series cancels every instance for sync.
    token = google.get(path).json()["nextSyncToken"]
    assert google.delete(f"{path}/{master['id']}").status_code == 204
    after = google.get(path, params={"syncToken": token, "singleEvents": "true"}).json()
    assert {i["status"] for i in after["items"]} == {"cancelled"}
    assert len(after["items"]) == 4
    assert google.get(path, params={"singleEvents": "true"}).json()["items"] == []


def test_all_day_series(google: GoogleClient) -> None:
    made = google.post(f"/calendars/{ROOM}/events", json={
        "summary": "Holiday week", "start": {"date": "2031-07-07"},
        "end": {"date": "2031-07-08"}, "recurrence": ["RRULE:FREQ=DAILY;UNTIL=20310709"]}
    ).json()
    items = google.get(f"/calendars/{ROOM}/events", params={"singleEvents": "true"}
                       ).json()["items"]
    assert [(i["id"], i["start"], i["end"]) for i in items] == [
        (f"{made['id']}_20310707", {"date": "2031-07-07"}, {"date": "2031-07-08"}),
        (f"{made['id']}_20310708", {"date": "2031-07-08"}, {"date": "2031-07-09"}),
        (f"{made['id']}_20310709", {"date": "2031-07-09"}, {"date": "2031-07-10"})]


def test_instances_paging_and_window(google: GoogleClient) -> None:
    master = series(google, ["RRULE:FREQ=DAILY"])  # no end: expanded inside the window
    items, last = google.pages(f"/calendars/{ROOM}/events/{master['id']}/instances", {
        "timeMin": "2031-04-01T00:00:00Z", "timeMax": "2031-04-11T00:00:00Z",
        "maxResults": "3"})
    assert len(items) == 10 and "nextSyncToken" not in last
    assert items[0]["start"]["dateTime"] == "2031-04-01T09:00:00+02:00"


# push --------------------------------------------------------------------------------


def watch(google: GoogleClient, receiver: WebhookReceiver, channel_id: str, path: str,
          calendar: str = ROOM, **extra: Any) -> dict[str, Any]:
    answer = google.post(f"/calendars/{calendar}/events/watch", json={
        "id": channel_id, "type": "web_hook", "address": receiver.url + path, **extra})
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_watch_sends_sync_then_exists_with_googles_headers(
        google: GoogleClient, webhook_receiver: WebhookReceiver) -> None:
    channel = watch(google, webhook_receiver, "channel-1", "/push", token="secret-token",
                    params={"ttl": "3600"})
    assert channel["kind"] == "api#channel" and channel["id"] == "channel-1"
    assert channel["resourceUri"].startswith(f"{google.emulator.api_url}/calendars/")
    assert int(channel["expiration"]) > 0 and channel["token"] == "secret-token"
    webhook_receiver.wait_for(1)
    google.post(f"/calendars/{ROOM}/events", json={
        "start": {"date": "2031-01-06"}, "end": {"date": "2031-01-07"}})
    received = webhook_receiver.wait_for(2)
    assert received == [{}, {}]  # empty bodies
    sync, exists = webhook_receiver.headers
    assert sync["X-Goog-Resource-State"] == "sync" and sync["X-Goog-Message-Number"] == "1"
    assert exists["X-Goog-Resource-State"] == "exists"
    assert exists["X-Goog-Message-Number"] == "2"
    for headers in (sync, exists):
        assert headers["X-Goog-Channel-ID"] == "channel-1"
        assert headers["X-Goog-Channel-Token"] == "secret-token"
        assert headers["X-Goog-Resource-ID"] == channel["resourceId"]
        assert headers["X-Goog-Resource-URI"] == channel["resourceUri"]
        assert headers["X-Goog-Channel-Expiration"].endswith("GMT")
    other = watch(google, webhook_receiver, "channel-2", "/other")
    assert other["resourceId"] == channel["resourceId"]  # the same watched resource


def test_stopped_and_expired_channels_send_nothing(
        google: GoogleClient, webhook_receiver: WebhookReceiver) -> None:
    first = watch(google, webhook_receiver, "first", "/first")
    webhook_receiver.wait_for(1)
    stop = google.post("/channels/stop", json={"id": "first", "resourceId": "wrong"})
    assert stop.status_code == 404
    assert google.post("/channels/stop", json={"id": "first", "resourceId": first["resourceId"]}
                       ).status_code == 204
    watch(google, webhook_receiver, "second", "/second")
    webhook_receiver.wait_for(2)
    google.post(f"/calendars/{ROOM}/events", json={
        "start": {"date": "2031-01-06"}, "end": {"date": "2031-01-07"}})
    # Messages go out in order: once the second channel's `exists` is here, any message
    # for the stopped one would have come before it.
    webhook_receiver.wait_for(3)
    assert webhook_receiver.paths == ["/first", "/second", "/second"]
    assert google.admin("POST", "/channels/expire").json() == {"expired": 1}
    watch(google, webhook_receiver, "third", "/third")
    webhook_receiver.wait_for(4)
    google.post(f"/calendars/{ROOM}/events", json={
        "start": {"date": "2031-01-08"}, "end": {"date": "2031-01-09"}})
    webhook_receiver.wait_for(5)
    assert webhook_receiver.paths[3:] == ["/third", "/third"]


def test_deleted_calendar_sends_not_exists(google: GoogleClient,
                                           webhook_receiver: WebhookReceiver) -> None:
    watch(google, webhook_receiver, "room-b", "/b", calendar="room-b@rooms.example.org")
    webhook_receiver.wait_for(1)
    assert google.admin("DELETE", "/calendars/room-b@rooms.example.org").status_code == 204
    webhook_receiver.wait_for(2)
    assert webhook_receiver.headers[1]["X-Goog-Resource-State"] == "not_exists"
    assert google.get("/calendars/room-b@rooms.example.org").status_code == 404


def test_watch_refuses_bad_addresses_and_reused_ids(
        google: GoogleClient, webhook_receiver: WebhookReceiver) -> None:
    plain = google.post(f"/calendars/{ROOM}/events/watch", json={
        "id": "x1", "type": "web_hook", "address": "http://example.org/hook"})
    assert plain.status_code == 400
    assert plain.json()["error"]["errors"][0]["reason"] == "push.webhookUrlNotHttps"
    watch(google, webhook_receiver, "same", "/a")
    again = google.post(f"/calendars/{ROOM}/events/watch", json={
        "id": "same", "type": "web_hook", "address": webhook_receiver.url + "/a"})
    assert again.status_code == 400
