"""Real-world recurring events (tests/fixtures/recurrence_corpus): calbridge expands each
as recurring-ical-events does, and each either survives RRULE → Graph pattern → RRULE
with the same occurrences or is refused with a reason."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from calbridge.errors import Inexpressible, ValidationFailed
from calbridge.recurrence import Rule, expand, pattern_to_rrule, rrule_to_pattern
from tests.fixtures.recurrence import (
    Series,
    corpus_series,
    corpus_skipped,
    instants,
    reference_occurrences,
)

SERIES = corpus_series()


def window(series: Series) -> tuple[datetime | date, datetime | date]:
    """Three years from the start; sixty days for rules that repeat within a day."""
    try:
        rule = Rule.parse(series.rrule)
        several_a_day = rule.freq in ("HOURLY", "MINUTELY", "SECONDLY") or (
            max(len(rule.byhour), 1) * max(len(rule.byminute), 1) > 1)
    except ValidationFailed:
        several_a_day = False
    days = 60 if several_a_day else 3 * 366
    return series.start - timedelta(days=1), series.start + timedelta(days=days)


def starts(series: Series, rrule: str) -> list[datetime | date]:
    low, high = window(series)
    found = expand(rrule, series.start, series.end, series.zone, series.exdates, low, high,
                   series.all_day)
    return instants([o.start for o in found])


def reference_starts(series: Series) -> list[datetime | date]:
    return instants([start for start, _ in reference_occurrences(series, *window(series))])


@pytest.mark.parametrize("series", SERIES, ids=[s.name for s in SERIES])
def test_calbridge_expands_each_corpus_series_as_the_reference_does(series: Series) -> None:
    try:
        mine = starts(series, series.rrule)
    except ValidationFailed:
        # Not an RFC 5545 Gregorian rule (an unknown FREQ, RFC 7529 calendar scales): the
        # reference cannot expand it either.
        with pytest.raises(Exception):  # noqa: B017 - whatever the reference raises
            reference_starts(series)
        return
    assert mine == reference_starts(series)


def test_each_corpus_series_converts_to_outlook_exactly_or_is_refused_with_a_reason() -> None:
    converted: list[str] = []
    refused: dict[str, list[str]] = {}
    invalid: list[str] = []
    for series in SERIES:
        try:
            pattern = rrule_to_pattern(series.rrule, series.start, series.zone)
        except Inexpressible as exc:
            assert exc.reason
            refused.setdefault(exc.reason, []).append(series.name)
            continue
        except ValidationFailed:
            invalid.append(series.name)
            continue
        back = pattern_to_rrule(pattern, series.start, series.zone)
        assert starts(series, back) == reference_starts(series), series.name
        converted.append(series.name)
    print(f"\nrecurrence corpus: {len(SERIES)} series, {len(converted)} converted to Outlook "
          f"patterns, {sum(map(len, refused.values()))} refused, {len(invalid)} not RFC 5545 "
          f"rules, {len(corpus_skipped())} left out by the loader")
    for reason, names in sorted(refused.items()):
        print(f"  refused ({len(names)}): {reason}")
    for name, why in corpus_skipped():
        print(f"  left out: {name}: {why}")
    # The corpus holds both kinds; a converter that refused everything would fail here.
    assert len(converted) >= 25
    assert len(refused) >= 10
