"""Recurring series in the Microsoft Graph emulator behave as Graph v1.0 documents them.

Every series is created as a user would create it, with `POST …/events` and a `recurrence`;
what `calendarView` then shows is compared, instant by instant, with `recurring-ical-events`
expanding the equivalent RRULE (written by hand for each case) in the IANA zone the Windows
zone stands for.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import pytest
import recurring_ical_events

from emulators.graph import GraphEmulator
from tests.fixtures.graph import GraphClient, WebhookReceiver, graph_http_session, reset_graph

ROOM = "room-a@rooms.example.org"
EVENTS = f"/users/{ROOM}/events"
PROP = "String {66f5a359-4659-4830-9070-00047ec6ac6e} Name calbridgeLink"
UTC = dt.UTC


def series_body(start: str, end: str, zone: str, pattern: dict[str, Any],
                range_: dict[str, Any], subject: str = "Series", **extra: Any) -> dict:
    """A POST …/events body for a recurring event (dates as local ISO text in ``zone``)."""
    return {"subject": subject, "body": {"contentType": "text", "content": "Agenda"},
            "start": {"dateTime": start, "timeZone": zone},
            "end": {"dateTime": end, "timeZone": zone},
            "location": {"displayName": "Room A"},
            "recurrence": {"pattern": pattern, "range": range_}, **extra}


def create(graph: GraphClient, body: dict[str, Any]) -> dict:
    answer = graph.post(EVENTS, json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()


def window(start: str, end: str) -> dict[str, str]:
    return {"startDateTime": start, "endDateTime": end}


def listed(graph: GraphClient, path: str, params: dict[str, str], **headers: str) -> list[dict]:
    """Every item of a paged collection (following @odata.nextLink)."""
    items: list[dict] = []
    answer = graph.get(path, params={**params, "$top": "7"}, headers=headers)
    for _ in range(200):
        assert answer.status_code == 200, answer.text
        items += answer.json()["value"]
        link = answer.json().get("@odata.nextLink")
        if not link:
            return items
        answer = graph.http.get(link, headers=graph.headers(**headers), timeout=15)
    raise AssertionError("paging did not end")


def calendar_view(graph: GraphClient, start: str, end: str, **headers: str) -> list[dict]:
    return listed(graph, f"/users/{ROOM}/calendarView", window(start, end), **headers)


def instants(items: list[dict]) -> list[tuple[dt.datetime, dt.datetime]]:
    """(start, end) of timed events answered in UTC."""
    def moment(value: dict[str, str]) -> dt.datetime:
        assert value["timeZone"] == "UTC"
        return dt.datetime.fromisoformat(value["dateTime"][:19]).replace(tzinfo=UTC)
    return sorted((moment(e["start"]), moment(e["end"])) for e in items)


def expected(rrule: str, start: str, end: str, zone: str, since: str, until: str
             ) -> list[tuple[dt.datetime, dt.datetime]]:
    """What recurring-ical-events makes of the RRULE, as UTC (start, end) pairs."""
    text = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calbridge tests//EN\r\n"
        "BEGIN:VEVENT\r\nUID:series@test\r\nDTSTAMP:20250101T000000Z\r\n"
        f"DTSTART;TZID={zone}:{start}\r\nDTEND;TZID={zone}:{end}\r\nRRULE:{rrule}\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n")
    calendar = icalendar.Calendar.from_ical(text)
    found = recurring_ical_events.of(calendar).between(
        dt.datetime.fromisoformat(since), dt.datetime.fromisoformat(until))
    pairs = []
    for event in found:
        begin, finish = event["DTSTART"].dt, event["DTEND"].dt
        assert begin.tzinfo is not None and ZoneInfo(zone)  # really zoned, not floating
        pairs.append((begin.astimezone(UTC), finish.astimezone(UTC)))
    return sorted(pairs)


# expansion, compared with RFC 5545 ---------------------------------------------------------------

CASES = [
    pytest.param(  # across the spring change in Europe (30 March)
        "W. Europe Standard Time", "2025-03-20T09:00:00", "2025-03-20T09:30:00",
        {"type": "daily", "interval": 2},
        {"type": "numbered", "startDate": "2025-03-20", "numberOfOccurrences": 10},
        "Europe/Oslo", "20250320T090000", "20250320T093000", "FREQ=DAILY;INTERVAL=2;COUNT=10",
        "2025-03-01T00:00:00+00:00", "2025-05-01T00:00:00+00:00", id="daily-numbered-oslo"),
    pytest.param(  # across the autumn change in the US (2 November); endDate inclusive
        "Eastern Standard Time", "2025-10-01T09:00:00", "2025-10-01T10:15:00",
        {"type": "weekly", "interval": 2, "daysOfWeek": ["monday", "Wednesday"],
         "firstDayOfWeek": "monday"},
        {"type": "endDate", "startDate": "2025-10-01", "endDate": "2025-11-26"},
        "America/New_York", "20251001T090000", "20251001T101500",
        "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE;WKST=MO;UNTIL=20251127T045959Z",
        "2025-09-01T00:00:00+00:00", "2026-01-01T00:00:00+00:00", id="weekly-enddate-eastern"),
    pytest.param(  # day 31 falls on each month's last day, as Outlook does; Sydney's DST
        "AUS Eastern Standard Time", "2025-01-31T18:00:00", "2025-01-31T19:00:00",
        {"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 31},
        {"type": "noEnd", "startDate": "2025-01-31"},
        "Australia/Sydney", "20250131T180000", "20250131T190000",
        "FREQ=MONTHLY;BYMONTHDAY=28,29,30,31;BYSETPOS=-1",
        "2025-01-01T00:00:00+00:00", "2026-01-01T00:00:00+00:00", id="absmonthly-31-sydney"),
    pytest.param(
        "W. Europe Standard Time", "2025-02-11T14:00:00", "2025-02-11T15:00:00",
        {"type": "relativeMonthly", "interval": 1, "daysOfWeek": ["tuesday"],
         "index": "second"},
        {"type": "numbered", "startDate": "2025-02-11", "numberOfOccurrences": 8},
        "Europe/Oslo", "20250211T140000", "20250211T150000",
        "FREQ=MONTHLY;BYDAY=TU;BYSETPOS=2;COUNT=8",
        "2025-01-01T00:00:00+00:00", "2026-01-01T00:00:00+00:00", id="relmonthly-second-tue"),
    pytest.param(  # several days: the last day of the month that is either
        "Eastern Standard Time", "2025-01-31T08:30:00", "2025-01-31T09:00:00",
        {"type": "relativeMonthly", "interval": 2, "daysOfWeek": ["friday", "thursday"],
         "index": "last"},
        {"type": "endDate", "startDate": "2025-01-31", "endDate": "2025-12-31"},
        "America/New_York", "20250131T083000", "20250131T090000",
        "FREQ=MONTHLY;INTERVAL=2;BYDAY=TH,FR;BYSETPOS=-1;UNTIL=20260101T045959Z",
        "2025-01-01T00:00:00+00:00", "2026-02-01T00:00:00+00:00", id="relmonthly-last-thu-fri"),
    pytest.param(  # 29 February: 28 February in common years (CDO / Outlook)
        "Eastern Standard Time", "2024-02-29T10:00:00", "2024-02-29T11:00:00",
        {"type": "absoluteYearly", "interval": 1, "dayOfMonth": 29, "month": 2},
        {"type": "endDate", "startDate": "2024-02-29", "endDate": "2032-12-31"},
        "America/New_York", "20240229T100000", "20240229T110000",
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=28,29;BYSETPOS=-1;UNTIL=20330101T045959Z",
        "2024-01-01T00:00:00+00:00", "2034-01-01T00:00:00+00:00", id="absyearly-feb29"),
    pytest.param(
        "AUS Eastern Standard Time", "2025-11-26T07:45:00", "2025-11-26T08:45:00",
        {"type": "relativeYearly", "interval": 1, "daysOfWeek": ["wednesday"],
         "index": "last", "month": 11},
        {"type": "noEnd", "startDate": "2025-11-26"},
        "Australia/Sydney", "20251126T074500", "20251126T084500",
        "FREQ=YEARLY;BYMONTH=11;BYDAY=-1WE",
        "2025-01-01T00:00:00+00:00", "2031-01-01T00:00:00+00:00", id="relyearly-last-wed-nov"),
]


@pytest.mark.parametrize(
    "zone,start,end,pattern,range_,iana,dtstart,dtend,rrule,since,until", CASES)
def test_calendar_view_expands_every_pattern_and_range_like_rfc5545(
        graph: GraphClient, zone: str, start: str, end: str, pattern: dict, range_: dict,
        iana: str, dtstart: str, dtend: str, rrule: str, since: str, until: str) -> None:
    master = create(graph, series_body(start, end, zone, pattern, range_))
    assert master["type"] == "seriesMaster"
    shown = calendar_view(graph, since, until)
    assert shown, "the series shows no occurrences"
    assert {e["type"] for e in shown} == {"occurrence"}
    assert {e["seriesMasterId"] for e in shown} == {master["id"]}
    assert all(e["originalStart"] == e["start"]["dateTime"][:19] + "Z" for e in shown)
    assert instants(shown) == expected(rrule, dtstart, dtend, iana, since, until)


def test_a_series_stays_at_its_local_time_across_dst(graph: GraphClient) -> None:
    create(graph, series_body(
        "2025-03-24T09:00:00", "2025-03-24T10:00:00", "W. Europe Standard Time",
        {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
        {"type": "numbered", "startDate": "2025-03-24", "numberOfOccurrences": 3}))
    local = calendar_view(graph, "2025-03-20T00:00:00Z", "2025-04-10T00:00:00Z",
                          Prefer='outlook.timezone="W. Europe Standard Time"')
    assert [e["start"]["dateTime"] for e in local] == [
        "2025-03-24T09:00:00.0000000", "2025-03-31T09:00:00.0000000",
        "2025-04-07T09:00:00.0000000"]
    in_utc = calendar_view(graph, "2025-03-20T00:00:00Z", "2025-04-10T00:00:00Z")
    assert [e["start"]["dateTime"][11:16] for e in in_utc] == ["08:00", "07:00", "07:00"]


def test_an_all_day_series_stays_all_day(graph: GraphClient) -> None:
    body = series_body("2025-03-07T00:00:00", "2025-03-08T00:00:00", "W. Europe Standard Time",
                       {"type": "weekly", "interval": 1, "daysOfWeek": ["friday"]},
                       {"type": "numbered", "startDate": "2025-03-07",
                        "numberOfOccurrences": 5}, isAllDay=True)
    create(graph, body)
    shown = calendar_view(graph, "2025-03-01T00:00:00Z", "2025-05-01T00:00:00Z")
    cal = icalendar.Calendar.from_ical(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:a@t\r\n"
        "DTSTAMP:20250101T000000Z\r\nDTSTART;VALUE=DATE:20250307\r\n"
        "DTEND;VALUE=DATE:20250308\r\nRRULE:FREQ=WEEKLY;BYDAY=FR;COUNT=5\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n")
    days = recurring_ical_events.of(cal).between(dt.date(2025, 3, 1), dt.date(2025, 5, 1))
    assert all(e["isAllDay"] for e in shown)
    assert [(e["start"]["dateTime"], e["end"]["dateTime"]) for e in shown] == [
        (f"{d['DTSTART'].dt.isoformat()}T00:00:00.0000000",
         f"{d['DTEND'].dt.isoformat()}T00:00:00.0000000") for d in days]


def test_a_no_end_series_is_expanded_only_over_the_window_asked_for(graph: GraphClient) -> None:
    create(graph, series_body(
        "2025-01-01T12:00:00", "2025-01-01T12:15:00", "UTC",
        {"type": "daily", "interval": 1}, {"type": "noEnd", "startDate": "2025-01-01"}))
    far = calendar_view(graph, "2400-06-01T00:00:00Z", "2400-06-04T00:00:00Z")
    assert [e["start"]["dateTime"][:16] for e in far] == [
        "2400-06-01T12:00", "2400-06-02T12:00", "2400-06-03T12:00"]


def test_a_master_off_its_pattern_starts_on_the_first_occurrence(graph: GraphClient) -> None:
    # The docs' example: first Thursday every other month from 29 August 2017 → September.
    master = create(graph, series_body(
        "2017-08-29T14:00:00", "2017-08-29T15:00:00", "UTC",
        {"type": "relativeMonthly", "interval": 2, "daysOfWeek": ["thursday"],
         "index": "first"}, {"type": "noEnd", "startDate": "2017-08-29"}))
    assert master["start"]["dateTime"] == "2017-09-07T14:00:00.0000000"
    assert master["recurrence"]["range"] == {
        "type": "noEnd", "startDate": "2017-09-07", "endDate": "0001-01-01",
        "recurrenceTimeZone": "UTC", "numberOfOccurrences": 0}
    assert master["recurrence"]["pattern"] == {
        "type": "relativeMonthly", "interval": 2, "month": 0, "dayOfMonth": 0,
        "daysOfWeek": ["thursday"], "firstDayOfWeek": "sunday", "index": "first"}


@pytest.mark.parametrize("pattern,range_,code", [
    ({"type": "weekly", "interval": 1}, {"type": "noEnd", "startDate": "2025-03-03"},
     "ErrorInvalidRecurrencePattern"),
    ({"type": "daily", "interval": 0}, {"type": "noEnd", "startDate": "2025-03-03"},
     "ErrorInvalidRecurrencePattern"),
    ({"type": "absoluteMonthly", "interval": 1}, {"type": "noEnd", "startDate": "2025-03-03"},
     "ErrorInvalidRecurrencePattern"),
    ({"type": "absoluteYearly", "interval": 1, "dayOfMonth": 3},
     {"type": "noEnd", "startDate": "2025-03-03"}, "ErrorInvalidRecurrencePattern"),
    ({"type": "daily", "interval": 1}, {"type": "noEnd"}, "ErrorInvalidRecurrenceRange"),
    ({"type": "daily", "interval": 1}, {"type": "noEnd", "startDate": "2025-03-04"},
     "ErrorInvalidRecurrenceRange"),
    ({"type": "daily", "interval": 1},
     {"type": "endDate", "startDate": "2025-03-03", "endDate": "2025-03-01"},
     "ErrorInvalidRecurrenceRange"),
    ({"type": "daily", "interval": 1}, {"type": "endDate", "startDate": "2025-03-03"},
     "ErrorInvalidRecurrenceRange"),
    ({"type": "daily", "interval": 1}, {"type": "numbered", "startDate": "2025-03-03"},
     "ErrorInvalidRecurrenceRange"),
    ({"type": "daily", "interval": 1},
     {"type": "endDate", "startDate": "2025-03-03", "endDate": "4600-01-01"},
     "ErrorRecurrenceEndDateTooBig"),
    ({"type": "fortnightly", "interval": 1}, {"type": "noEnd", "startDate": "2025-03-03"},
     "RequestBodyRead"),
    ({"type": "daily", "interval": 1}, {"type": "noEnd", "startDate": "03/03/2025"},
     "UnableToDeserializePostBody"),
])
def test_invalid_recurrences_are_refused_as_graph_refuses_them(
        graph: GraphClient, pattern: dict, range_: dict, code: str) -> None:
    answer = graph.post(EVENTS, json=series_body(
        "2025-03-03T09:00:00", "2025-03-03T10:00:00", "UTC", pattern, range_))
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == code
    assert graph.get(EVENTS).json()["value"] == []


# ids, reads, instances ------------------------------------------------------------------------

WEEKLY = ("2025-03-03T09:00:00", "2025-03-03T10:00:00", "W. Europe Standard Time",
          {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
          {"type": "numbered", "startDate": "2025-03-03", "numberOfOccurrences": 6})
MARCH = ("2025-03-01T00:00:00Z", "2025-04-15T00:00:00Z")


def weekly_series(graph: GraphClient, **extra: Any) -> tuple[dict, list[dict]]:
    """A six-Monday series from 3 March 2025 and its occurrences."""
    master = create(graph, series_body(*WEEKLY, subject="Weekly", **extra))
    shown = [e for e in calendar_view(graph, *MARCH) if e["seriesMasterId"] == master["id"]]
    assert len(shown) == 6
    return master, shown


def test_occurrence_ids_are_stable_distinct_and_readable(graph: GraphClient) -> None:
    master, shown = weekly_series(graph, singleValueExtendedProperties=[
        {"id": PROP, "value": "link-1"}])
    ids = [e["id"] for e in shown]
    assert len(set(ids)) == 6 and master["id"] not in ids
    assert [e["id"] for e in calendar_view(graph, *MARCH)] == ids
    assert len({e["iCalUId"] for e in shown} | {master["iCalUId"]}) == 7
    immutable = calendar_view(graph, *MARCH, Prefer='IdType="ImmutableId"')
    assert {e["seriesMasterId"] for e in immutable} != {master["id"]}
    assert not {e["id"] for e in immutable} & set(ids)

    one = graph.get(f"{EVENTS}/{ids[2]}", params={
        "$expand": f"singleValueExtendedProperties($filter=id eq '{PROP}')"}).json()
    assert one["type"] == "occurrence" and one["seriesMasterId"] == master["id"]
    assert one["originalStart"] == "2025-03-17T08:00:00Z"
    assert one["originalStartTimeZone"] == "W. Europe Standard Time"
    assert one["subject"] == "Weekly" and one["recurrence"] is None
    assert one["singleValueExtendedProperties"] == [{"id": PROP, "value": "link-1"}]
    by_immutable = graph.get(f"{EVENTS}/{immutable[2]['id']}").json()
    assert by_immutable["start"] == one["start"]
    assert by_immutable["seriesMasterId"] == master["id"]  # no Prefer: REST ids


def test_event_lists_show_masters_not_occurrences_and_filter_by_marker(
        graph: GraphClient) -> None:
    master, _ = weekly_series(graph, singleValueExtendedProperties=[
        {"id": PROP, "value": "link-7"}])
    listed_events = graph.get(EVENTS).json()["value"]
    assert [(e["id"], e["type"]) for e in listed_events] == [(master["id"], "seriesMaster")]
    found = graph.get(EVENTS, params={
        "$filter": f"singleValueExtendedProperties/Any(ep: ep/id eq '{PROP}' and "
                   "ep/value eq 'link-7')"}).json()["value"]
    assert [e["id"] for e in found] == [master["id"]]


@pytest.mark.parametrize("base", [EVENTS, f"/users/{ROOM}/calendar/events", "calendar"])
def test_instances_lists_occurrences_and_exceptions_in_the_window(
        graph: GraphClient, base: str) -> None:
    master, shown = weekly_series(graph)
    if base == "calendar":
        cal_id = graph.get(f"/users/{ROOM}/calendar").json()["id"]
        base = f"/users/{ROOM}/calendars/{cal_id}/events"
    assert graph.patch(f"{base}/{shown[1]['id']}", json={"subject": "Moved"}).status_code == 200
    path = f"{base}/{master['id']}/instances"
    items = listed(graph, path, window("2025-03-05T00:00:00Z", "2025-04-15T00:00:00Z"))
    assert [e["id"] for e in items] == [e["id"] for e in shown[1:]]
    assert [e["type"] for e in items] == ["exception"] + ["occurrence"] * 4
    missing = graph.get(path, params={"startDateTime": "2025-03-05T00:00:00Z"})
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "ErrorInvalidParameter"


def test_batch_reads_occurrences(graph: GraphClient) -> None:
    _, shown = weekly_series(graph)
    requests_ = [{"id": str(n), "method": "GET", "url": f"{EVENTS}/{e['id']}"}
                 for n, e in enumerate(shown[:3])]
    answer = graph.post("/$batch", json={"requests": requests_}).json()["responses"]
    assert [(r["status"], r["body"]["id"]) for r in sorted(answer, key=lambda r: r["id"])] == [
        (200, e["id"]) for e in shown[:3]]


# changes to one occurrence -------------------------------------------------------------------


def test_patching_an_occurrence_makes_an_exception(graph: GraphClient) -> None:
    master, shown = weekly_series(graph)
    target = shown[2]["id"]
    moved = graph.patch(f"{EVENTS}/{target}", json={
        "subject": "Special", "start": {"dateTime": "2025-03-18T13:00:00",
                                        "timeZone": "W. Europe Standard Time"},
        "end": {"dateTime": "2025-03-18T14:00:00", "timeZone": "W. Europe Standard Time"}})
    assert moved.status_code == 200, moved.text
    body = moved.json()
    assert (body["id"], body["type"], body["subject"]) == (target, "exception", "Special")
    assert body["originalStart"] == "2025-03-17T08:00:00Z"
    assert body["start"]["dateTime"] == "2025-03-18T12:00:00.0000000"
    assert body["location"]["displayName"] == "Room A"  # still the master's
    after = calendar_view(graph, *MARCH)
    assert [e["type"] for e in after].count("exception") == 1
    assert [e["subject"] for e in after] == ["Weekly"] * 2 + ["Special"] + ["Weekly"] * 3
    crossing = graph.patch(f"{EVENTS}/{target}", json={
        "start": {"dateTime": "2025-03-24T13:00:00", "timeZone": "W. Europe Standard Time"},
        "end": {"dateTime": "2025-03-24T14:00:00", "timeZone": "W. Europe Standard Time"}})
    assert crossing.status_code == 400
    assert crossing.json()["error"]["code"] == "ErrorOccurrenceCrossingBoundary"
    assert graph.get(f"{EVENTS}/{master['id']}").json()["type"] == "seriesMaster"


@pytest.mark.parametrize("how", ["delete", "cancel"])
def test_deleting_an_occurrence_cancels_only_that_one(graph: GraphClient, how: str) -> None:
    master, shown = weekly_series(graph)
    target = shown[3]["id"]
    if how == "delete":
        assert graph.delete(f"{EVENTS}/{target}").status_code == 204
    else:
        assert graph.post(f"{EVENTS}/{target}/cancel", json={"comment": "off"}).status_code == 202
    gone = graph.get(f"{EVENTS}/{target}")
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "ErrorItemNotFound"
    assert [e["id"] for e in calendar_view(graph, *MARCH)] == [
        e["id"] for n, e in enumerate(shown) if n != 3]
    instances = listed(graph, f"{EVENTS}/{master['id']}/instances", window(*MARCH))
    assert target not in {e["id"] for e in instances} and len(instances) == 5
    assert graph.get(f"{EVENTS}/{master['id']}").status_code == 200


# changes to the master -------------------------------------------------------------------------


def test_master_field_edits_show_in_every_occurrence_but_not_over_exceptions(
        graph: GraphClient) -> None:
    master, shown = weekly_series(graph)
    graph.patch(f"{EVENTS}/{shown[0]['id']}", json={"subject": "Kick-off"})
    edited = graph.patch(f"{EVENTS}/{master['id']}", json={
        "subject": "Weekly review", "location": {"displayName": "Room B"}})
    assert edited.status_code == 200
    after = calendar_view(graph, *MARCH)
    assert [e["subject"] for e in after] == ["Kick-off"] + ["Weekly review"] * 5
    assert {e["location"]["displayName"] for e in after} == {"Room B"}
    assert [e["id"] for e in after] == [e["id"] for e in shown]
    assert after[0]["type"] == "exception"


def test_changing_the_pattern_regenerates_the_series(graph: GraphClient) -> None:
    master, shown = weekly_series(graph)
    graph.patch(f"{EVENTS}/{shown[1]['id']}", json={"subject": "Exception"})
    assert graph.delete(f"{EVENTS}/{shown[2]['id']}").status_code == 204
    changed = graph.patch(f"{EVENTS}/{master['id']}", json={"recurrence": {
        "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday", "thursday"]},
        "range": {"type": "endDate", "startDate": "2025-03-03", "endDate": "2025-03-20"}}})
    assert changed.status_code == 200, changed.text
    after = calendar_view(graph, *MARCH)
    # Outlook drops the exceptions (and cancellations) of a series whose pattern changes
    assert [(e["start"]["dateTime"][:10], e["type"], e["subject"]) for e in after] == [
        ("2025-03-03", "occurrence", "Weekly"), ("2025-03-06", "occurrence", "Weekly"),
        ("2025-03-10", "occurrence", "Weekly"), ("2025-03-13", "occurrence", "Weekly"),
        ("2025-03-17", "occurrence", "Weekly"), ("2025-03-20", "occurrence", "Weekly")]
    assert {e["id"] for e in after} >= {shown[0]["id"], shown[1]["id"], shown[2]["id"]}


def test_deleting_the_master_removes_the_series(graph: GraphClient) -> None:
    master, shown = weekly_series(graph)
    assert graph.delete(f"{EVENTS}/{master['id']}").status_code == 204
    assert calendar_view(graph, *MARCH) == []
    assert graph.get(f"{EVENTS}/{shown[0]['id']}").status_code == 404


# delta -------------------------------------------------------------------------------------------


def delta_round(graph: GraphClient, link: str | None = None) -> tuple[list[dict], str]:
    """One delta round: every item of every page, and the deltaLink."""
    if link is None:
        answer = graph.get(f"/users/{ROOM}/calendarView/delta", params=window(*MARCH),
                           headers={"Prefer": "odata.maxpagesize=4"})
    else:
        answer = graph.http.get(link, headers=graph.headers(Prefer="odata.maxpagesize=4"),
                                timeout=15)
    items: list[dict] = []
    for _ in range(100):
        assert answer.status_code == 200, answer.text
        items += answer.json()["value"]
        if "@odata.deltaLink" in answer.json():
            return items, answer.json()["@odata.deltaLink"]
        answer = graph.http.get(answer.json()["@odata.nextLink"],
                                headers=graph.headers(Prefer="odata.maxpagesize=4"), timeout=15)
    raise AssertionError("delta round did not end")


def changes(items: list[dict]) -> tuple[set[str], set[str]]:
    return ({i["id"] for i in items if "@removed" not in i},
            {i["id"] for i in items if "@removed" in i})


def test_delta_reports_each_series_change(graph: GraphClient) -> None:
    single = graph.post(EVENTS, json={
        "subject": "One-off", "start": {"dateTime": "2025-03-05T09:00:00", "timeZone": "UTC"},
        "end": {"dateTime": "2025-03-05T10:00:00", "timeZone": "UTC"}}).json()
    master, shown = weekly_series(graph)
    ids = [e["id"] for e in shown]
    first, link = delta_round(graph)
    assert changes(first) == ({single["id"], *ids}, set())
    assert {i["type"] for i in first} == {"singleInstance", "occurrence"}  # never the master

    graph.patch(f"{EVENTS}/{ids[1]}", json={"subject": "Changed"})
    items, link = delta_round(graph, link)
    assert changes(items) == ({ids[1]}, set()) and items[0]["type"] == "exception"

    graph.delete(f"{EVENTS}/{ids[2]}")
    items, link = delta_round(graph, link)
    assert changes(items) == (set(), {ids[2]})

    graph.patch(f"{EVENTS}/{master['id']}", json={"body": {"contentType": "text",
                                                            "content": "New agenda"}})
    items, link = delta_round(graph, link)
    assert changes(items) == ({ids[0], ids[1], *ids[3:]}, set())
    assert {i["body"]["content"] for i in items} == {"New agenda"}

    graph.patch(f"{EVENTS}/{master['id']}", json={"recurrence": {
        "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
        "range": {"type": "numbered", "startDate": "2025-03-03", "numberOfOccurrences": 4}}})
    items, link = delta_round(graph, link)
    # the cancelled third Monday comes back; the last two are gone
    assert changes(items) == (set(ids[:4]), set(ids[4:]))

    graph.delete(f"{EVENTS}/{master['id']}")
    items, link = delta_round(graph, link)
    assert changes(items) == (set(), set(ids[:4]))
    items, _ = delta_round(graph, link)
    assert items == []


# notifications, persistence ------------------------------------------------------------------


def test_series_changes_notify_the_master(graph: GraphClient,
                                          webhook_receiver: WebhookReceiver) -> None:
    expiry = dt.datetime.now(UTC) + dt.timedelta(days=1)
    created = graph.post("/subscriptions", json={
        "changeType": "created,updated,deleted", "resource": f"users/{ROOM}/events",
        "notificationUrl": f"{webhook_receiver.url}/notify", "clientState": "s",
        "expirationDateTime": expiry.isoformat().replace("+00:00", "Z")})
    assert created.status_code == 201, created.text
    master, shown = weekly_series(graph)
    graph.patch(f"{EVENTS}/{shown[0]['id']}", json={"subject": "Exception"})
    graph.delete(f"{EVENTS}/{shown[1]['id']}")
    graph.delete(f"{EVENTS}/{master['id']}")
    received = webhook_receiver.wait_for(4)
    named = sorted((n["value"][0]["changeType"], n["value"][0]["resourceData"]["id"])
                   for n in received)
    assert named == sorted([("created", master["id"]), ("updated", master["id"]),
                            ("updated", master["id"]), ("deleted", master["id"])])


def test_series_exceptions_and_cancellations_survive_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "events.json"
    with GraphEmulator(port=0, cert_dir=tmp_path / "certs", state_file=state) as first:
        graph = reset_graph(first)
        try:
            master, shown = weekly_series(graph)
            graph.patch(f"{EVENTS}/{shown[0]['id']}", json={"subject": "Exception"})
            graph.delete(f"{EVENTS}/{shown[1]['id']}")
            before = calendar_view(graph, *MARCH)
        finally:
            graph.http.close()
    with GraphEmulator(port=0, cert_dir=tmp_path / "certs", state_file=state) as second:
        assert second.service is not None
        token = second.service.identity.issue_token()
        again = GraphClient(second, graph_http_session(second), token)
        try:
            after = calendar_view(again, *MARCH)
            assert [(e["id"], e["type"], e["subject"], e["start"]) for e in after] == [
                (e["id"], e["type"], e["subject"], e["start"]) for e in before]
            assert len(after) == 5 and after[0]["type"] == "exception"
            assert again.get(f"{EVENTS}/{shown[1]['id']}").status_code == 404
            assert again.get(f"{EVENTS}/{master['id']}").json()["type"] == "seriesMaster"
        finally:
            again.http.close()


def test_moving_the_master_moves_every_occurrence_and_delta_reports_them(
        graph: GraphClient) -> None:
    master, shown = weekly_series(graph)
    _, link = delta_round(graph)
    moved = graph.patch(f"{EVENTS}/{master['id']}", json={
        "start": {"dateTime": "2025-03-03T11:00:00", "timeZone": "W. Europe Standard Time"},
        "end": {"dateTime": "2025-03-03T12:30:00", "timeZone": "W. Europe Standard Time"}})
    assert moved.status_code == 200, moved.text
    after = calendar_view(graph, *MARCH, Prefer='outlook.timezone="W. Europe Standard Time"')
    assert [e["id"] for e in after] == [e["id"] for e in shown]  # same dates, same ids
    assert {(e["start"]["dateTime"][11:16], e["end"]["dateTime"][11:16]) for e in after} == {
        ("11:00", "12:30")}
    items, _ = delta_round(graph, link)
    assert changes(items) == ({e["id"] for e in shown}, set())
