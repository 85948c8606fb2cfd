"""Expanding a recurring series into its occurrences inside a window.

Occurrences are computed on the series' own wall clock (09:00 Europe/Oslo stays 09:00
across DST), as RFC 5545 section 3.3.10 asks, with python-dateutil doing the rule
arithmetic. Where a wall time does not exist (the spring gap) it is read with the
offset before the gap, and where it exists twice (the autumn overlap) the first one is
meant (RFC 5545 section 3.3.5) — exactly what `zoneinfo` does with `fold=0`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil import rrule as du

from calbridge.errors import TooManyOccurrences, ValidationFailed
from calbridge.recurrence.rule import Rule

# How many occurrences of a rule may be walked, from the series' start to the window's
# end, before expansion gives up: a daily series may run 270 years, an hourly one 11.
MAX_OCCURRENCES = 100_000
# Occurrences come in wall-clock order; an instant can run behind its predecessor by at
# most one DST shift (two hours, anywhere), so the walk stops this far past the window.
_DST_SLACK = timedelta(hours=3)
_FREQ = {"YEARLY": du.YEARLY, "MONTHLY": du.MONTHLY, "WEEKLY": du.WEEKLY,
         "DAILY": du.DAILY, "HOURLY": du.HOURLY, "MINUTELY": du.MINUTELY,
         "SECONDLY": du.SECONDLY}


class Occurrence(NamedTuple):
    """One occurrence: aware instants in the series' zone, or dates (end exclusive) for
    an all-day series."""

    start: datetime | date
    end: datetime | date


def expand(rrule: str | Rule, start: datetime | date, end: datetime | date, zone: str,
           exdates: Iterable[datetime | date], window_start: datetime | date,
           window_end: datetime | date, all_day: bool = False) -> list[Occurrence]:
    """The occurrences of a series that overlap `[window_start, window_end)`, in order.

    The series' first start is always an occurrence, whether or not the rule produces it
    (as most calendar software reads RFC 5545's "undefined" case); it does not count
    towards COUNT. A rule whose UNTIL is before the start has no occurrences. Timed
    occurrences last the series' exact duration (RFC 5545 section 3.8.5.3). An exdate
    removes the occurrence starting at that instant (a naive one is read in `zone`); a
    date exdate on a timed series removes that local day's. Windows given as dates or
    naive datetimes are read in `zone`. Raises `ValidationFailed` for a rule that is not
    RFC 5545 or uses a calendar scale other than Gregorian, and
    `TooManyOccurrences` past `MAX_OCCURRENCES`.
    """
    rule = rrule if isinstance(rrule, Rule) else Rule.parse(rrule)
    tz = zone_info(zone)
    series = _Series(rule, start, tz, all_day)
    if all_day:
        length: timedelta = _as_date(end, tz) - series.first_day
    else:
        length = utc_instant(end, tz) - utc_instant(start, tz)
    low, high = utc_instant(window_start, tz), utc_instant(window_end, tz)
    removed = _Exdates(exdates, tz)
    out: list[Occurrence] = []
    for occurrence in series.starts(stop=high):
        if removed.has(occurrence):
            continue
        first = utc_instant(occurrence, tz)
        last = first + length if not all_day else utc_instant(occurrence + length, tz)
        overlaps = first < high and (last > low or (last == first and first >= low))
        if overlaps:
            if all_day:
                out.append(Occurrence(occurrence, occurrence + length))
            else:
                out.append(Occurrence(first.astimezone(tz), last.astimezone(tz)))
    return out


def is_first_occurrence(rule: Rule, start: datetime | date, zone: str) -> bool:
    """Whether the rule itself produces the series' start as its first occurrence (RFC
    5545 wants DTSTART "synchronized" with the rule; Outlook drops a start that is not)."""
    tz = zone_info(zone)
    series = _Series(rule, start, tz, not isinstance(start, datetime))
    first = next(iter(series.rule), None)
    return first is not None and first == series.anchor


def zone_info(zone: str) -> ZoneInfo:
    """The IANA zone by name; `ValidationFailed` for an unknown one."""
    try:
        return ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationFailed(f"unknown time zone: {zone}",
                               details={"fields": ["timezone"]}) from exc


class _Series:
    """A rule anchored at its first start: dateutil walks wall-clock datetimes (aware in
    the series' zone, fold 0) or naive midnights for an all-day series."""

    def __init__(self, rule: Rule, start: datetime | date, tz: ZoneInfo, all_day: bool) -> None:
        if rule.rscale not in (None, "GREGORIAN") or rule.skip not in (None, "OMIT"):
            raise ValidationFailed(
                "calbridge expands Gregorian rules only (RFC 7529 RSCALE/SKIP)",
                details={"fields": ["recurrence.rrule"], "rule": rule.text()})
        self.all_day = all_day
        self.tz = tz
        if all_day:
            self.first_day = _as_date(start, tz)
            self.anchor = datetime.combine(self.first_day, time())
            self.start: datetime | date = self.first_day
        else:
            if not isinstance(start, datetime):
                raise ValidationFailed("a timed series needs a start time, not a date",
                                       details={"fields": ["start"]})
            local = utc_instant(start, tz).astimezone(tz)
            self.start = local
            self.anchor = local.replace(fold=0)
        until = _until(rule.until, tz, all_day)
        self.ended_before_start = until is not None and until < self.anchor
        try:
            self.rule = du.rrule(
                _FREQ[rule.freq], dtstart=self.anchor, interval=rule.interval,
                wkst=rule.wkst, count=rule.count, until=until,
                bysetpos=rule.bysetpos or None, bymonth=rule.bymonth or None,
                bymonthday=rule.bymonthday or None, byyearday=rule.byyearday or None,
                byweekno=rule.byweekno or None,
                byweekday=[du.weekday(d.day, d.ordinal) for d in rule.byday] or None,
                byhour=rule.byhour or None, byminute=rule.byminute or None,
                bysecond=rule.bysecond or None, cache=False)
        except ValueError as exc:
            raise ValidationFailed(f"not a valid RRULE ({exc}): {rule.text()}",
                                   details={"fields": ["recurrence.rrule"]}) from exc

    def starts(self, stop: datetime) -> Iterator[datetime | date]:
        """The series' starts in order, up to a little past the instant `stop`."""
        if self.ended_before_start:
            return  # UNTIL before the start: nothing, as recurring-ical-events reads it
        yield self.start
        walked = 0
        for moment in self.rule:
            if moment == self.anchor:
                continue  # the start, yielded above
            if utc_instant(moment, self.tz) >= stop + _DST_SLACK:
                return
            walked += 1
            if walked > MAX_OCCURRENCES:
                raise TooManyOccurrences(
                    f"the series has more than {MAX_OCCURRENCES} occurrences before the "
                    "window's end; ask for a shorter or earlier window", limit=MAX_OCCURRENCES)
            yield moment.date() if self.all_day else moment


class _Exdates:
    """Exceptions as instants, with the local days of date exdates (and, for an all-day
    series, the local days of datetime ones)."""

    def __init__(self, exdates: Iterable[datetime | date], tz: ZoneInfo) -> None:
        self.tz = tz
        self.instants: set[datetime] = set()
        self.instant_days: set[date] = set()
        self.days: set[date] = set()
        for value in exdates:
            if isinstance(value, datetime):
                moment = utc_instant(value, tz)
                self.instants.add(moment)
                self.instant_days.add(moment.astimezone(tz).date())
            else:
                self.days.add(value)

    def has(self, occurrence: datetime | date) -> bool:
        if not isinstance(occurrence, datetime):
            return occurrence in self.days or occurrence in self.instant_days
        return utc_instant(occurrence, self.tz) in self.instants or occurrence.date() in self.days


def utc_instant(value: datetime | date, tz: ZoneInfo) -> datetime:
    """An instant in UTC: a date is its local midnight, a naive datetime a wall time in
    `tz` (fold 0). UTC, because Python compares datetimes sharing a tzinfo by wall time."""
    if not isinstance(value, datetime):
        value = datetime.combine(value, time())
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return value.astimezone(UTC)


def _as_date(value: datetime | date, tz: ZoneInfo) -> date:
    if not isinstance(value, datetime):
        return value
    return value.astimezone(tz).date() if value.tzinfo is not None else value.date()


def _until(until: date | datetime | None, tz: ZoneInfo, all_day: bool) -> datetime | None:
    """UNTIL in the form dateutil compares with the anchor. RFC 5545 wants UTC for a
    timed series and a DATE for an all-day one; the other forms seen in the wild are read
    as their author meant them: a floating time on the series' wall clock, a DATE on a
    timed series as the whole of that local day."""
    if until is None:
        return None
    if all_day:
        if not isinstance(until, datetime):
            return datetime.combine(until, time())
        return until.astimezone(tz).replace(tzinfo=None) if until.tzinfo else until
    if not isinstance(until, datetime):
        until = datetime.combine(until, time(23, 59, 59))
    return utc_instant(until, tz)
