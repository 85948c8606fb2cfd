"""Expanding series into occurrences on their own wall clock, compared instant by instant
with recurring-ical-events' expansion of the same VEVENT."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from calbridge.errors import TooManyOccurrences, ValidationFailed
from calbridge.recurrence import MAX_OCCURRENCES, Occurrence, expand
from tests.fixtures.recurrence import Series, instants, reference_occurrences


def at(zone: str, *fields: int) -> datetime:
    return datetime(*fields, tzinfo=ZoneInfo(zone))  # type: ignore[misc]


def occurrences(series: Series, window_start: datetime | date,
                window_end: datetime | date) -> list[Occurrence]:
    return expand(series.rrule, series.start, series.end, series.zone, series.exdates,
                  window_start, window_end, series.all_day)


def assert_as_reference(series: Series, window_start: datetime | date,
                        window_end: datetime | date) -> list[Occurrence]:
    """calbridge's occurrences start at the reference's instants, and end where it ends
    them too — except that the reference keeps the wall-clock length across a DST change,
    where calbridge keeps the exact length RFC 5545 section 3.8.5.3 asks for."""
    mine = occurrences(series, window_start, window_end)
    reference = reference_occurrences(series, window_start, window_end)
    assert instants([o.start for o in mine]) == instants([s for s, _ in reference])
    for occurrence, (reference_start, reference_end) in zip(mine, reference, strict=True):
        if series.all_day:
            assert occurrence.end == reference_end
            continue
        assert length(occurrence.start, occurrence.end) == length(series.start, series.end)
        if reference_start.utcoffset() == reference_end.utcoffset():
            assert occurrence.end == reference_end
    return mine


def length(start: datetime | date, end: datetime | date) -> timedelta:
    """Elapsed time (Python subtracts datetimes sharing a tzinfo by wall clock)."""
    return end.astimezone(UTC) - start.astimezone(UTC)  # type: ignore[union-attr]


def walls(found: list[Occurrence]) -> list[str]:
    return [f"{o.start:%Y-%m-%d %H:%M%z}" for o in found]


# Spring forward and fall back, with a weekly 09:00 meeting and a daily one in the gap
# (spring) or the overlap (autumn) of each zone.
DST = [
    ("Europe/Oslo", (2025, 3, 30), (2025, 10, 26), (2, 30)),
    ("America/New_York", (2025, 3, 9), (2025, 11, 2), (2, 30)),
    # Southern hemisphere: autumn comes in April, spring in October.
    ("Australia/Sydney", (2025, 10, 5), (2025, 4, 6), (2, 30)),
]


@pytest.mark.parametrize(("zone", "spring", "autumn", "gap"), DST, ids=[d[0] for d in DST])
def test_a_morning_meeting_stays_at_nine_across_both_dst_changes(
        zone: str, spring: tuple[int, int, int], autumn: tuple[int, int, int],
        gap: tuple[int, int]) -> None:
    first = min(date(*spring), date(*autumn)) - timedelta(days=14)
    series = Series("weekly", "FREQ=WEEKLY;BYDAY=MO,WE,FR", at(zone, *first.timetuple()[:3], 9),
                    at(zone, *first.timetuple()[:3], 10), zone)
    found = assert_as_reference(series, at(zone, first.year, 1, 1),
                                at(zone, first.year + 1, 1, 1))
    assert {f"{o.start:%H:%M}" for o in found} == {"09:00"}
    assert {o.start.utcoffset() for o in found} == {  # type: ignore[union-attr]
        at(zone, *spring, 12).utcoffset(), at(zone, *autumn, 12).utcoffset()}


@pytest.mark.parametrize(("zone", "spring", "autumn", "gap"), DST, ids=[d[0] for d in DST])
def test_a_wall_time_in_the_spring_gap_takes_the_offset_before_it(
        zone: str, spring: tuple[int, int, int], autumn: tuple[int, int, int],
        gap: tuple[int, int]) -> None:
    day = date(*spring)
    first = day - timedelta(days=2)
    series = Series("gap", "FREQ=DAILY;COUNT=5", at(zone, *first.timetuple()[:3], *gap),
                    at(zone, *first.timetuple()[:3], gap[0] + 1, gap[1]), zone)
    found = assert_as_reference(series, at(zone, first.year, 1, 1),
                                at(zone, first.year + 1, 1, 1))
    assert len(found) == 5
    on_the_day = found[2]
    # 02:30 does not exist that night: RFC 5545 reads it with the offset before the gap,
    # which is 03:30 on the new offset; the hour-long meeting still lasts an hour.
    assert f"{on_the_day.start:%Y-%m-%d %H:%M}" == f"{day} 03:30"
    assert length(on_the_day.start, on_the_day.end) == timedelta(hours=1)
    assert [f"{o.start:%H:%M}" for o in found] == ["02:30", "02:30", "03:30", "02:30", "02:30"]


@pytest.mark.parametrize(("zone", "spring", "autumn", "gap"), DST, ids=[d[0] for d in DST])
def test_a_wall_time_in_the_autumn_overlap_is_its_first_occurrence(
        zone: str, spring: tuple[int, int, int], autumn: tuple[int, int, int],
        gap: tuple[int, int]) -> None:
    day = date(*autumn)
    first = day - timedelta(days=1)
    # An overlap hour: 01:30 in New York, 02:30 in Oslo and Sydney.
    hour = 1 if zone == "America/New_York" else 2
    series = Series("overlap", "FREQ=DAILY;COUNT=3", at(zone, *first.timetuple()[:3], hour, 30),
                    at(zone, *first.timetuple()[:3], hour, 45), zone)
    found = assert_as_reference(series, at(zone, first.year, 1, 1),
                                at(zone, first.year + 1, 1, 1))
    on_the_day = found[1]
    summer = at(zone, *first.timetuple()[:3], 12).utcoffset()
    assert on_the_day.start.utcoffset() == summer  # type: ignore[union-attr]
    assert f"{on_the_day.start:%H:%M}" == f"{hour:02d}:30"


def test_a_long_event_over_the_dst_change_keeps_its_exact_length() -> None:
    # Saturday noon to Sunday noon, 24 hours; the night the clocks go forward it still
    # lasts 24 hours, so it ends at 13:00 on the new offset.
    series = Series("weekend", "FREQ=WEEKLY;COUNT=2", at("Europe/Oslo", 2025, 3, 22, 12),
                    at("Europe/Oslo", 2025, 3, 23, 12), "Europe/Oslo")
    found = assert_as_reference(series, date(2025, 3, 1), date(2025, 4, 30))
    assert [f"{o.end:%Y-%m-%d %H:%M}" for o in found] == ["2025-03-23 12:00", "2025-03-30 13:00"]


def test_an_all_day_series_gives_dates_and_keeps_its_length() -> None:
    series = Series("holiday", "FREQ=MONTHLY;BYMONTHDAY=31,-1;BYSETPOS=1;COUNT=5",
                    date(2025, 1, 31), date(2025, 2, 2), "Europe/Oslo", all_day=True)
    found = assert_as_reference(series, date(2025, 1, 1), date(2026, 1, 1))
    assert found == [Occurrence(date(2025, 1, 31), date(2025, 2, 2)),
                     Occurrence(date(2025, 2, 28), date(2025, 3, 2)),
                     Occurrence(date(2025, 3, 31), date(2025, 4, 2)),
                     Occurrence(date(2025, 4, 30), date(2025, 5, 2)),
                     Occurrence(date(2025, 5, 31), date(2025, 6, 2))]


def test_exdates_remove_their_occurrences_and_count_still_counts_them() -> None:
    zone = "America/New_York"
    series = Series("standup", "FREQ=DAILY;COUNT=6", at(zone, 2025, 3, 7, 9),
                    at(zone, 2025, 3, 7, 9, 15), zone,
                    exdates=(at(zone, 2025, 3, 8, 9),
                             # Given in UTC: 09:00 in New York after the change is 13:00 UTC.
                             datetime(2025, 3, 10, 13, tzinfo=UTC)))
    found = assert_as_reference(series, date(2025, 3, 1), date(2025, 4, 1))
    assert walls(found) == ["2025-03-07 09:00-0500", "2025-03-09 09:00-0400",
                            "2025-03-11 09:00-0400", "2025-03-12 09:00-0400"]


def test_an_all_day_exdate_removes_that_day() -> None:
    series = Series("gym", "FREQ=WEEKLY;BYDAY=TU,TH", date(2025, 1, 7), date(2025, 1, 8),
                    "Europe/Oslo", exdates=(date(2025, 1, 9),), all_day=True)
    found = assert_as_reference(series, date(2025, 1, 1), date(2025, 1, 20))
    assert [o.start for o in found] == [date(2025, 1, 7), date(2025, 1, 14), date(2025, 1, 16)]


def test_a_window_cuts_a_series_and_keeps_what_overlaps_its_edges() -> None:
    zone = "Europe/Oslo"
    series = Series("evening", "FREQ=DAILY", at(zone, 2025, 1, 1, 22), at(zone, 2025, 1, 2, 1),
                    zone)
    # From 00:00 on 10 January: the 9th's 22:00 to 01:00 still runs; up to 22:00 on the 12th,
    # which the 12th's occurrence starts at, so it is outside.
    found = assert_as_reference(series, at(zone, 2025, 1, 10), at(zone, 2025, 1, 12, 22))
    assert walls(found) == ["2025-01-09 22:00+0100", "2025-01-10 22:00+0100",
                            "2025-01-11 22:00+0100"]


def test_a_no_end_series_is_expanded_only_inside_the_window() -> None:
    zone = "Australia/Sydney"
    series = Series("forever", "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU", at(zone, 2020, 1, 7, 8),
                    at(zone, 2020, 1, 7, 9), zone)
    found = assert_as_reference(series, at(zone, 2030, 6, 1), at(zone, 2030, 7, 1))
    assert len(found) == 2
    assert all(o.start.year == 2030 for o in found)  # type: ignore[union-attr]


def test_until_in_utc_ends_a_timed_series_at_that_instant() -> None:
    zone = "Europe/Oslo"  # 09:00 in January is 08:00 UTC
    series = Series("until", "FREQ=DAILY;UNTIL=20250108T080000Z", at(zone, 2025, 1, 6, 9),
                    at(zone, 2025, 1, 6, 10), zone)
    found = assert_as_reference(series, date(2025, 1, 1), date(2025, 2, 1))
    assert len(found) == 3


def test_a_start_given_in_another_zone_recurs_on_the_series_wall_clock() -> None:
    # 08:00 UTC in January is 09:00 in Oslo; in July the series is still at 09:00 Oslo,
    # 07:00 UTC.
    found = expand("FREQ=MONTHLY;BYMONTHDAY=6", datetime(2025, 1, 6, 8, tzinfo=UTC),
                   datetime(2025, 1, 6, 9, tzinfo=UTC), "Europe/Oslo", [],
                   date(2025, 7, 1), date(2025, 8, 1))
    assert walls(found) == ["2025-07-06 09:00+0200"]


def test_an_absurd_window_hits_the_cap_with_a_clear_error() -> None:
    with pytest.raises(TooManyOccurrences) as refused:
        expand("FREQ=MINUTELY", at("UTC", 2000, 1, 1), at("UTC", 2000, 1, 1, 0, 1), "UTC", [],
               at("UTC", 2000, 1, 1), at("UTC", 2100, 1, 1))
    assert refused.value.limit == MAX_OCCURRENCES
    assert "shorter or earlier window" in refused.value.message


@pytest.mark.parametrize(("rrule", "zone"), [("FREQ=SOMETIMES", "Europe/Oslo"),
                                              ("RSCALE=HEBREW;FREQ=YEARLY", "Europe/Oslo"),
                                              ("FREQ=DAILY", "Mars/Olympus_Mons")])
def test_what_cannot_be_expanded_is_a_validation_error(rrule: str, zone: str) -> None:
    with pytest.raises(ValidationFailed):
        expand(rrule, at("UTC", 2025, 1, 1), at("UTC", 2025, 1, 1, 1), zone, [],
               date(2025, 1, 1), date(2025, 2, 1))
