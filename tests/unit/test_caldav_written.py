"""A resource calbridge has just created is kept from the object it was written from: it
reads exactly as the bytes it sent would, parsed back (which is what the server stores)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from calbridge.bridges.base import TimeWindow
from calbridge.bridges.caldav.convert import (
    new_resource,
    occurrences,
    parse_resource,
    serialise,
    series_event,
    written_resource,
)
from calbridge.model import Event, EventKind, EventStatus, Person, Recurrence

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 12, 4, 12, tzinfo=UTC)
WINDOW = TimeWindow(start=datetime(2026, 12, 1, tzinfo=UTC), end=datetime(2027, 12, 1, tzinfo=UTC))


def events() -> list[Event]:
    start = datetime(2027, 3, 8, 9, 0, tzinfo=BERLIN)
    return [
        Event(title="Plain", start=datetime(2027, 1, 5, 13, tzinfo=UTC),
              end=datetime(2027, 1, 5, 14, tzinfo=UTC), marker="m1"),
        Event(title="Réunion – 会議 <b>", description="Zeile 1\nZeile 2 ü" * 50,  # noqa: RUF001
              location="Saal 3; Haus B", start=start, end=start + timedelta(hours=1),
              timezone="Europe/Berlin", organizer=Person(name="Anna Ö", email="a@example.org"),
              marker="m2"),
        Event(title="Sprechstunde", kind=EventKind.SERIES, start=start,
              end=start + timedelta(hours=1), timezone="Europe/Berlin",
              recurrence=Recurrence(rrule="FREQ=WEEKLY;COUNT=8;BYDAY=MO",
                                    exdates=[start + timedelta(weeks=2)]), marker="m3"),
        Event(title="Tag der offenen Tür", start=date(2027, 5, 1), end=date(2027, 5, 2),
              all_day=True, marker="m4"),
        Event(title="Abgesagt", status=EventStatus.CANCELLED,
              start=datetime(2027, 2, 1, 8, tzinfo=UTC), end=datetime(2027, 2, 1, 9, tzinfo=UTC),
              marker="m5"),
    ]


@pytest.mark.parametrize("event", events(), ids=lambda e: e.title[:12])
def test_a_created_resource_reads_as_its_bytes_parsed_back(event: Event) -> None:
    calendar = new_resource(event, "uid@calbridge", NOW)
    body = serialise(calendar)
    kept = written_resource("res", "etag-1", calendar)
    parsed = parse_resource("res", "etag-1", body)
    assert series_event(kept, "cal") == series_event(parsed, "cal")
    assert occurrences(kept, "cal", WINDOW) == occurrences(parsed, "cal", WINDOW)
    assert kept.recurring == parsed.recurring
