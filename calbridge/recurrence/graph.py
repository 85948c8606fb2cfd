"""Microsoft Graph `patternedRecurrence` ⇄ RFC 5545 RRULE, both ways, exactly.

Graph's documented semantics (recurrencePattern, recurrenceRange, "Schedule repeating
appointments as recurring events in Outlook") and where they part from RFC 5545:

- `absoluteMonthly` with a `dayOfMonth` a month lacks falls on that month's last day
  (EWS DayOfMonth: "the last day of the month is assumed"); RFC 5545 skips the month.
  So dayOfMonth 31 is `BYMONTHDAY=-1`, 29 and 30 are `BYMONTHDAY=d,-1;BYSETPOS=1`, and
  `absoluteYearly` 29 February is `BYMONTHDAY=-1` in February (Outlook's 28 February in
  common years). The other way, a rule on the 29th to 31st that skips short months, and a
  yearly rule on 29 February, are refused.
- `relativeMonthly`/`relativeYearly` with several `daysOfWeek` fall on the `index`-th
  day of the month that is any of them: `BYDAY=TH,FR;BYSETPOS=2`; one day is `BYDAY=2TH`.
  `index` is first to fourth or last, so `5MO`, `-2FR` and similar are refused.
- `weekly` counts its `interval` in weeks beginning on `firstDayOfWeek`, which is
  RFC 5545's WKST; the RRULE always carries WKST so `firstDayOfWeek` survives.
- A range's `endDate` is an inclusive date on the series' wall clock: UNTIL is the last
  second of that local day in UTC (a DATE for an all-day series); back, `endDate` is the
  last local day whose occurrence starts by UNTIL.
- Graph's first occurrence is the first date fitting the pattern on or after
  `startDate`; RFC 5545 always counts DTSTART. A series whose start is not one of its
  rule's occurrences is refused either way.

`pattern_to_rrule` reads the JSON Graph returns (irrelevant fields, zero or defaulted,
are ignored per type); `rrule_to_pattern` writes only the fields each type needs, since
Graph rejects ill-valued ones even where it ignores them.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from typing import Any

from calbridge.errors import Inexpressible, ValidationFailed
from calbridge.recurrence.expand import (
    is_first_occurrence,
    utc_instant,
    zone_info,
)
from calbridge.recurrence.rule import Rule, Weekday

# Index == date.weekday(), as in `rule.WEEKDAYS`.
GRAPH_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
INDEXES = {"first": 1, "second": 2, "third": 3, "fourth": 4, "last": -1}
_POSITIONS = {position: name for name, position in INDEXES.items()}
# Graph's weekday order, for a stable daysOfWeek list.
_GRAPH_ORDER = (6, 0, 1, 2, 3, 4, 5)
_FREQ_NAMES = {"HOURLY": "hourly", "MINUTELY": "minute-by-minute",
               "SECONDLY": "second-by-second"}


def pattern_to_rrule(recurrence: Mapping[str, Any], start: datetime | date, zone: str) -> str:
    """The RRULE value (no `RRULE:` prefix) giving exactly the occurrences Graph gives
    for `recurrence` on a series starting at `start`; `zone` is the series' IANA zone
    (`range.recurrenceTimeZone` mapped to IANA, else the event's), used for UNTIL.
    `ValidationFailed` for malformed JSON, `Inexpressible` when `start` is not one of
    the pattern's occurrences."""
    pattern = recurrence.get("pattern") or {}
    kind = str(pattern.get("type") or "")
    rule = _pattern_rule(kind, pattern)
    rule = _with_range(rule, recurrence.get("range") or {}, start, zone)
    if not is_first_occurrence(rule, start, zone):
        raise Inexpressible("the series' start is not one of its pattern's occurrences",
                            rule=rule.text())
    return rule.text()


def rrule_to_pattern(rrule: str, start: datetime | date, zone: str) -> dict[str, Any]:
    """The `patternedRecurrence` calbridge POSTs to Graph for `rrule` on a series starting
    at `start` in the IANA `zone` (`range.startDate` is the start's local date,
    `recurrenceTimeZone` the zone). `Inexpressible`, with a `.reason`, for a rule whose
    occurrences no Graph pattern gives; `ValidationFailed` for one that is not RFC 5545."""
    rule = Rule.parse(rrule)
    local = _local_start(start, zone)
    pattern = _rule_pattern(rule, local)
    if not is_first_occurrence(rule, start, zone):
        raise Inexpressible(
            "the series' start is not one of its rule's occurrences, and Outlook would drop it",
            rule=rrule)
    return {"pattern": pattern, "range": _rule_range(rule, local, zone)}


# ---- Graph -> RRULE ---------------------------------------------------------------------


def _pattern_rule(kind: str, pattern: Mapping[str, Any]) -> Rule:
    interval = _number(pattern, "interval", 1, 10_000, default=1)
    if kind == "daily":
        return Rule("DAILY", interval=interval)
    if kind == "weekly":
        days = _graph_days(pattern)
        first = str(pattern.get("firstDayOfWeek") or "sunday").lower()
        if first not in GRAPH_DAYS:
            raise _malformed("firstDayOfWeek", first)
        return Rule("WEEKLY", interval=interval, byday=tuple(Weekday(d) for d in days),
                    wkst=GRAPH_DAYS.index(first))
    if kind == "absoluteMonthly":
        day = _number(pattern, "dayOfMonth", 1, 31)
        if day <= 28:
            return Rule("MONTHLY", interval=interval, bymonthday=(day,))
        if day == 31:
            return Rule("MONTHLY", interval=interval, bymonthday=(-1,))
        # The day, or the month's last day when it is shorter.
        return Rule("MONTHLY", interval=interval, bymonthday=(day, -1), bysetpos=(1,))
    if kind == "absoluteYearly":
        month = _number(pattern, "month", 1, 12)
        day = _number(pattern, "dayOfMonth", 1, 31)
        longest = calendar.monthrange(2024, month)[1]  # a leap year: February's 29
        last = day >= longest or (month == 2 and day >= 29)
        return Rule("YEARLY", interval=interval, bymonth=(month,),
                    bymonthday=(-1,) if last else (day,))
    if kind in ("relativeMonthly", "relativeYearly"):
        days = _graph_days(pattern)
        index = str(pattern.get("index") or "first").lower()
        if index not in INDEXES:
            raise _malformed("index", index)
        position = INDEXES[index]
        months = (_number(pattern, "month", 1, 12),) if kind == "relativeYearly" else ()
        freq = "YEARLY" if kind == "relativeYearly" else "MONTHLY"
        if len(days) == 1:
            return Rule(freq, interval=interval, bymonth=months,
                        byday=(Weekday(days[0], position),))
        return Rule(freq, interval=interval, bymonth=months,
                    byday=tuple(Weekday(d) for d in days), bysetpos=(position,))
    raise _malformed("type", kind)


def _with_range(rule: Rule, range_: Mapping[str, Any], start: datetime | date,
                zone: str) -> Rule:
    kind = str(range_.get("type") or "noEnd").lower()
    if kind == "noend":
        return rule
    if kind == "numbered":
        return replace(rule, count=_number(range_, "numberOfOccurrences", 1, 1_000_000))
    if kind == "enddate":
        try:
            last = date.fromisoformat(str(range_.get("endDate"))[:10])
        except ValueError as exc:
            raise _malformed("endDate", range_.get("endDate")) from exc
        if not isinstance(start, datetime):
            return replace(rule, until=last)
        # Every occurrence starting on the end date counts: its last second, in UTC.
        return replace(rule, until=utc_instant(datetime.combine(last, time(23, 59, 59)),
                                               zone_info(zone)))
    raise _malformed("range.type", kind)


def _graph_days(pattern: Mapping[str, Any]) -> list[int]:
    raw = pattern.get("daysOfWeek") or []
    names = [str(day).lower() for day in raw]
    if not names or any(name not in GRAPH_DAYS for name in names):
        raise _malformed("daysOfWeek", raw)
    return sorted({GRAPH_DAYS.index(name) for name in names})


def _number(source: Mapping[str, Any], name: str, low: int, high: int,
            default: int | None = None) -> int:
    value = source.get(name)
    if value in (None, 0) and default is not None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _malformed(name, value)
    return value


def _malformed(name: str, value: object) -> ValidationFailed:
    return ValidationFailed(f"not a Graph recurrence: {name} = {value!r}",
                            details={"fields": [f"recurrence.{name}"]})


# ---- RRULE -> Graph ---------------------------------------------------------------------


def _rule_pattern(rule: Rule, start: datetime | date) -> dict[str, Any]:
    _refuse_beyond_graph(rule, start)
    if rule.freq == "DAILY":
        return _daily(rule)
    if rule.freq == "WEEKLY":
        if rule.bymonthday or rule.bymonth or rule.bysetpos:
            raise Inexpressible("Outlook cannot limit a weekly series to some days of a "
                                "month or some months")
        days = [d.day for d in rule.byday] or [start.weekday()]
        if any(d.ordinal is not None for d in rule.byday):
            raise Inexpressible("a weekly rule cannot name the n-th weekday")
        return _weekly(rule.interval, days, rule.wkst)
    if rule.freq == "MONTHLY":
        return _monthly(rule, start)
    return _yearly(rule, start)


def _refuse_beyond_graph(rule: Rule, start: datetime | date) -> None:
    if rule.freq in _FREQ_NAMES:
        raise Inexpressible(f"Outlook has no {_FREQ_NAMES[rule.freq]} recurrence")
    if rule.rscale not in (None, "GREGORIAN"):
        raise Inexpressible("Outlook has only the Gregorian calendar")
    if rule.skip not in (None, "OMIT"):
        raise Inexpressible("Outlook cannot move a date a month lacks to a neighbouring day")
    if any(not name.startswith("X-") for name in rule.extra):
        raise Inexpressible(f"Outlook has no {', '.join(sorted(rule.extra))} rule part")
    if rule.byweekno:
        raise Inexpressible("Outlook has no recurrence by week number")
    if rule.byyearday:
        raise Inexpressible("Outlook has no recurrence by day of the year")
    if len(rule.bysetpos) > 1:
        raise Inexpressible("Outlook picks one day a month, not several")
    for name in ("byhour", "byminute", "bysecond"):
        values = getattr(rule, name)
        wall = getattr(start, name[2:], 0)
        if values and (values != (wall,) or not isinstance(start, datetime)):
            raise Inexpressible("Outlook repeats a series once a day, at its start time")


def _daily(rule: Rule) -> dict[str, Any]:
    if rule.bymonth or rule.bymonthday or rule.bysetpos:
        raise Inexpressible("Outlook cannot limit a daily series to some days of a month "
                            "or some months")
    if not rule.byday:
        return {"type": "daily", "interval": rule.interval}
    if rule.interval != 1 or any(d.ordinal is not None for d in rule.byday):
        raise Inexpressible("Outlook has no every-n-days series limited to some weekdays")
    # Every day that is one of these weekdays is a weekly series on them.
    return _weekly(1, [d.day for d in rule.byday], rule.wkst)


def _weekly(interval: int, days: list[int], wkst: int | None) -> dict[str, Any]:
    return {"type": "weekly", "interval": interval, "daysOfWeek": _day_names(days),
            # RFC 5545's default week start is Monday.
            "firstDayOfWeek": GRAPH_DAYS[0 if wkst is None else wkst]}


def _monthly(rule: Rule, start: datetime | date) -> dict[str, Any]:
    if rule.bymonth:
        raise Inexpressible("Outlook cannot limit a monthly series to some months")
    if rule.byday and rule.bymonthday:
        raise Inexpressible("Outlook cannot combine a day of the month with a weekday")
    if rule.byday:
        relative = _relative(rule)
        if relative is None:
            if rule.interval == 1 and not rule.bysetpos and all(
                    d.ordinal is None for d in rule.byday):
                # Every such weekday of every month: a weekly series on them.
                return _weekly(1, [d.day for d in rule.byday], rule.wkst)
            raise Inexpressible("Outlook repeats a monthly series on one day a month")
        return {"type": "relativeMonthly", "interval": rule.interval, **relative}
    day = _month_day(rule.bymonthday, rule.bysetpos, start.day)
    if day is None:
        raise Inexpressible("Outlook repeats a monthly series on one day of the month")
    if day in (29, 30, 31) and not _short_months_covered(rule, start, day):
        raise Inexpressible(f"Outlook moves the {_ordinal(day)} to the last day of shorter "
                            "months, which this rule skips")
    return {"type": "absoluteMonthly", "interval": rule.interval, "dayOfMonth": day}


def _yearly(rule: Rule, start: datetime | date) -> dict[str, Any]:
    if len(rule.bymonth) > 1:
        raise Inexpressible("Outlook repeats a yearly series in one month only")
    if not rule.bymonth and (rule.byday or rule.bymonthday):
        raise Inexpressible("Outlook repeats a yearly series in one month only")
    month = rule.bymonth[0] if rule.bymonth else start.month
    if rule.byday:
        if rule.bymonthday:
            raise Inexpressible("Outlook cannot combine a day of the month with a weekday")
        relative = _relative(rule)
        if relative is None:
            raise Inexpressible("Outlook repeats a yearly series on one day a year")
        return {"type": "relativeYearly", "interval": rule.interval, **relative,
                "month": month}
    longest = calendar.monthrange(2024, month)[1]
    if rule.bymonthday == (-1,) and not rule.bysetpos:
        # Outlook's 29 February is the month's last day in common years.
        day: int | None = longest
    else:
        day = _month_day(rule.bymonthday, rule.bysetpos, start.day)
        if day is None or day > longest:
            raise Inexpressible("Outlook repeats a yearly series on one day a year")
        if month == 2 and day == 29 and not rule.bysetpos:
            raise Inexpressible("Outlook moves 29 February to the 28th in common years, "
                                "which this rule skips")
    return {"type": "absoluteYearly", "interval": rule.interval, "dayOfMonth": day,
            "month": month}


def _relative(rule: Rule) -> dict[str, Any] | None:
    """`daysOfWeek` and `index` for `2TH`, or `TH,FR;BYSETPOS=2`; None for other shapes."""
    if len(rule.byday) == 1 and rule.byday[0].ordinal is not None and not rule.bysetpos:
        day = rule.byday[0]
        position: int | None = day.ordinal
        days = [day.day]
    elif rule.bysetpos and all(d.ordinal is None for d in rule.byday):
        position = rule.bysetpos[0]
        days = [d.day for d in rule.byday]
    else:
        return None
    if position not in _POSITIONS:
        raise Inexpressible("Outlook counts weekdays in a month as first to fourth, or last")
    return {"daysOfWeek": _day_names(days), "index": _POSITIONS[position]}


def _month_day(bymonthday: tuple[int, ...], bysetpos: tuple[int, ...],
               default: int) -> int | None:
    """The one day of the month a rule means, or None. `d,-1;BYSETPOS=1` (d >= 29) is
    "the d-th, or the last day of a shorter month" — Outlook's own reading of d."""
    if not bymonthday and not bysetpos:
        return default
    if bymonthday == (-1,) and not bysetpos:
        return 31
    if len(bymonthday) == 1 and bymonthday[0] > 0 and not bysetpos:
        return bymonthday[0]
    days = set(bymonthday)
    if bysetpos == (1,) and len(days) == 2 and -1 in days:
        day = max(days)
        if day >= 29:
            return day
    return None


def _short_months_covered(rule: Rule, start: datetime | date, day: int) -> bool:
    """Whether Outlook's "or the last day" never applies to a rule that names `day` plainly:
    every month its interval visits is long enough (February counted as 28 days)."""
    if rule.bysetpos or rule.bymonthday == (-1,):
        return True
    months = {(start.month - 1 + k * rule.interval) % 12 + 1 for k in range(12)}
    return all((28 if m == 2 else calendar.monthrange(2023, m)[1]) >= day for m in months)


def _rule_range(rule: Rule, local: datetime | date, zone: str) -> dict[str, Any]:
    first = local.date() if isinstance(local, datetime) else local
    out: dict[str, Any] = {"startDate": first.isoformat()}
    if rule.count is not None:
        out = {"type": "numbered", **out, "numberOfOccurrences": rule.count}
    elif rule.until is not None:
        out = {"type": "endDate", **out,
               "endDate": _end_date(rule.until, local, zone).isoformat()}
    else:
        out = {"type": "noEnd", **out}
    out["recurrenceTimeZone"] = zone
    return out


def _end_date(until: date | datetime, local: datetime | date, zone: str) -> date:
    """The last local day whose occurrence (at the series' wall time) starts by UNTIL."""
    tz = zone_info(zone)
    if not isinstance(local, datetime):
        if isinstance(until, datetime):
            return until.astimezone(tz).date() if until.tzinfo else until.date()
        return until
    if not isinstance(until, datetime):
        return until  # a DATE on a timed series: the whole of that day
    moment = utc_instant(until, tz)
    day = moment.astimezone(tz).date()
    if utc_instant(datetime.combine(day, local.time()), tz) > moment:
        day -= timedelta(days=1)
    return day


def _local_start(start: datetime | date, zone: str) -> datetime | date:
    if not isinstance(start, datetime):
        return start
    return utc_instant(start, zone_info(zone)).astimezone(zone_info(zone))


def _day_names(days: list[int]) -> list[str]:
    return [GRAPH_DAYS[d] for d in _GRAPH_ORDER if d in set(days)]


def _ordinal(day: int) -> str:
    return {29: "29th", 30: "30th", 31: "31st"}[day]
