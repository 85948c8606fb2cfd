"""Properties of the Graph conversion over random series: a rule Outlook can carry keeps
its occurrences through RRULE → pattern → RRULE (counted by recurring-ical-events), and
a Graph pattern survives pattern → RRULE → pattern."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dateutil import rrule as du
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from calbridge.recurrence import Rule, pattern_to_rrule, rrule_to_pattern
from calbridge.recurrence.graph import GRAPH_DAYS, INDEXES
from tests.fixtures.recurrence import Series, instants, reference_occurrences

ZONES = ["Europe/Oslo", "America/New_York", "Australia/Sydney", "UTC"]
CODES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
POSITIONS = [1, 2, 3, 4, -1]

day_sets = st.sets(st.integers(0, 6), min_size=1).map(sorted)
intervals = st.integers(1, 4)


def byday(days: list[int]) -> str:
    return ",".join(CODES[d] for d in days)


@st.composite
def expressible_rules(draw: st.DrawFn) -> str:
    """RRULEs of the shapes Outlook carries (without a range)."""
    n = draw(intervals)
    shape = draw(st.sampled_from(["daily", "weekdays", "weekly", "monthday", "monthlast",
                                  "month29", "nth", "setpos", "yearday", "yearlast",
                                  "yearnth", "yearsetpos"]))
    month = draw(st.integers(1, 12))
    if shape == "daily":
        return f"FREQ=DAILY;INTERVAL={n}"
    if shape == "weekdays":
        return f"FREQ=DAILY;BYDAY={byday(draw(day_sets))}"
    if shape == "weekly":
        wkst = draw(st.sampled_from(["", *[f";WKST={c}" for c in CODES]]))
        return f"FREQ=WEEKLY;INTERVAL={n};BYDAY={byday(draw(day_sets))}{wkst}"
    if shape == "monthday":
        return f"FREQ=MONTHLY;INTERVAL={n};BYMONTHDAY={draw(st.integers(1, 28))}"
    if shape == "monthlast":
        return f"FREQ=MONTHLY;INTERVAL={n};BYMONTHDAY=-1"
    if shape == "month29":
        return f"FREQ=MONTHLY;INTERVAL={n};BYMONTHDAY={draw(st.sampled_from([29, 30]))},-1;" \
               "BYSETPOS=1"
    if shape == "nth":
        return f"FREQ=MONTHLY;INTERVAL={n};BYDAY={draw(st.sampled_from(POSITIONS))}" \
               f"{CODES[draw(st.integers(0, 6))]}"
    if shape == "setpos":
        return f"FREQ=MONTHLY;INTERVAL={n};BYDAY={byday(draw(day_sets))};" \
               f"BYSETPOS={draw(st.sampled_from(POSITIONS))}"
    if shape == "yearday":
        last = calendar.monthrange(2023, month)[1]  # no 29 February: Outlook has none
        return f"FREQ=YEARLY;INTERVAL={n};BYMONTH={month};BYMONTHDAY={draw(st.integers(1, last))}"
    if shape == "yearlast":
        return f"FREQ=YEARLY;INTERVAL={n};BYMONTH={month};BYMONTHDAY=-1"
    if shape == "yearnth":
        return f"FREQ=YEARLY;INTERVAL={n};BYMONTH={month};" \
               f"BYDAY={draw(st.sampled_from(POSITIONS))}{CODES[draw(st.integers(0, 6))]}"
    return f"FREQ=YEARLY;INTERVAL={n};BYMONTH={month};BYDAY={byday(draw(day_sets))};" \
           f"BYSETPOS={draw(st.sampled_from(POSITIONS))}"


seeds = st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2027, 12, 31),
                     timezones=st.none()).map(lambda d: d.replace(second=0, microsecond=0))


def synchronised(rule: str, seed: datetime, zone: str, all_day: bool) -> datetime | date:
    """The rule's first occurrence from `seed`, as the series' start (RFC 5545 wants them
    synchronised, and Outlook drops a start its pattern skips)."""
    anchor = datetime.combine(seed.date(), time()) if all_day else seed
    first = du.rrulestr(rule, dtstart=anchor)[0]
    return first.date() if all_day else first.replace(tzinfo=ZoneInfo(zone))


def series(rule: str, start: datetime | date, zone: str) -> Series:
    all_day = not isinstance(start, datetime)
    end = start + (timedelta(days=1) if all_day else timedelta(minutes=45))
    return Series("random", rule, start, end, zone, all_day=all_day)


def reference_starts(rule: str, start: datetime | date, zone: str) -> list[datetime | date]:
    window_end = start + timedelta(days=2 * 366)
    found = reference_occurrences(series(rule, start, zone), start, window_end)
    return instants([s for s, _ in found])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rule=expressible_rules(), seed=seeds, zone=st.sampled_from(ZONES), all_day=st.booleans(),
       ending=st.sampled_from(["none", "count", "until"]), count=st.integers(1, 30),
       until_days=st.integers(0, 500), until_time=st.times())
def test_a_rule_outlook_carries_keeps_its_occurrences_through_a_pattern(
        rule: str, seed: datetime, zone: str, all_day: bool, ending: str, count: int,
        until_days: int, until_time: time) -> None:
    start = synchronised(rule, seed, zone, all_day)
    if ending == "count":
        rule += f";COUNT={count}"
    elif ending == "until":
        last = (start if all_day else start.date()) + timedelta(days=until_days)  # type: ignore[union-attr]
        if all_day:
            rule += f";UNTIL={last:%Y%m%d}"
        else:
            moment = datetime.combine(last, until_time.replace(microsecond=0), ZoneInfo(zone))
            assume(moment >= start)  # an UNTIL before the start leaves no series
            rule += f";UNTIL={moment.astimezone(UTC):%Y%m%dT%H%M%SZ}"
    pattern = rrule_to_pattern(rule, start, zone)
    back = pattern_to_rrule(pattern, start, zone)
    assert reference_starts(back, start, zone) == reference_starts(rule, start, zone)


@st.composite
def graph_patterns(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["daily", "weekly", "absoluteMonthly", "relativeMonthly",
                                 "absoluteYearly", "relativeYearly"]))
    pattern: dict[str, Any] = {"type": kind, "interval": draw(intervals)}
    month = draw(st.integers(1, 12))
    if kind in ("weekly", "relativeMonthly", "relativeYearly"):
        pattern["daysOfWeek"] = [GRAPH_DAYS[d] for d in draw(day_sets)]
    if kind == "weekly":
        pattern["firstDayOfWeek"] = draw(st.sampled_from(GRAPH_DAYS))
    if kind in ("relativeMonthly", "relativeYearly"):
        pattern["index"] = draw(st.sampled_from(sorted(INDEXES)))
    if kind == "absoluteMonthly":
        pattern["dayOfMonth"] = draw(st.integers(1, 31))
    if kind == "absoluteYearly":
        pattern["dayOfMonth"] = draw(st.integers(1, calendar.monthrange(2024, month)[1]))
    if kind in ("absoluteYearly", "relativeYearly"):
        pattern["month"] = month
    return pattern


def fits(pattern: dict[str, Any], day: date) -> bool:
    """Whether Outlook puts an occurrence of `pattern` on `day` (its interval aside)."""
    kind = pattern["type"]
    last = calendar.monthrange(day.year, day.month)[1]
    days = {GRAPH_DAYS.index(d) for d in pattern.get("daysOfWeek", [])}
    if kind in ("absoluteYearly", "relativeYearly") and day.month != pattern["month"]:
        return False
    if kind == "daily":
        return True
    if kind == "weekly":
        return day.weekday() in days
    if kind in ("absoluteMonthly", "absoluteYearly"):
        return day.day == min(pattern["dayOfMonth"], last)
    candidates = [d for d in range(1, last + 1)
                  if date(day.year, day.month, d).weekday() in days]
    position = INDEXES[pattern["index"]]
    return day.day == candidates[position - 1 if position > 0 else -1]


def normalised(pattern: dict[str, Any]) -> dict[str, Any]:
    out = dict(pattern)
    if "daysOfWeek" in out:
        # Graph lists days from Sunday.
        out["daysOfWeek"] = sorted(out["daysOfWeek"], key=lambda d: (GRAPH_DAYS.index(d) + 1) % 7)
    return out


@settings(max_examples=150, deadline=None)
@given(pattern=graph_patterns(), seed=seeds, zone=st.sampled_from(ZONES), all_day=st.booleans(),
       ending=st.sampled_from(["noEnd", "numbered", "endDate"]), count=st.integers(1, 50),
       end_days=st.integers(0, 800))
def test_a_graph_pattern_survives_the_trip_through_an_rrule(
        pattern: dict[str, Any], seed: datetime, zone: str, all_day: bool, ending: str,
        count: int, end_days: int) -> None:
    first = next(seed.date() + timedelta(days=k) for k in range(800)
                 if fits(pattern, seed.date() + timedelta(days=k)))
    start: datetime | date = first if all_day else datetime.combine(first, seed.time(),
                                                                    ZoneInfo(zone))
    range_: dict[str, Any] = {"type": ending, "startDate": first.isoformat()}
    if ending == "numbered":
        range_["numberOfOccurrences"] = count
    if ending == "endDate":
        range_["endDate"] = (first + timedelta(days=end_days)).isoformat()
    range_["recurrenceTimeZone"] = zone
    recurrence = {"pattern": pattern, "range": range_}
    rule = pattern_to_rrule(recurrence, start, zone)
    assert Rule.parse(rule).text() == rule
    assert rrule_to_pattern(rule, start, zone) == {"pattern": normalised(pattern),
                                                   "range": range_}
