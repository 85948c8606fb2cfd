"""Google Calendar JSON ⇄ canonical events, recurrence lines, ids, channel notifications
and settings: pure functions, no I/O."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from calbridge.bridges.google_calendar.client import quota_reset_after
from calbridge.bridges.google_calendar.convert import (
    MARKER_PROPERTY,
    calendar_from_resource,
    event_from_google,
    event_id_for,
    event_to_google,
    recurrence_from_lines,
    recurrence_lines,
    refusal,
)
from calbridge.bridges.google_calendar.notifications import (
    MAX_CHANNEL_TTL,
    channel_from_google,
    clamp_expiry,
    parse_channel_notification,
)
from calbridge.bridges.google_calendar.settings import (
    CALENDAR_SCOPE,
    ROOMS_SCOPE,
    GoogleCalendarSettings,
)
from calbridge.errors import ConfigurationError, UpstreamError, ValidationFailed
from calbridge.model import Event, EventField, EventKind, EventStatus, Person, Privacy, Recurrence

OSLO = ZoneInfo("Europe/Oslo")
BASE32HEX = re.compile(r"^[a-v0-9]{5,1024}$")


def timed(**extra: object) -> dict[str, object]:
    return {"id": "evt00001", "etag": '"3181161784712000"', "status": "confirmed",
            "summary": "Board meeting", "description": "Quarterly figures",
            "location": "Room A", "updated": "2031-03-01T10:00:00.000Z",
            "start": {"dateTime": "2031-03-10T10:00:00+01:00", "timeZone": "Europe/Oslo"},
            "end": {"dateTime": "2031-03-10T11:00:00+01:00", "timeZone": "Europe/Oslo"},
            **extra}


# ------------------------------------------------------------------ ids


def test_event_ids_are_base32hex_and_stable_per_key() -> None:
    first, again, other = event_id_for("link-1:0"), event_id_for("link-1:0"), event_id_for("x")
    assert first == again != other
    assert BASE32HEX.match(first) and len(first) == 32


@pytest.mark.parametrize("key", ["", "ü" * 300, "a/b?c#d", "x" * 5000])
def test_any_idempotency_key_makes_a_valid_id(key: str) -> None:
    assert BASE32HEX.match(event_id_for(key))


# ------------------------------------------------------------------ reading


def test_timed_event_reads_as_an_instant_with_its_zone() -> None:
    event = event_from_google(timed(extendedProperties={"private": {MARKER_PROPERTY: "L1"}}),
                              "room@example.org")
    assert event.start == datetime(2031, 3, 10, 9, 0, tzinfo=UTC)
    assert event.end == datetime(2031, 3, 10, 10, 0, tzinfo=UTC)
    assert (event.timezone, event.all_day, event.kind) == ("Europe/Oslo", False, EventKind.SINGLE)
    assert (event.title, event.description, event.location) == (
        "Board meeting", "Quarterly figures", "Room A")
    assert event.marker == "L1" and event.etag == '"3181161784712000"'
    assert event.last_modified == datetime(2031, 3, 1, 10, 0, tzinfo=UTC)


def test_a_time_without_zone_takes_the_calendars() -> None:
    data = timed(start={"dateTime": "2031-03-10T09:00:00Z"},
                 end={"dateTime": "2031-03-10T10:00:00Z"})
    assert event_from_google(data, default_zone="America/New_York").timezone == "America/New_York"
    assert event_from_google(data, default_zone="Not/AZone").timezone == "UTC"


def test_all_day_event_reads_as_dates_end_exclusive() -> None:
    data = timed(start={"date": "2031-03-12"}, end={"date": "2031-03-13"})
    event = event_from_google(data)
    assert event.all_day is True
    assert (event.start, event.end) == (date(2031, 3, 12), date(2031, 3, 13))


def test_private_and_confidential_are_private() -> None:
    for visibility, privacy in (("private", Privacy.PRIVATE), ("confidential", Privacy.PRIVATE),
                                ("public", Privacy.NORMAL), ("default", Privacy.NORMAL)):
        assert event_from_google(timed(visibility=visibility)).privacy is privacy


def test_the_booker_kept_beside_the_event_is_its_organizer() -> None:
    data = timed(organizer={"email": "room@example.org", "self": True},
                 extendedProperties={"private": {"calbridgeOrganizer": "Ada <ada@example.org>"}})
    assert event_from_google(data).organizer == Person(name="Ada", email="ada@example.org")
    plain = event_from_google(timed(organizer={"email": "bob@example.org", "displayName": "Bob"}))
    assert plain.organizer == Person(name="Bob", email="bob@example.org")


def test_cancelled_status_reads_as_cancelled() -> None:
    assert event_from_google(timed(status="cancelled")).status is EventStatus.CANCELLED


def test_master_instances_and_exceptions() -> None:
    master = timed(id="series1", recurrence=[
        "RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=5",
        "EXDATE;TZID=Europe/Oslo:20310317T100000"])
    series = event_from_google(master)
    assert series.kind is EventKind.SERIES
    assert series.recurrence == Recurrence(rrule="FREQ=WEEKLY;COUNT=5;BYDAY=MO",
                                           exdates=[datetime(2031, 3, 17, 10, tzinfo=OSLO)])
    original = {"dateTime": "2031-03-24T10:00:00+01:00", "timeZone": "Europe/Oslo"}
    occurrence = event_from_google(timed(
        id="series1_20310324T090000Z", recurringEventId="series1", originalStartTime=original,
        start=original, end={"dateTime": "2031-03-24T11:00:00+01:00"}), master=master)
    assert occurrence.kind is EventKind.OCCURRENCE and occurrence.series_id == "series1"
    assert occurrence.original_start == datetime(2031, 3, 24, 9, tzinfo=UTC)
    moved = event_from_google(timed(
        id="series1_20310331T080000Z", recurringEventId="series1",
        originalStartTime={"dateTime": "2031-03-31T10:00:00+02:00"},
        start={"dateTime": "2031-03-31T12:00:00+02:00"},
        end={"dateTime": "2031-03-31T13:00:00+02:00"}))
    assert moved.kind is EventKind.EXCEPTION and moved.kind.in_series
    retitled = event_from_google(timed(
        id="series1_20310324T090000Z", recurringEventId="series1", originalStartTime=original,
        start=original, end={"dateTime": "2031-03-24T11:00:00+01:00"}, summary="Moved talk"),
        master=master)
    assert retitled.kind is EventKind.EXCEPTION


def test_all_day_series_exdates_are_dates() -> None:
    recurrence = recurrence_from_lines(["RRULE:FREQ=DAILY;COUNT=3",
                                        "EXDATE;VALUE=DATE:20310313"], "UTC")
    assert recurrence is not None and recurrence.exdates == [date(2031, 3, 13)]


@pytest.mark.parametrize(("lines", "why"), [
    (["RRULE:FREQ=DAILY", "RRULE:FREQ=WEEKLY"], "several RRULEs"),
    (["RRULE:FREQ=DAILY", "RDATE;VALUE=DATE:20310320"], "RDATE"),
    (["RRULE:FREQ=DAILY", "EXRULE:FREQ=WEEKLY"], "EXRULE"),
    (["EXDATE;VALUE=DATE:20310320"], "no RRULE"),
])
def test_series_beyond_one_rule_are_not_read_as_a_rule(lines: list[str], why: str) -> None:
    master = event_from_google(timed(recurrence=lines))
    assert master.kind is EventKind.SERIES and master.recurrence is None
    assert refusal(master) == "the series' rule could not be read"


# ------------------------------------------------------------------ writing


def canonical(**extra: object) -> Event:
    return Event(**{"title": "Board meeting", "description": "Quarterly figures",
                    "start": datetime(2031, 3, 10, 9, tzinfo=UTC),
                    "end": datetime(2031, 3, 10, 10, tzinfo=UTC), "timezone": "Europe/Oslo",
                    "location": "Room A", "marker": "L1", **extra})


def test_insert_body_has_the_id_marker_and_wall_times_in_the_zone() -> None:
    body = event_to_google(canonical(organizer=Person(name="Ada", email="ada@example.org")),
                           event_id="abc12")
    assert body["id"] == "abc12"
    assert body["start"] == {"dateTime": "2031-03-10T10:00:00+01:00", "timeZone": "Europe/Oslo"}
    assert body["end"] == {"dateTime": "2031-03-10T11:00:00+01:00", "timeZone": "Europe/Oslo"}
    assert body["extendedProperties"] == {"private": {
        MARKER_PROPERTY: "L1", "calbridgeOrganizer": "Ada <ada@example.org>"}}
    assert body["visibility"] == "default" and "recurrence" not in body


def test_all_day_writes_dates_and_never_an_empty_span() -> None:
    body = event_to_google(canonical(start=date(2031, 3, 12), end=date(2031, 3, 12),
                                     all_day=True))
    assert body["start"] == {"date": "2031-03-12"} and body["end"] == {"date": "2031-03-13"}


def test_patch_carries_only_the_fields_asked_and_clears_the_other_time_form() -> None:
    event = canonical(start=date(2031, 3, 12), end=date(2031, 3, 13), all_day=True)
    assert event_to_google(event, fields=frozenset({EventField.TITLE})) == {
        "summary": "Board meeting"}
    when = event_to_google(event, fields=frozenset({EventField.WHEN}))
    assert when["start"] == {"date": "2031-03-12", "dateTime": None, "timeZone": None}
    timed_when = event_to_google(canonical(), fields=frozenset({EventField.WHEN}))
    assert timed_when["start"]["date"] is None
    assert event_to_google(event, fields=frozenset({EventField.STATUS})) == {}


def test_a_series_is_written_with_its_rule_and_exdates_on_its_wall_clock() -> None:
    series = canonical(kind=EventKind.SERIES, recurrence=Recurrence(
        rrule="FREQ=WEEKLY;BYDAY=MO;UNTIL=20310430T220000Z",
        exdates=[datetime(2031, 3, 17, 9, tzinfo=UTC), datetime(2031, 4, 7, 8, tzinfo=UTC)]))
    body = event_to_google(series)
    # DST starts on 30 March: both exceptions are 10:00 in Oslo.
    assert body["recurrence"] == [
        "RRULE:FREQ=WEEKLY;UNTIL=20310430T220000Z;BYDAY=MO",
        "EXDATE;TZID=Europe/Oslo:20310317T100000,20310407T100000"]
    back = recurrence_from_lines(body["recurrence"], "Europe/Oslo")
    assert back is not None
    assert [d.astimezone(UTC) for d in back.exdates] == series.recurrence.exdates  # type: ignore[union-attr,attr-defined]


def test_an_all_day_series_writes_date_exdates() -> None:
    lines = recurrence_lines(Recurrence(rrule="FREQ=DAILY;COUNT=5",
                                        exdates=[date(2031, 3, 13)]), "UTC", all_day=True)
    assert lines == ["RRULE:FREQ=DAILY;COUNT=5", "EXDATE;VALUE=DATE:20310313"]


def test_what_google_cannot_hold_is_refused_with_a_reason() -> None:
    assert refusal(canonical()) is None
    series = canonical(kind=EventKind.SERIES, recurrence=Recurrence(rrule="FREQ=DAILY"))
    assert refusal(series) is None
    assert refusal(series.model_copy(update={"recurrence": None})) is not None
    assert "RRULE" in (refusal(series.model_copy(update={"recurrence": Recurrence(
        rrule="FREQ=DAILY\nRRULE:FREQ=WEEKLY")})) or "")
    assert "hebrew" in (refusal(series.model_copy(update={"recurrence": Recurrence(
        rrule="RSCALE=HEBREW;FREQ=YEARLY")})) or "")


def test_a_round_trip_keeps_the_event() -> None:
    written = canonical(privacy=Privacy.PRIVATE)
    body = event_to_google(written, event_id="abc12")
    read = event_from_google({**body, "etag": '"1"', "status": "confirmed"})
    for name in ("title", "description", "start", "end", "timezone", "location", "marker",
                 "privacy", "all_day"):
        assert getattr(read, name) == getattr(written, name), name


# ------------------------------------------------------------------ channels


def headers(state: str, **extra: str) -> dict[str, str]:
    return {"X-Goog-Channel-ID": "chan-1", "X-Goog-Channel-Token": "state-1",
            "X-Goog-Resource-State": state, "X-Goog-Resource-ID": "res-1",
            "X-Goog-Message-Number": "2", **extra}


def test_the_sync_handshake_is_acknowledged_with_nothing_to_do() -> None:
    assert parse_channel_notification(headers("sync")) == []


@pytest.mark.parametrize("state", ["exists", "not_exists"])
def test_a_change_names_the_channel_and_carries_its_token(state: str) -> None:
    lowered = {k.lower(): v for k, v in headers(state).items()}
    [notice] = parse_channel_notification(lowered)
    assert (notice.subscription_id, notice.client_state, notice.event_id,
            notice.subscription_resource) == ("chan-1", "state-1", None, "res-1")


@pytest.mark.parametrize("bad", [
    {"X-Goog-Resource-State": "exists"},
    headers("sideways"),
    headers("exists", **{"X-Goog-Channel-Token": "a\x00b"}),
    headers("exists", **{"X-Goog-Channel-ID": "x" * 2000}),
])
def test_requests_that_are_not_channel_notifications_are_refused(bad: dict[str, str]) -> None:
    with pytest.raises(ValidationFailed):
        parse_channel_notification(bad)


def test_a_watch_answer_becomes_a_subscription() -> None:
    expires = datetime(2031, 3, 10, 9, tzinfo=UTC)
    found = channel_from_google({"kind": "api#channel", "id": "chan-1", "resourceId": "res-1",
                                 "expiration": str(int(expires.timestamp() * 1000))}, "chan-1")
    assert (found.id, found.resource, found.expires_at) == ("chan-1", "res-1", expires)
    with pytest.raises(UpstreamError):
        channel_from_google({"id": "chan-1"}, "chan-1")


def test_a_channel_is_asked_for_no_longer_than_a_channel_lives() -> None:
    now = datetime(2031, 3, 10, 9, tzinfo=UTC)
    assert MAX_CHANNEL_TTL == timedelta(seconds=604800)
    assert clamp_expiry(now + timedelta(days=30), now) == now + timedelta(seconds=604800)
    assert clamp_expiry(now + timedelta(days=2), now) == now + timedelta(days=2)
    oslo = now.astimezone(ZoneInfo("Europe/Oslo")) + timedelta(days=1)
    assert clamp_expiry(oslo, now).tzinfo is UTC


@pytest.mark.parametrize(("now", "seconds"), [
    # 09:00 UTC is 01:00 in Los Angeles (PST, UTC-8): 23 hours to its midnight.
    (datetime(2031, 1, 15, 9, tzinfo=UTC), 23 * 3600),
    # 06:30 UTC in summer is 23:30 the day before there (PDT, UTC-7).
    (datetime(2031, 7, 15, 6, 30, tzinfo=UTC), 30 * 60),
    # The night DST starts (2031-03-09) that day has 23 hours.
    (datetime(2031, 3, 9, 8, tzinfo=UTC), 23 * 3600),
])
def test_the_daily_quota_ends_at_midnight_pacific_time(now: datetime, seconds: int) -> None:
    assert quota_reset_after(now) == seconds


def test_a_directory_calendar_resource_is_a_room_named_and_sized() -> None:
    room = calendar_from_resource({
        "kind": "admin#directory#resources#calendars#CalendarResource",
        "resourceEmail": "c_188@resource.calendar.google.com", "resourceName": "Room 1A",
        "generatedResourceName": "NYC-2-Room 1A (16)", "resourceCategory": "CONFERENCE_ROOM",
        "capacity": 16})
    assert room is not None
    assert (room.id, room.name, room.kind, room.capacity, room.email) == (
        "c_188@resource.calendar.google.com", "Room 1A", "room", 16,
        "c_188@resource.calendar.google.com")
    unnamed = calendar_from_resource({"resourceEmail": "c_2@resource.calendar.google.com",
                                      "generatedResourceName": "NYC-3-Phone booth (1)"})
    assert unnamed is not None and (unnamed.name, unnamed.kind) == ("NYC-3-Phone booth (1)",
                                                                    "room")
    gear = calendar_from_resource({"resourceEmail": "c_3@resource.calendar.google.com",
                                   "resourceCategory": "OTHER", "capacity": "many"})
    assert gear is not None and (gear.kind, gear.capacity) == ("resource", None)
    assert calendar_from_resource({"resourceName": "no calendar"}) is None


# ------------------------------------------------------------------ settings


def test_rooms_add_the_directory_scope_and_a_customer_is_one_id() -> None:
    grant = {"GOOGLE_CALENDAR_CLIENT_ID": "c", "GOOGLE_CALENDAR_CLIENT_SECRET": "s",
             "GOOGLE_CALENDAR_REFRESH_TOKEN": "r"}
    plain = GoogleCalendarSettings.from_env(grant)
    assert (plain.list_rooms, plain.customer, plain.scopes) == (
        False, "my_customer", [CALENDAR_SCOPE])
    rooms = GoogleCalendarSettings.from_env({**grant, "GOOGLE_CALENDAR_LIST_ROOMS": "true",
                                             "GOOGLE_CALENDAR_CUSTOMER": "C03az79cb"})
    assert (rooms.customer, rooms.scopes) == ("C03az79cb", [CALENDAR_SCOPE, ROOMS_SCOPE])
    with pytest.raises(ConfigurationError, match="GOOGLE_CALENDAR_CUSTOMER"):
        GoogleCalendarSettings.from_env({**grant, "GOOGLE_CALENDAR_CUSTOMER": "a/../b"})


def test_settings_need_a_service_account_or_a_whole_oauth_grant() -> None:
    key = json.dumps({"client_email": "sa@p.iam.example", "private_key": "PRIVATE-KEY-TEXT"})
    parsed = GoogleCalendarSettings.from_env({"GOOGLE_CALENDAR_SERVICE_ACCOUNT_KEY": key,
                                              "GOOGLE_CALENDAR_SUBJECT": "ops@example.org"})
    assert parsed.uses_service_account and "PRIVATE-KEY-TEXT" not in repr(parsed)
    with pytest.raises(ConfigurationError, match="REFRESH_TOKEN"):
        GoogleCalendarSettings.from_env({"GOOGLE_CALENDAR_CLIENT_ID": "c",
                                         "GOOGLE_CALENDAR_CLIENT_SECRET": "s"})
    with pytest.raises(ConfigurationError, match="GOOGLE_CALENDAR_TOKEN_URI"):
        GoogleCalendarSettings.from_env({"GOOGLE_CALENDAR_SERVICE_ACCOUNT_KEY": key,
                                         "GOOGLE_CALENDAR_TOKEN_URI": "http://plain"})



def test_a_cancelled_instance_with_only_its_guaranteed_fields_reads_as_cancelled() -> None:
    # Google guarantees only id, recurringEventId, originalStartTime and status for a
    # cancelled instance of a series.
    gone = event_from_google({
        "id": "abc_20310310T090000Z", "recurringEventId": "abc", "status": "cancelled",
        "originalStartTime": {"dateTime": "2031-03-10T09:00:00Z", "timeZone": "UTC"}}, "cal")
    assert (gone.status, gone.kind, gone.series_id) == (
        EventStatus.CANCELLED, EventKind.OCCURRENCE, "abc")
    assert gone.original_start == datetime(2031, 3, 10, 9, tzinfo=UTC)
