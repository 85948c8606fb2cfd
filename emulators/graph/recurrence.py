"""Graph's `patternedRecurrence`: validation, the normalised form Graph answers, expansion.

Pure functions over plain dicts and dates. Expansion yields the *original* local dates of a
series' occurrences, lazily and only over the dates asked for, so a `noEnd` series is never
materialised. What the documentation leaves open follows Outlook:

- `absoluteMonthly` / `absoluteYearly` with a `dayOfMonth` the month does not have (31 in
  April, 29 in February of a common year) fall on the month's last day, as Outlook and CDO
  do (CDO `RecurrencePattern.DayOfMonth`: "Outlook and CDO generate recurrences on February
  28 for years other than leap years"; MS-OXCICAL maps `BYMONTHDAY=-1` to day 31).
- `relativeMonthly` / `relativeYearly` with several `daysOfWeek` take the `index`-th day of
  the month that is any of them (the docs: "the event falls on the first day that satisfies
  the pattern"), i.e. RFC 5545 `BYSETPOS`.
- `weekly` weeks start on `firstDayOfWeek` (default sunday); `interval` counts those weeks.
- `endDate` is inclusive; `startDate` must be the date of the event's start.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterator
from typing import Any

from .api import GraphError

PATTERN_TYPES = ("daily", "weekly", "absoluteMonthly", "relativeMonthly", "absoluteYearly",
                 "relativeYearly")
RANGE_TYPES = ("endDate", "noEnd", "numbered")
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
INDEXES = ("first", "second", "third", "fourth", "last")
NO_DATE = "0001-01-01"
# Exchange refuses series reaching past this date (ErrorRecurrenceEndDateTooBig).
LAST_DATE = dt.date(4500, 9, 1)
PATTERN_FIELDS = {"type", "interval", "month", "dayOfMonth", "daysOfWeek", "firstDayOfWeek",
                  "index", "@odata.type"}
RANGE_FIELDS = {"type", "startDate", "endDate", "numberOfOccurrences", "recurrenceTimeZone",
                "@odata.type"}


def _body_error(message: str) -> GraphError:
    return GraphError(400, "RequestBodyRead", message)


def _pattern_error(message: str) -> GraphError:
    return GraphError(400, "ErrorInvalidRecurrencePattern", message)


def _range_error(message: str) -> GraphError:
    return GraphError(400, "ErrorInvalidRecurrenceRange", message)


def _enum(value: Any, allowed: tuple[str, ...], name: str) -> str:
    """Graph's enums are matched case-insensitively and answered in their canonical case."""
    for option in allowed:
        if isinstance(value, str) and value.lower() == option.lower():
            return option
    raise _body_error(f"Requested value '{value}' was not found for property '{name}'.")


def _int(value: Any, name: str) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise _body_error(f"Cannot convert the literal '{value}' to the expected type 'Edm.Int32'"
                          f" for property '{name}'.")
    try:
        return int(value)
    except ValueError as exc:
        raise _body_error(f"Cannot convert the literal '{value}' to the expected type "
                          f"'Edm.Int32' for property '{name}'.") from exc


def _date(value: Any, name: str) -> dt.date | None:
    if value in (None, "", NO_DATE):
        return None
    try:
        # a timestamp ("2015-05-27T00:00:00Z", as older clients send) counts by its date
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError as exc:
        # What Graph answers for a date it cannot read ("14/03/2021").
        raise GraphError(400, "UnableToDeserializePostBody",
                         f"were unable to deserialize {name}") from exc


def normalize(recurrence: Any, start_date: dt.date, zone_name: str) -> dict[str, Any]:
    """Validate a `patternedRecurrence` as Graph does and return the form Graph answers with
    (every property present: 0, "0001-01-01", [] or "first" where unused).

    ``start_date`` is the local date of the event's start, ``zone_name`` its time zone."""
    if not isinstance(recurrence, dict):
        raise _body_error("The property 'recurrence' must be an object of type "
                          "'microsoft.graph.patternedRecurrence'.")
    pattern, range_ = recurrence.get("pattern"), recurrence.get("range")
    if not isinstance(pattern, dict) or not isinstance(range_, dict):
        raise _body_error("A recurrence needs a 'pattern' and a 'range'.")
    for name, value, known in (("recurrencePattern", pattern, PATTERN_FIELDS),
                               ("recurrenceRange", range_, RANGE_FIELDS)):
        for key in value:
            if key not in known:
                raise _body_error(f"The property '{key}' does not exist on type "
                                  f"'microsoft.graph.{name}'.")
    kind = _enum(pattern.get("type"), PATTERN_TYPES, "type")
    interval = _int(pattern.get("interval"), "interval")
    days_raw = pattern.get("daysOfWeek") or []
    if not isinstance(days_raw, list):
        raise _body_error("The property 'daysOfWeek' must be a collection.")
    days = sorted({_enum(d, DAYS, "daysOfWeek") for d in days_raw}, key=DAYS.index)
    first_day = _enum(pattern.get("firstDayOfWeek") or "sunday", DAYS, "firstDayOfWeek")
    index = _enum(pattern.get("index") or "first", INDEXES, "index")
    month = _int(pattern.get("month"), "month")
    day_of_month = _int(pattern.get("dayOfMonth"), "dayOfMonth")
    if interval < 1:
        raise _pattern_error("The recurrence pattern's interval must be a positive number.")
    if kind in ("weekly", "relativeMonthly", "relativeYearly") and not days:
        raise _pattern_error(f"A {kind} recurrence pattern requires daysOfWeek.")
    if kind in ("absoluteMonthly", "absoluteYearly") and not 1 <= day_of_month <= 31:
        raise _pattern_error(f"A {kind} recurrence pattern requires a dayOfMonth from 1 to 31.")
    if kind in ("absoluteYearly", "relativeYearly") and not 1 <= month <= 12:
        raise _pattern_error(f"A {kind} recurrence pattern requires a month from 1 to 12.")
    if month and not 1 <= month <= 12:
        raise _pattern_error("The recurrence pattern's month must be from 1 to 12.")
    if kind == "absoluteYearly" and day_of_month > _month_days(2000, month):
        # CDO: "For yearly recurrences, DayOfMonth cannot be set past the last possible day
        # in the selected month" (29 February is allowed: leap years have it).
        raise _pattern_error("The recurrence pattern's dayOfMonth is past the end of its month.")

    range_kind = _enum(range_.get("type"), RANGE_TYPES, "type")
    first = _date(range_.get("startDate"), "startDate")
    last = _date(range_.get("endDate"), "endDate")
    count = _int(range_.get("numberOfOccurrences"), "numberOfOccurrences")
    if first is None:
        raise _range_error("The recurrence range requires a startDate.")
    if first != start_date:
        raise _range_error(f"The recurrence range's startDate {first.isoformat()} must be the "
                           f"date of the event's start ({start_date.isoformat()}).")
    if range_kind == "endDate":
        if last is None:
            raise _range_error("A recurrence range of type endDate requires an endDate.")
        if last < first:
            raise _range_error("The recurrence range's endDate is before its startDate.")
        if last > LAST_DATE:
            raise GraphError(400, "ErrorRecurrenceEndDateTooBig",
                             "Recurrence end date can not exceed Sep 1, 4500 00:00:00.")
    if range_kind == "numbered" and count < 1:
        raise _range_error("A recurrence range of type numbered requires a positive "
                           "numberOfOccurrences.")
    zone = range_.get("recurrenceTimeZone") or zone_name
    return {
        "pattern": {
            "type": kind, "interval": interval,
            "month": month if kind in ("absoluteYearly", "relativeYearly") else 0,
            "dayOfMonth": day_of_month if kind in ("absoluteMonthly", "absoluteYearly") else 0,
            "daysOfWeek": days if kind in ("weekly", "relativeMonthly", "relativeYearly") else [],
            "firstDayOfWeek": first_day,
            "index": index,
        },
        "range": {
            "type": range_kind,
            "startDate": first.isoformat(),
            "endDate": last.isoformat() if range_kind == "endDate" and last else NO_DATE,
            "recurrenceTimeZone": str(zone),
            "numberOfOccurrences": count if range_kind == "numbered" else 0,
        },
    }


def _month_days(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def _relative_day(year: int, month: int, days: list[str], index: str) -> dt.date:
    """The `index`-th day of the month that falls on one of ``days`` (RFC 5545 BYSETPOS)."""
    wanted = {DAYS.index(d) for d in days}
    matches = [dt.date(year, month, n) for n in range(1, _month_days(year, month) + 1)
               if dt.date(year, month, n).weekday() in wanted]
    return matches[-1] if index == "last" else matches[INDEXES.index(index)]


def _add_months(year: int, month: int, months: int) -> tuple[int, int]:
    total = year * 12 + (month - 1) + months
    return total // 12, total % 12 + 1


def _day_in(pattern: dict[str, Any], year: int, month: int) -> dt.date:
    """The pattern's day in a month (monthly and yearly patterns)."""
    if pattern["type"].startswith("absolute"):
        return dt.date(year, month, min(pattern["dayOfMonth"], _month_days(year, month)))
    return _relative_day(year, month, pattern["daysOfWeek"], pattern["index"])


def _candidates(recurrence: dict[str, Any], not_before: dt.date) -> Iterator[dt.date]:
    """The pattern's dates from its startDate on, in order, unbounded. ``not_before`` lets a
    range without a count skip whole periods that end before the dates asked for.

    Periods count from the series' first occurrence, not from a startDate the pattern skips
    (MS-OXOCAL anchors the period on the first occurrence; the Graph docs' example: first
    Thursday every other month from 29 August 2017 → "the first occurrence of this series
    will be in September")."""
    pattern = recurrence["pattern"]
    first = dt.date.fromisoformat(recurrence["range"]["startDate"])
    kind, interval = pattern["type"], pattern["interval"]
    counted = recurrence["range"]["type"] == "numbered"
    skip_to = first if counted else max(first, not_before)
    if kind == "daily":
        periods = max(0, (skip_to - first).days // interval)
        day = first + dt.timedelta(days=periods * interval)
        while True:
            yield day
            day += dt.timedelta(days=interval)
    if kind == "weekly":
        week_start = DAYS.index(pattern["firstDayOfWeek"])
        anchor = next(first + dt.timedelta(days=n) for n in range(7)
                      if DAYS[(first + dt.timedelta(days=n)).weekday()] in pattern["daysOfWeek"])
        week = anchor - dt.timedelta(days=(anchor.weekday() - week_start) % 7)
        periods = max(0, (skip_to - week).days // 7 // interval - 1)
        week += dt.timedelta(weeks=periods * interval)
        offsets = sorted((DAYS.index(d) - week_start) % 7 for d in pattern["daysOfWeek"])
        while True:
            for offset in offsets:
                day = week + dt.timedelta(days=offset)
                if day >= first:
                    yield day
            week += dt.timedelta(weeks=interval)
    yearly = kind.endswith("Yearly")
    step = interval * 12 if yearly else interval
    year, month = (first.year, pattern["month"]) if yearly else (first.year, first.month)
    while _day_in(pattern, year, month) < first:  # the period of the first occurrence
        year, month = _add_months(year, month, 12 if yearly else 1)
    months_apart = (skip_to.year - year) * 12 + skip_to.month - month
    periods = max(0, months_apart // step - 1)
    year, month = _add_months(year, month, periods * step)
    while True:
        yield _day_in(pattern, year, month)
        year, month = _add_months(year, month, step)


def occurrence_dates(recurrence: dict[str, Any], since: dt.date, until: dt.date
                     ) -> Iterator[dt.date]:
    """Original local dates of the series' occurrences in [since, until], in order (the range's
    end and count applied; lazy, so a noEnd series costs only the dates asked for)."""
    range_ = recurrence["range"]
    last = dt.date.fromisoformat(range_["endDate"]) if range_["type"] == "endDate" else LAST_DATE
    remaining = range_["numberOfOccurrences"] if range_["type"] == "numbered" else -1
    for day in _candidates(recurrence, since):
        if day > last or day > until or remaining == 0:
            return
        remaining -= 1
        if day >= since:
            yield day


def is_occurrence(recurrence: dict[str, Any], day: dt.date) -> bool:
    """True when ``day`` is an original date of the series."""
    return any(found == day for found in occurrence_dates(recurrence, day, day))


def first_date(recurrence: dict[str, Any]) -> dt.date | None:
    """The series' first occurrence date (None when it has none)."""
    start = dt.date.fromisoformat(recurrence["range"]["startDate"])
    return next(occurrence_dates(recurrence, start, LAST_DATE), None)


def neighbours(recurrence: dict[str, Any], day: dt.date) -> tuple[dt.date | None, dt.date | None]:
    """The original dates just before and just after ``day`` (None at the series' ends)."""
    start = dt.date.fromisoformat(recurrence["range"]["startDate"])
    before = None
    # A year back covers every pattern's period except multi-year ones; those look further.
    reach = dt.timedelta(days=366 * (recurrence["pattern"]["interval"] + 1))
    for found in occurrence_dates(recurrence, max(start, day - reach), day - dt.timedelta(1)):
        before = found
    after = next(occurrence_dates(recurrence, day + dt.timedelta(1), LAST_DATE), None)
    return before, after
