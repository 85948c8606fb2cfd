"""Graph event JSON ⇄ canonical Event, and the other pure pieces of the Outlook bridge."""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from calbridge.bridges.outlook.client import with_query
from calbridge.bridges.outlook.convert import (
    MARKER_PROPERTY_ID,
    calendar_from_room,
    event_from_graph,
    event_to_graph,
    graph_time,
    marker_filter,
    parse_graph_datetime,
    transaction_id,
)
from calbridge.bridges.outlook.notifications import clamp_expiry, parse_notifications
from calbridge.bridges.outlook.settings import OutlookSettings
from calbridge.bridges.pacing import SlidingWindow
from calbridge.bridges.text import html_to_text
from calbridge.bridges.timezones import to_iana
from calbridge.errors import ConfigurationError, ValidationFailed
from calbridge.model import Event, EventField, EventStatus, Person, Privacy
from tests.fixtures.clock import ManualClock

OSLO = ZoneInfo("Europe/Oslo")


def graph_event(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "id": "AAMkAD-1",
        "subject": "Board meeting",
        "body": {"contentType": "text", "content": "Quarterly figures"},
        "start": {"dateTime": "2031-03-10T09:00:00.0000000", "timeZone": "UTC"},
        "end": {"dateTime": "2031-03-10T10:00:00.0000000", "timeZone": "UTC"},
        "originalStartTimeZone": "W. Europe Standard Time",
        "isAllDay": False,
        "isCancelled": False,
        "sensitivity": "normal",
        "changeKey": "ck-1",
        "lastModifiedDateTime": "2031-03-01T08:00:00.1234567Z",
        "location": {"displayName": "Room A"},
    }
    base.update(fields)
    return base


# ------------------------------------------------------------------ time zones


@pytest.mark.parametrize(("name", "iana"), [
    ("W. Europe Standard Time", "Europe/Berlin"),
    ("Pacific Standard Time", "America/Los_Angeles"),
    ("pacific standard time", "America/Los_Angeles"),
    ("Romance Standard Time", "Europe/Paris"),
    ("Europe/Oslo", "Europe/Oslo"),
    ("UTC", "UTC"),
    ("tzone://Microsoft/Utc", "UTC"),
    ("", "UTC"),
    (None, "UTC"),
])
def test_zone_names_map_to_iana(name: str | None, iana: str) -> None:
    assert to_iana(name) == iana


def test_unknown_zone_is_utc_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert to_iana("Mars Standard Time") == "UTC"
    assert any("unknown time zone" in r.message for r in caplog.records)


def test_windows_zone_event_reads_as_the_right_instant() -> None:
    # Graph ignored the UTC preference: local Berlin summer time, one hour of DST.
    data = graph_event(start={"dateTime": "2031-07-01T09:00:00", "timeZone":
                              "W. Europe Standard Time"},
                       end={"dateTime": "2031-07-01T10:30:00", "timeZone":
                            "W. Europe Standard Time"})
    event = event_from_graph(data, "room-a@x")
    assert event.start == datetime(2031, 7, 1, 7, 0, tzinfo=UTC)
    assert event.end == datetime(2031, 7, 1, 8, 30, tzinfo=UTC)
    assert event.timezone == "Europe/Berlin"
    assert event.calendar_id == "room-a@x"


def test_utc_answer_keeps_the_original_zone() -> None:
    event = event_from_graph(graph_event(originalStartTimeZone="Pacific Standard Time"))
    assert event.start == datetime(2031, 3, 10, 9, 0, tzinfo=UTC)
    assert event.timezone == "America/Los_Angeles"


def test_seven_digit_fractions_and_offsets_parse() -> None:
    assert parse_graph_datetime("2031-03-01T08:00:00.1234567Z") == datetime(
        2031, 3, 1, 8, 0, 0, 123456, tzinfo=UTC)
    assert parse_graph_datetime("2031-03-01T08:00:00") == datetime(2031, 3, 1, 8, 0)
    assert parse_graph_datetime("2031-03-01T08:00:00.5+02:00").utcoffset() == timedelta(hours=2)


def test_timed_event_is_written_as_wall_time_in_its_zone() -> None:
    # Across the spring DST change in Oslo (2031-03-30): 09:00 local both times.
    before = datetime(2031, 3, 28, 9, 0, tzinfo=OSLO)
    after = datetime(2031, 4, 1, 9, 0, tzinfo=OSLO)
    assert graph_time(before, "Europe/Oslo") == {"dateTime": "2031-03-28T09:00:00",
                                                 "timeZone": "Europe/Oslo"}
    assert graph_time(after.astimezone(UTC), "Europe/Oslo") == {
        "dateTime": "2031-04-01T09:00:00", "timeZone": "Europe/Oslo"}


def test_ambiguous_fall_back_hour_is_written_in_utc() -> None:
    # 02:30 happens twice in Oslo on 2031-10-26; the wall time alone would be ambiguous.
    second = datetime(2031, 10, 26, 2, 30, tzinfo=OSLO).replace(fold=1)
    written = graph_time(second, "Europe/Oslo")
    assert written["timeZone"] == "UTC"
    assert written["dateTime"] == second.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def test_windows_zone_in_the_event_is_written_under_its_own_name() -> None:
    # An Outlook event's zone stays "W. Europe Standard Time" when calbridge writes its
    # times back; only the wall time is computed through the IANA zone.
    written = graph_time(datetime(2031, 1, 5, 12, 0, tzinfo=UTC), "W. Europe Standard Time")
    assert written == {"dateTime": "2031-01-05T13:00:00", "timeZone": "W. Europe Standard Time"}


def test_an_unknown_zone_is_written_as_utc() -> None:
    written = graph_time(datetime(2031, 1, 5, 12, 0, tzinfo=UTC), "Mars/Olympus_Mons")
    assert written == {"dateTime": "2031-01-05T12:00:00", "timeZone": "UTC"}


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2060, 1, 1),
                    timezones=st.just(UTC)),
       st.sampled_from(["Europe/Oslo", "America/New_York", "Australia/Lord_Howe", "UTC",
                        "Asia/Kolkata", "Pacific Standard Time"]))
def test_written_time_reads_back_as_the_same_instant(moment: datetime, zone_name: str) -> None:
    written = graph_time(moment, zone_name)
    event = event_from_graph(graph_event(start=written, end=written))
    assert event.start == moment


# ------------------------------------------------------------------ all-day


def test_all_day_event_reads_as_dates() -> None:
    data = graph_event(isAllDay=True,
                       start={"dateTime": "2031-03-12T00:00:00.0000000", "timeZone": "UTC"},
                       end={"dateTime": "2031-03-14T00:00:00.0000000", "timeZone": "UTC"})
    event = event_from_graph(data)
    assert event.all_day is True
    assert (event.start, event.end) == (date(2031, 3, 12), date(2031, 3, 14))


def test_all_day_event_is_written_midnight_to_midnight() -> None:
    event = Event(title="Closed", start=date(2031, 3, 12), end=date(2031, 3, 13), all_day=True,
                  timezone="Europe/Oslo")
    body = event_to_graph(event)
    assert body["isAllDay"] is True
    assert body["start"] == {"dateTime": "2031-03-12T00:00:00", "timeZone": "Europe/Oslo"}
    assert body["end"] == {"dateTime": "2031-03-13T00:00:00", "timeZone": "Europe/Oslo"}


def test_all_day_with_empty_span_gets_one_day() -> None:
    event = Event(title="x", start=date(2031, 3, 12), end=date(2031, 3, 12), all_day=True)
    assert event_to_graph(event)["end"]["dateTime"] == "2031-03-13T00:00:00"


# ------------------------------------------------------------------ bodies


@pytest.mark.parametrize(("html", "text"), [
    ("<html><head>\r\n<meta http-equiv=\"Content-Type\" content=\"text/html\">"
     "<style>p{color:red}</style></head><body><div>Quarterly\r\n figures</div></body></html>",
     "Quarterly figures"),
    ("<p>Line one<br>Line two</p><p>Second&nbsp;paragraph &amp; more</p>",
     "Line one\nLine two\n\nSecond paragraph & more"),
    ("<div><b>Bold</b> and <i>italic</i></div><script>alert(1)</script>", "Bold and italic"),
    ("<ul><li>one</li><li>two</li></ul>", "one\ntwo"),
    ("<pre>  keep\n  spacing</pre>", "keep\nspacing"),
])
def test_html_bodies_become_plain_text(html: str, text: str) -> None:
    assert html_to_text(html) == text


@pytest.mark.parametrize("broken", [
    "<div><p>unclosed <b>tags", "<<<>>>", "</div></p>text after closers", "<div attr='x>oops",
    "<!-- never closed", "\x00\x01 <p>control</p>", "<![CDATA[ half",
])
def test_broken_html_never_raises(broken: str) -> None:
    assert isinstance(html_to_text(broken), str)


def test_broken_html_keeps_its_words() -> None:
    assert html_to_text("<div><p>unclosed <b>tags") == "unclosed tags"


def test_parser_failure_falls_back_to_the_raw_text(monkeypatch: pytest.MonkeyPatch) -> None:
    import calbridge.bridges.text as convert

    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("parser broke")

    monkeypatch.setattr(convert, "BeautifulSoup", explode)
    assert html_to_text("<p>raw</p>\r\n") == "<p>raw</p>"


def test_html_body_is_read_as_text() -> None:
    event = event_from_graph(graph_event(body={"contentType": "html",
                                               "content": "<p>Hello <b>there</b></p>"}))
    assert event.description == "Hello there"


def test_text_body_is_written_as_text() -> None:
    event = Event(title="t", description="a < b & c", start=datetime(2031, 1, 1, tzinfo=UTC),
                  end=datetime(2031, 1, 1, 1, tzinfo=UTC))
    assert event_to_graph(event)["body"] == {"contentType": "text", "content": "a < b & c"}


# ------------------------------------------------------------------ markers, privacy, status


def test_marker_comes_from_the_extended_property() -> None:
    data = graph_event(singleValueExtendedProperties=[
        {"id": "String {00000000-0000-0000-0000-000000000000} Name other", "value": "no"},
        {"id": MARKER_PROPERTY_ID.upper().replace("STRING", "String"), "value": "link-42"}])
    assert event_from_graph(data).marker == "link-42"
    assert event_from_graph(graph_event()).marker is None


def test_marker_and_transaction_id_are_written() -> None:
    event = Event(title="t", start=datetime(2031, 1, 1, tzinfo=UTC),
                  end=datetime(2031, 1, 1, 1, tzinfo=UTC), marker="link-42")
    body = event_to_graph(event, idempotency_key="key-1")
    assert body["singleValueExtendedProperties"] == [{"id": MARKER_PROPERTY_ID,
                                                      "value": "link-42"}]
    assert body["transactionId"] == transaction_id("key-1") != transaction_id("key-2")
    assert "transactionId" not in event_to_graph(event)


def test_marker_filter_escapes_quotes() -> None:
    assert "ep/value eq 'it''s'" in marker_filter("it's")
    assert marker_filter("m").startswith("singleValueExtendedProperties/Any(ep: ep/id eq ")


@pytest.mark.parametrize(("sensitivity", "privacy"), [
    ("normal", Privacy.NORMAL), ("personal", Privacy.NORMAL), ("private", Privacy.PRIVATE),
    ("confidential", Privacy.PRIVATE), (None, Privacy.NORMAL)])
def test_sensitivity_maps_to_privacy(sensitivity: str | None, privacy: Privacy) -> None:
    assert event_from_graph(graph_event(sensitivity=sensitivity)).privacy is privacy


def test_privacy_is_written_as_sensitivity() -> None:
    event = Event(title="t", start=datetime(2031, 1, 1, tzinfo=UTC),
                  end=datetime(2031, 1, 1, 1, tzinfo=UTC), privacy=Privacy.PRIVATE)
    assert event_to_graph(event)["sensitivity"] == "private"


def test_cancelled_event_reads_as_cancelled() -> None:
    assert event_from_graph(graph_event(isCancelled=True)).status is EventStatus.CANCELLED
    assert event_from_graph(graph_event()).status is EventStatus.CONFIRMED


def test_people_location_etag_and_modified() -> None:
    event = event_from_graph(graph_event(
        organizer={"emailAddress": {"name": "Room A", "address": "room-a@x"}},
        attendees=[{"emailAddress": {"name": "Kari", "address": "kari@x"}, "type": "required"},
                   {"emailAddress": {}}]))
    assert event.organizer == Person(name="Room A", email="room-a@x")
    assert event.attendees == [Person(name="Kari", email="kari@x")]
    assert (event.location, event.etag) == ("Room A", "ck-1")
    assert event.last_modified == datetime(2031, 3, 1, 8, 0, 0, 123456, tzinfo=UTC)


def test_attendees_are_written_only_when_asked() -> None:
    event = Event(title="t", start=datetime(2031, 1, 1, tzinfo=UTC),
                  end=datetime(2031, 1, 1, 1, tzinfo=UTC), attendees=[Person(email="kari@x")])
    assert "attendees" not in event_to_graph(event)
    assert event_to_graph(event, with_attendees=True)["attendees"] == [
        {"emailAddress": {"address": "kari@x", "name": "kari@x"}, "type": "required"}]


def test_round_trip_keeps_the_canonical_fields() -> None:
    written = Event(title="Møte i <b>rådhuset</b> & co", description="Line 1\nLine 2",
                    start=datetime(2031, 6, 1, 8, tzinfo=UTC),
                    end=datetime(2031, 6, 1, 9, tzinfo=UTC), timezone="Europe/Oslo",
                    location="Room A", marker="m-1", privacy=Privacy.PRIVATE)
    body = event_to_graph(written)
    read = event_from_graph({**body, "id": "x", "originalStartTimeZone": "Europe/Oslo"})
    for field in ("title", "description", "start", "end", "timezone", "location", "marker",
                  "privacy", "all_day"):
        assert getattr(read, field) == getattr(written, field), field


def test_room_place_becomes_a_calendar() -> None:
    room = calendar_from_room({"id": "p1", "emailAddress": "room-a@x",
                               "displayName": "Conference Room A", "capacity": 8})
    assert room is not None and (room.id, room.kind, room.capacity) == ("room-a@x", "room", 8)
    assert calendar_from_room({"id": "p2", "displayName": "no mailbox"}) is None


def test_odata_query_keeps_dollar_and_encodes_spaces() -> None:
    url = with_query("https://g/v1.0/users/a/events", {"$filter": "a eq 'b c'", "$top": 2})
    assert url == "https://g/v1.0/users/a/events?$filter=a%20eq%20%27b%20c%27&$top=2"


# ------------------------------------------------------------------ notifications


def test_change_notifications_are_parsed() -> None:
    body = {"value": [{
        "subscriptionId": "sub-1", "clientState": "secret", "changeType": "updated",
        "resource": "Users/room-a@x/Events/AAMk-1",
        "resourceData": {"@odata.type": "#Microsoft.Graph.Event", "id": "AAMk-1"},
        "tenantId": "t"}]}
    [notice] = parse_notifications(json.dumps(body).encode())
    assert (notice.subscription_id, notice.change_type, notice.event_id, notice.calendar_id,
            notice.client_state) == ("sub-1", "updated", "AAMk-1", "room-a@x", "secret")


def test_lifecycle_notifications_are_parsed() -> None:
    [notice] = parse_notifications({"value": [{
        "subscriptionId": "sub-1", "clientState": "s", "lifecycleEvent":
        "reauthorizationRequired", "resource": "users/room-a@x/events"}]})
    assert notice.change_type == "reauthorizationRequired" and notice.event_id is None


@pytest.mark.parametrize("body", [
    b"not json", b"\xff\xfe", "[]", {"value": []}, {"value": "x"}, {"value": [1]},
    {"value": [{"changeType": "updated", "resource": "Users/a/Events/b"}]},
    {"value": [{"subscriptionId": "s", "changeType": "moved", "resource": "Users/a/Events/b"}]},
    {"value": [{"subscriptionId": "s", "changeType": "created"}]},
    {"value": [{"subscriptionId": "s", "lifecycleEvent": "exploded"}]},
    {"value": [{"subscriptionId": "s", "clientState": 5, "changeType": "created",
                "resource": "Users/a/Events/b"}]},
])
def test_malformed_notifications_are_refused(body: object) -> None:
    with pytest.raises(ValidationFailed):
        parse_notifications(body)


def test_subscription_expiry_is_clamped() -> None:
    now = datetime(2031, 1, 1, tzinfo=UTC)
    assert clamp_expiry(now + timedelta(days=30), now, 10_070) == now + timedelta(minutes=10_070)
    assert clamp_expiry(now + timedelta(days=1), now, 10_070) == now + timedelta(days=1)


# ------------------------------------------------------------------ settings and pacing


def test_settings_name_what_is_missing() -> None:
    with pytest.raises(ConfigurationError, match="OUTLOOK_TENANT_ID"):
        OutlookSettings.from_env({"OUTLOOK_CLIENT_ID": "c", "OUTLOOK_CLIENT_SECRET": "s"})
    with pytest.raises(ConfigurationError, match="OUTLOOK_CLIENT_SECRET"):
        OutlookSettings.from_env({"OUTLOOK_TENANT_ID": "t", "OUTLOOK_CLIENT_ID": "c"})
    with pytest.raises(ConfigurationError, match="THUMBPRINT"):
        OutlookSettings.from_env({"OUTLOOK_TENANT_ID": "t", "OUTLOOK_CLIENT_ID": "c",
                                  "OUTLOOK_CLIENT_CERTIFICATE_PATH": "/x.pem"})


def test_settings_defaults_and_secret_not_in_repr() -> None:
    settings = OutlookSettings.from_env({"OUTLOOK_TENANT_ID": "t", "OUTLOOK_CLIENT_ID": "c",
                                         "OUTLOOK_CLIENT_SECRET": "hunter2",
                                         "OUTLOOK_MAILBOXES": " a@x, ,b@x "})
    assert settings.authority == "https://login.microsoftonline.com/t"
    assert settings.graph_base_url == "https://graph.microsoft.com/v1.0"
    assert (settings.max_concurrency, settings.requests_per_10_min) == (4, 10_000)
    assert settings.mailbox_list == ["a@x", "b@x"]
    assert "hunter2" not in repr(settings)


def test_sliding_window_holds_requests_over_budget() -> None:
    clock = ManualClock()
    window = SlidingWindow(3, 600.0, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        assert window.take() == 0.0
    clock.now = 100.0
    assert window.take() == pytest.approx(500.0)  # waits for the first to leave the window
    assert window.take(2) == pytest.approx(0.0) or clock.now >= 600.0


def test_sliding_window_never_exceeds_the_budget() -> None:
    clock = ManualClock()
    window = SlidingWindow(10, 60.0, clock=clock, sleep=clock.sleep)
    sent: list[float] = []
    for n in range(50):
        clock.now += 0.5 if n % 3 else 0.0
        window.take()
        sent.append(clock.now)
    for t in sent:
        assert sum(1 for s in sent if t - 60.0 < s <= t) <= 10


# ---------------------------------------------------------------- organizer and partial writes


def test_the_booker_is_kept_and_read_back_as_organizer() -> None:
    event = Event(title="Tenants", start=datetime(2031, 1, 5, 9, tzinfo=UTC),
                  end=datetime(2031, 1, 5, 10, tzinfo=UTC),
                  organizer=Person(name="Ann Booker", email="ann@example.org"), marker="l-1")
    body = event_to_graph(event, idempotency_key="l-1")
    assert "attendees" not in body  # nobody is mailed an invitation
    graph = {**body, "id": "AAk1", "organizer": {"emailAddress": {
        "name": "Room A", "address": "room-a@example.org"}}}
    read = event_from_graph(graph, "room-a@example.org")
    assert read.organizer == Person(name="Ann Booker", email="ann@example.org")
    assert read.marker == "l-1"
    asked = event_to_graph(event, organizer_as_attendee=True)
    assert [a["emailAddress"]["address"] for a in asked["attendees"]] == ["ann@example.org"]


def test_the_mailbox_itself_is_no_organizer_but_an_inviter_is() -> None:
    graph = {"id": "AAk2", "subject": "x", "start": {"dateTime": "2031-01-05T09:00:00",
                                                      "timeZone": "UTC"},
             "end": {"dateTime": "2031-01-05T10:00:00", "timeZone": "UTC"},
             "organizer": {"emailAddress": {"name": "Room A", "address": "Room-A@example.org"}}}
    assert event_from_graph(graph, "room-a@example.org").organizer is None
    graph["organizer"] = {"emailAddress": {"name": "Bo", "address": "bo@example.org"}}
    assert event_from_graph(graph, "room-a@example.org").organizer == Person(
        name="Bo", email="bo@example.org")


def test_a_partial_write_carries_only_its_fields_in_the_events_own_zone() -> None:
    graph = {"id": "AAk3", "subject": "Plan", "originalStartTimeZone": "W. Europe Standard Time",
             "body": {"contentType": "html", "content": "<p>Agenda</p>"},
             "start": {"dateTime": "2031-01-05T09:00:00", "timeZone": "UTC"},
             "end": {"dateTime": "2031-01-05T10:00:00", "timeZone": "UTC"}}
    event = event_from_graph(graph, "room-a@example.org")
    assert (event.timezone, event.native_zone) == ("Europe/Berlin", "W. Europe Standard Time")
    renamed = event.model_copy(update={"title": "Plan (final)"})
    assert event_to_graph(renamed, fields=frozenset({EventField.TITLE})) == {
        "subject": "Plan (final)"}
    moved = event_to_graph(renamed, fields=frozenset({EventField.WHEN}))
    assert set(moved) == {"isAllDay", "start", "end"}
    assert moved["start"] == {"dateTime": "2031-01-05T10:00:00",
                              "timeZone": "W. Europe Standard Time"}


def test_table_cells_stay_apart() -> None:
    html = ("<table><tr><th>Item</th><th>Owner</th></tr>"
            "<tr><td>Budget</td><td>Ann</td></tr></table><p>End</p>")
    assert html_to_text(html) == "Item | Owner\nBudget | Ann\n\nEnd"
