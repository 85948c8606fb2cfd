"""The Graph emulator's series expansion skips ahead to the dates asked for without losing or
adding any (what keeps a noEnd series cheap must not change what it expands to)."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from emulators.graph import recurrence

DAYS = list(recurrence.DAYS)


@st.composite
def series(draw: st.DrawFn) -> dict:
    kind = draw(st.sampled_from(recurrence.PATTERN_TYPES))
    start = draw(st.dates(dt.date(2020, 1, 1), dt.date(2030, 12, 31)))
    pattern = {"type": kind, "interval": draw(st.integers(1, 4)),
               "daysOfWeek": draw(st.lists(st.sampled_from(DAYS), min_size=1, max_size=3)),
               "firstDayOfWeek": draw(st.sampled_from(DAYS)),
               "index": draw(st.sampled_from(recurrence.INDEXES)),
               "dayOfMonth": draw(st.integers(1, 31)), "month": draw(st.integers(1, 12))}
    if kind == "absoluteYearly":
        pattern["dayOfMonth"] = min(pattern["dayOfMonth"], 28)
    ranged = draw(st.sampled_from(["noEnd", "endDate", "numbered"]))
    range_ = {"type": ranged, "startDate": start.isoformat(),
              "endDate": (start + dt.timedelta(days=draw(st.integers(0, 4000)))).isoformat(),
              "numberOfOccurrences": draw(st.integers(1, 40))}
    return recurrence.normalize({"pattern": pattern, "range": range_}, start, "UTC")


@settings(max_examples=150, deadline=None)
@given(series(), st.integers(0, 3000), st.integers(0, 400))
def test_a_window_sees_exactly_the_full_expansions_dates(
        rule: dict, offset: int, length: int) -> None:
    start = dt.date.fromisoformat(rule["range"]["startDate"])
    since = start + dt.timedelta(days=offset)
    until = since + dt.timedelta(days=length)
    full = list(recurrence.occurrence_dates(rule, start, until))
    assert list(recurrence.occurrence_dates(rule, since, until)) == [
        d for d in full if d >= since]
    assert full == sorted(set(full)) and all(d >= start for d in full)
    if rule["pattern"]["type"] == "weekly":
        assert {recurrence.DAYS[d.weekday()] for d in full} <= set(rule["pattern"]["daysOfWeek"])
