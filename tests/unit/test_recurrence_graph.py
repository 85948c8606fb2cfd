"""Graph patternedRecurrence ⇄ RRULE: every pattern type and range type, exact both ways,
and the rules Outlook cannot carry refused with their reason."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from calbridge.errors import Inexpressible, ValidationFailed
from calbridge.recurrence import pattern_to_rrule, rrule_to_pattern

OSLO = "Europe/Oslo"
NEW_YORK = "America/New_York"


def at(zone: str, *fields: int) -> datetime:
    return datetime(*fields, tzinfo=ZoneInfo(zone))  # type: ignore[misc]


def noend(start: str, zone: str = OSLO) -> dict[str, Any]:
    return {"type": "noEnd", "startDate": start, "recurrenceTimeZone": zone}


# (name, series start, zone, RRULE, the patternedRecurrence calbridge POSTs for it)
CASES: list[tuple[str, datetime | date, str, str, dict[str, Any]]] = [
    ("daily", at(OSLO, 2025, 1, 6, 9), OSLO, "FREQ=DAILY",
     {"pattern": {"type": "daily", "interval": 1}, "range": noend("2025-01-06")}),
    ("every third day, ten times", at(OSLO, 2025, 1, 6, 9), OSLO, "FREQ=DAILY;INTERVAL=3;COUNT=10",
     {"pattern": {"type": "daily", "interval": 3},
      "range": {"type": "numbered", "startDate": "2025-01-06", "numberOfOccurrences": 10,
                "recurrenceTimeZone": OSLO}}),
    ("every other Monday and Wednesday until the end of March", at(OSLO, 2025, 1, 6, 9), OSLO,
     "FREQ=WEEKLY;INTERVAL=2;UNTIL=20250331T215959Z;BYDAY=MO,WE;WKST=SU",
     {"pattern": {"type": "weekly", "interval": 2, "daysOfWeek": ["monday", "wednesday"],
                  "firstDayOfWeek": "sunday"},
      "range": {"type": "endDate", "startDate": "2025-01-06", "endDate": "2025-03-31",
                "recurrenceTimeZone": OSLO}}),
    ("the 15th of every quarter", at(NEW_YORK, 2025, 1, 15, 14), NEW_YORK,
     "FREQ=MONTHLY;INTERVAL=3;BYMONTHDAY=15",
     {"pattern": {"type": "absoluteMonthly", "interval": 3, "dayOfMonth": 15},
      "range": noend("2025-01-15", NEW_YORK)}),
    ("the last day of every month", at(OSLO, 2025, 1, 31, 16), OSLO, "FREQ=MONTHLY;BYMONTHDAY=-1",
     {"pattern": {"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 31},
      "range": noend("2025-01-31")}),
    ("the 30th, or the last day of February", at(OSLO, 2025, 1, 30, 16), OSLO,
     "FREQ=MONTHLY;BYMONTHDAY=30,-1;BYSETPOS=1",
     {"pattern": {"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 30},
      "range": noend("2025-01-30")}),
    ("the second Thursday of every month, 12 times", at(OSLO, 2025, 1, 9, 10), OSLO,
     "FREQ=MONTHLY;COUNT=12;BYDAY=2TH",
     {"pattern": {"type": "relativeMonthly", "interval": 1, "daysOfWeek": ["thursday"],
                  "index": "second"},
      "range": {"type": "numbered", "startDate": "2025-01-09", "numberOfOccurrences": 12,
                "recurrenceTimeZone": OSLO}}),
    ("the last weekday of every other month", at(OSLO, 2025, 1, 31, 15), OSLO,
     "FREQ=MONTHLY;INTERVAL=2;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
     {"pattern": {"type": "relativeMonthly", "interval": 2,
                  "daysOfWeek": ["monday", "tuesday", "wednesday", "thursday", "friday"],
                  "index": "last"},
      "range": noend("2025-01-31")}),
    ("15 March every third year", at(OSLO, 2025, 3, 15, 12), OSLO,
     "FREQ=YEARLY;INTERVAL=3;BYMONTH=3;BYMONTHDAY=15",
     {"pattern": {"type": "absoluteYearly", "interval": 3, "dayOfMonth": 15, "month": 3},
      "range": noend("2025-03-15")}),
    ("29 February, or the 28th in common years", date(2024, 2, 29), OSLO,
     "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=-1",
     {"pattern": {"type": "absoluteYearly", "interval": 1, "dayOfMonth": 29, "month": 2},
      "range": noend("2024-02-29")}),
    ("the last Wednesday of November, all day, until 2030", date(2025, 11, 26), OSLO,
     "FREQ=YEARLY;UNTIL=20301231;BYMONTH=11;BYDAY=-1WE",
     {"pattern": {"type": "relativeYearly", "interval": 1, "daysOfWeek": ["wednesday"],
                  "index": "last", "month": 11},
      "range": {"type": "endDate", "startDate": "2025-11-26", "endDate": "2030-12-31",
                "recurrenceTimeZone": OSLO}}),
    ("the second Thursday or Friday of November", at(NEW_YORK, 2025, 11, 7, 8), NEW_YORK,
     "FREQ=YEARLY;BYMONTH=11;BYDAY=TH,FR;BYSETPOS=2",
     {"pattern": {"type": "relativeYearly", "interval": 1, "daysOfWeek": ["thursday", "friday"],
                  "index": "second", "month": 11},
      "range": noend("2025-11-07", NEW_YORK)}),
]


@pytest.mark.parametrize(("name", "start", "zone", "rrule", "recurrence"), CASES,
                         ids=[case[0] for case in CASES])
def test_a_rule_becomes_the_pattern_calbridge_posts(name: str, start: datetime | date,
                                                   zone: str, rrule: str,
                                                   recurrence: dict[str, Any]) -> None:
    assert rrule_to_pattern(rrule, start, zone) == recurrence


@pytest.mark.parametrize(("name", "start", "zone", "rrule", "recurrence"), CASES,
                         ids=[case[0] for case in CASES])
def test_a_pattern_becomes_its_rule(name: str, start: datetime | date, zone: str, rrule: str,
                                    recurrence: dict[str, Any]) -> None:
    assert pattern_to_rrule(recurrence, start, zone) == rrule


def test_a_pattern_as_graph_returns_it_reads_only_the_fields_its_type_uses() -> None:
    # Graph answers with every field, zeroed or defaulted, and a Windows zone name.
    returned = {
        "pattern": {"type": "weekly", "interval": 1, "month": 0, "dayOfMonth": 0,
                    "daysOfWeek": ["monday"], "firstDayOfWeek": "sunday", "index": "first"},
        "range": {"type": "endDate", "startDate": "2017-09-04", "endDate": "2017-12-31",
                  "recurrenceTimeZone": "Pacific Standard Time", "numberOfOccurrences": 0},
    }
    start = at("America/Los_Angeles", 2017, 9, 4, 13)
    rule = pattern_to_rrule(returned, start, "America/Los_Angeles")
    # The last second of 31 December in Los Angeles, in UTC.
    assert rule == "FREQ=WEEKLY;UNTIL=20180101T075959Z;BYDAY=MO;WKST=SU"


def test_days_are_read_whatever_their_case() -> None:
    posted = {"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["Thursday"]},
              "range": {"type": "noEnd", "startDate": "2025-01-09"}}
    assert pattern_to_rrule(posted, at(OSLO, 2025, 1, 9, 9), OSLO) == \
        "FREQ=WEEKLY;BYDAY=TH;WKST=SU"


def test_an_end_date_counts_an_occurrence_on_that_day_only_if_it_starts_by_until() -> None:
    start = at(OSLO, 2025, 1, 6, 9)  # 08:00 UTC
    on_time = rrule_to_pattern("FREQ=DAILY;UNTIL=20250110T080000Z", start, OSLO)
    too_early = rrule_to_pattern("FREQ=DAILY;UNTIL=20250110T075959Z", start, OSLO)
    assert on_time["range"]["endDate"] == "2025-01-10"
    assert too_early["range"]["endDate"] == "2025-01-09"


def test_a_start_in_another_zone_is_read_on_the_series_wall_clock() -> None:
    # 23:30 UTC on 5 January is 00:30 on the 6th in Oslo: the range starts on the 6th.
    start = datetime(2025, 1, 5, 23, 30, tzinfo=ZoneInfo("UTC"))
    pattern = rrule_to_pattern("FREQ=WEEKLY;BYDAY=MO", start, OSLO)
    assert pattern["range"]["startDate"] == "2025-01-06"


def test_every_weekday_written_as_a_daily_rule_is_a_weekly_pattern() -> None:
    pattern = rrule_to_pattern("FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR", at(OSLO, 2025, 1, 6, 9), OSLO)
    assert pattern["pattern"] == {
        "type": "weekly", "interval": 1, "firstDayOfWeek": "monday",
        "daysOfWeek": ["monday", "tuesday", "wednesday", "thursday", "friday"]}


REFUSED = [
    ("FREQ=HOURLY;INTERVAL=2", at(OSLO, 2025, 1, 6, 9), "Outlook has no hourly recurrence"),
    ("FREQ=MINUTELY", at(OSLO, 2025, 1, 6, 9), "Outlook has no minute-by-minute recurrence"),
    ("FREQ=MONTHLY;BYDAY=5MO", at(OSLO, 2025, 3, 31, 9),
     "Outlook counts weekdays in a month as first to fourth, or last"),
    ("FREQ=MONTHLY;BYDAY=MO,TU;BYSETPOS=-2", at(OSLO, 2025, 1, 27, 9),
     "Outlook counts weekdays in a month as first to fourth, or last"),
    ("FREQ=MONTHLY;BYDAY=MO;BYSETPOS=1,-1", at(OSLO, 2025, 1, 6, 9),
     "Outlook picks one day a month, not several"),
    ("FREQ=MONTHLY;BYMONTHDAY=1,15", at(OSLO, 2025, 1, 1, 9),
     "Outlook repeats a monthly series on one day of the month"),
    ("FREQ=MONTHLY;BYMONTHDAY=31", at(OSLO, 2025, 1, 31, 9),
     "Outlook moves the 31st to the last day of shorter months, which this rule skips"),
    ("FREQ=MONTHLY", at(OSLO, 2025, 1, 30, 9),
     "Outlook moves the 30th to the last day of shorter months, which this rule skips"),
    ("FREQ=YEARLY", date(2024, 2, 29),
     "Outlook moves 29 February to the 28th in common years, which this rule skips"),
    ("FREQ=YEARLY;BYWEEKNO=20;BYDAY=MO", at(OSLO, 2025, 5, 12, 9),
     "Outlook has no recurrence by week number"),
    ("FREQ=YEARLY;BYYEARDAY=100", at(OSLO, 2025, 4, 10, 9),
     "Outlook has no recurrence by day of the year"),
    ("FREQ=YEARLY;BYMONTH=1,7", at(OSLO, 2025, 1, 6, 9),
     "Outlook repeats a yearly series in one month only"),
    ("FREQ=MONTHLY;BYMONTH=1,2,3,9,10,11,12;BYDAY=3WE", at(OSLO, 2025, 1, 15, 9),
     "Outlook cannot limit a monthly series to some months"),
    ("FREQ=MONTHLY;BYMONTHDAY=13;BYDAY=FR", at(OSLO, 2025, 6, 13, 9),
     "Outlook cannot combine a day of the month with a weekday"),
    ("FREQ=DAILY;INTERVAL=2;BYDAY=MO,WE", at(OSLO, 2025, 1, 6, 9),
     "Outlook has no every-n-days series limited to some weekdays"),
    ("FREQ=DAILY;BYHOUR=9,15", at(OSLO, 2025, 1, 6, 9),
     "Outlook repeats a series once a day, at its start time"),
    ("RSCALE=HEBREW;FREQ=YEARLY", at(OSLO, 2025, 1, 6, 9),
     "Outlook has only the Gregorian calendar"),
    ("FREQ=WEEKLY;BYDAY=TU", at(OSLO, 2025, 1, 6, 9),
     "the series' start is not one of its rule's occurrences, and Outlook would drop it"),
]


@pytest.mark.parametrize(("rrule", "start", "reason"), REFUSED, ids=[r[0] for r in REFUSED])
def test_a_rule_outlook_cannot_carry_is_refused_with_its_reason(rrule: str,
                                                                start: datetime | date,
                                                                reason: str) -> None:
    with pytest.raises(Inexpressible) as refused:
        rrule_to_pattern(rrule, start, OSLO)
    assert refused.value.reason == reason
    assert isinstance(refused.value, ValidationFailed)


def test_a_rule_on_the_31st_that_only_visits_long_months_is_carried() -> None:
    pattern = rrule_to_pattern("FREQ=MONTHLY;INTERVAL=12;BYMONTHDAY=31",
                               at(OSLO, 2025, 1, 31, 9), OSLO)
    assert pattern["pattern"] == {"type": "absoluteMonthly", "interval": 12, "dayOfMonth": 31}


def test_a_rule_time_that_only_repeats_the_start_time_is_carried() -> None:
    pattern = rrule_to_pattern("FREQ=DAILY;BYHOUR=9;BYMINUTE=0", at(OSLO, 2025, 1, 6, 9), OSLO)
    assert pattern["pattern"] == {"type": "daily", "interval": 1}


def test_a_pattern_whose_start_it_skips_is_refused() -> None:
    # Graph's first occurrence would be Thursday; RFC 5545 would count the Monday too.
    posted = {"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["thursday"]},
              "range": {"type": "noEnd", "startDate": "2025-01-06"}}
    with pytest.raises(Inexpressible) as refused:
        pattern_to_rrule(posted, at(OSLO, 2025, 1, 6, 9), OSLO)
    assert refused.value.reason == "the series' start is not one of its pattern's occurrences"


@pytest.mark.parametrize("recurrence", [
    {"pattern": {"type": "fortnightly", "interval": 1}, "range": {"type": "noEnd"}},
    {"pattern": {"type": "weekly", "interval": 1, "daysOfWeek": []}, "range": {"type": "noEnd"}},
    {"pattern": {"type": "absoluteMonthly", "interval": 1, "dayOfMonth": 32},
     "range": {"type": "noEnd"}},
    {"pattern": {"type": "relativeMonthly", "interval": 1, "daysOfWeek": ["monday"],
                 "index": "fifth"}, "range": {"type": "noEnd"}},
    {"pattern": {"type": "daily", "interval": 1},
     "range": {"type": "numbered", "numberOfOccurrences": 0}},
    {"pattern": {"type": "daily", "interval": 1}, "range": {"type": "endDate", "endDate": "soon"}},
])
def test_malformed_graph_json_is_a_validation_error(recurrence: dict[str, Any]) -> None:
    with pytest.raises(ValidationFailed) as failed:
        pattern_to_rrule(recurrence, at(OSLO, 2025, 1, 6, 9), OSLO)
    assert not isinstance(failed.value, Inexpressible)


@pytest.mark.parametrize("rrule", [
    "FREQ=FORTNIGHTLY", "COUNT=3", "FREQ=DAILY;COUNT=2;UNTIL=20250101", "FREQ=DAILY;INTERVAL=0",
    "FREQ=MONTHLY;BYDAY=XX", "FREQ=DAILY;UNTIL=2025-01-01"])
def test_a_malformed_rule_is_a_validation_error(rrule: str) -> None:
    with pytest.raises(ValidationFailed) as failed:
        rrule_to_pattern(rrule, at(OSLO, 2025, 1, 6, 9), OSLO)
    assert not isinstance(failed.value, Inexpressible)
