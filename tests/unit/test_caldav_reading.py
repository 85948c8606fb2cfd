"""Resources as other CalDAV clients write them. A property calbridge cannot read: an
optional one (LAST-MODIFIED) is read as missing, one the event needs makes the resource
fail alone, with an error naming it and the property. Series of RDATEs alone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from calbridge.bridges.base import TimeWindow
from calbridge.bridges.caldav.convert import occurrences, parse_resource, reading, series_event
from calbridge.errors import UpstreamError

WINDOW = TimeWindow(start=datetime(2026, 12, 1, tzinfo=UTC),
                    end=datetime(2027, 12, 1, tzinfo=UTC))


def resource(*lines: str, start: str = "DTSTART:20270110T100000Z") -> str:
    return "\r\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Other//Client//EN",
                        "BEGIN:VEVENT", "UID:u1", "DTSTAMP:20261204T100000Z", start,
                        "DTEND:20270110T110000Z", "SUMMARY:Chor", *lines, "END:VEVENT",
                        "END:VCALENDAR", ""])


@pytest.mark.parametrize("lines", [
    ["LAST-MODIFIED:2026-12-04 20:09:29.820972"],
    ["LAST-MODIFIED:20261204T100000Z", "LAST-MODIFIED:20261204T110000Z"],
    ["LAST-MODIFIED:20261204"],
])
def test_a_last_modified_that_cannot_be_read_is_left_out(lines: list[str]) -> None:
    event = series_event(parse_resource("a.ics", '"1"', resource(*lines)), "/cal/")
    assert (event.title, event.last_modified) == ("Chor", None)
    assert event.start == datetime(2027, 1, 10, 10, tzinfo=UTC)


def test_a_readable_last_modified_is_kept() -> None:
    event = series_event(parse_resource("a.ics", '"1"', resource(
        "LAST-MODIFIED:20261204T100000Z")), "/cal/")
    assert event.last_modified == datetime(2026, 12, 4, 10, tzinfo=UTC)


@pytest.mark.parametrize(("lines", "start", "named"), [
    ([], "DTSTART:2027-01-10 10:00", "DTSTART"),
    (["RRULE:FREQ=WEEKLY;COUNT=3", "EXDATE:next tuesday"], "DTSTART:20270110T100000Z",
     "EXDATE"),
    (["RRULE:FREQ=SOMETIMES"], "DTSTART:20270110T100000Z", "SOMETIMES"),
])
def test_a_resource_whose_times_cannot_be_read_fails_alone_naming_why(
        lines: list[str], start: str, named: str) -> None:
    parsed = parse_resource("b.ics", '"1"', resource(*lines, start=start))
    with pytest.raises(UpstreamError) as caught:
        with reading("b.ics"):
            occurrences(parsed, "/cal/", WINDOW)
    assert "'b.ics' cannot be read" in caught.value.message
    assert named in caught.value.message


def test_a_series_of_rdates_alone_starts_with_its_start() -> None:
    # RFC 5545 3.8.5.2: the recurrence set is DTSTART with the RDATEs, less the EXDATEs.
    text = resource("RDATE:20270111T100000Z,20270112T100000Z")
    starts = [e.start for e in occurrences(parse_resource("c.ics", '"1"', text), "/c/", WINDOW)]
    assert starts == [datetime(2027, 1, day, 10, tzinfo=UTC) for day in (10, 11, 12)]
    text = resource("RDATE:20270111T100000Z,20270112T100000Z", "EXDATE:20270110T100000Z")
    starts = [e.start for e in occurrences(parse_resource("c.ics", '"1"', text), "/c/", WINDOW)]
    assert starts == [datetime(2027, 1, day, 10, tzinfo=UTC) for day in (11, 12)]


@pytest.mark.parametrize("end", ["DTEND:20270110T090000Z", "DTEND;VALUE=DATE:20270111"])
def test_an_end_before_the_start_or_of_another_kind_fails_alone(end: str) -> None:
    text = resource().replace("DTEND:20270110T110000Z", end)
    with pytest.raises(UpstreamError) as caught:
        with reading("e.ics"):
            occurrences(parse_resource("e.ics", '"1"', text), "/c/", WINDOW)
    assert "DTEND is before its DTSTART" in caught.value.message
