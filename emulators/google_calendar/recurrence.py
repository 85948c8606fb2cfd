"""Recurring events as Google Calendar keeps them: one master event whose `recurrence` holds
RFC 5545 lines (RRULE, EXRULE, RDATE, EXDATE), expanded into instances in the event's own
time zone, so a 09:00 Europe/Berlin series stays at 09:00 local across a DST change.

Looked up: the Events resource reference (`recurrence`: "List of RRULE, EXRULE, RDATE and
EXDATE lines for a recurring event, as specified in RFC5545. Note that DTSTART and DTEND
lines are not allowed in this field"; instance ids, `recurringEventId`,
`originalStartTime`) and the "Recurring events" guide. Instance ids are
`<masterId>_<YYYYMMDDTHHMMSSZ>` (UTC) for timed series and `<masterId>_<YYYYMMDD>` for
all-day ones, as Google's are observed to be.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule, rruleset, rrulestr

LINE = re.compile(r"^(?P<name>RRULE|EXRULE|RDATE|EXDATE)(?P<params>(;[^:]*)?):(?P<value>.+)$",
                  re.IGNORECASE)
UNTIL = re.compile(r"UNTIL=(?P<value>[0-9TZ]+)", re.IGNORECASE)
MAX_INSTANCES = 5000  # a bound on any one expansion, so an endless series cannot hang a list


@dataclass(frozen=True)
class Timing:
    """When an event (or its series' first instance) happens.

    Timed: aware datetimes in `zone`. All-day: dates (`all_day`), floating.
    """

    all_day: bool
    start: dt.datetime | dt.date
    end: dt.datetime | dt.date
    zone: ZoneInfo

    def utc_bounds(self) -> tuple[dt.datetime, dt.datetime]:
        """Start and end as UTC instants (all-day dates at midnight in `zone`)."""
        return to_instant(self.start, self.zone), to_instant(self.end, self.zone)

    def shifted(self, start: dt.datetime | dt.date) -> Timing:
        """The same duration starting at ``start``."""
        if self.all_day:
            assert isinstance(start, dt.date)
            return Timing(True, start, start + (_as_date(self.end) - _as_date(self.start)),
                          self.zone)
        assert isinstance(start, dt.datetime) and isinstance(self.start, dt.datetime)
        duration = self.end - self.start  # type: ignore[operator]
        # Wall-clock duration across DST follows the instants, as Google does.
        end = (start.astimezone(dt.UTC) + duration).astimezone(self.zone)
        return Timing(False, start, end, self.zone)


def _as_date(value: dt.datetime | dt.date) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


def to_instant(value: dt.datetime | dt.date, zone: ZoneInfo) -> dt.datetime:
    """A moment as UTC; dates are midnight in ``zone``."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC)
    return dt.datetime.combine(value, dt.time(), zone).astimezone(dt.UTC)


def instance_suffix(original_start: dt.datetime | dt.date) -> str:
    """The part after `_` in an instance id."""
    if isinstance(original_start, dt.datetime):
        return original_start.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return original_start.strftime("%Y%m%d")


def parse_suffix(suffix: str, all_day: bool, zone: ZoneInfo) -> dt.datetime | dt.date | None:
    """The original start an instance-id suffix names, or None when it is not one."""
    try:
        if all_day:
            return dt.datetime.strptime(suffix, "%Y%m%d").date()
        moment = dt.datetime.strptime(suffix, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
        return moment.astimezone(zone)
    except ValueError:
        return None


def check_lines(lines: list[str], timing: Timing) -> None:
    """ValueError unless every line parses and the series has at least one instance."""
    build_set(lines, timing)


def build_set(lines: list[str], timing: Timing) -> rruleset:
    """A dateutil rule set for ``lines`` starting at ``timing.start``."""
    start = _dtstart(timing)
    rules = rruleset()
    has_rule = False
    for line in lines:
        found = LINE.match(line.strip())
        if not found:
            raise ValueError(f"not a recurrence line: {line!r}")
        name = found["name"].upper()
        params = {k.upper(): v for k, _, v in (p.partition("=") for p in
                                               found["params"].split(";") if p)}
        value = found["value"]
        if name in ("RRULE", "EXRULE"):
            rule = rrulestr(f"RRULE:{_normalise_until(value, timing)}", dtstart=start)
            if not isinstance(rule, rrule):
                raise ValueError("one rule per line")
            if name == "RRULE":
                rules.rrule(rule)
                has_rule = True
            else:
                rules.exrule(rule)
        else:
            for item in value.split(","):
                moment = _parse_date_value(item.strip(), params, timing)
                (rules.rdate if name == "RDATE" else rules.exdate)(moment)
                has_rule = has_rule or name == "RDATE"
    if not has_rule:
        raise ValueError("no RRULE or RDATE")
    rules.rdate(start)  # the first instance is the event itself, as with DTSTART
    return rules


def _dtstart(timing: Timing) -> dt.datetime:
    if timing.all_day:
        return dt.datetime.combine(_as_date(timing.start), dt.time())
    assert isinstance(timing.start, dt.datetime)
    return timing.start.astimezone(timing.zone)


def _normalise_until(rule: str, timing: Timing) -> str:
    """dateutil wants UNTIL in UTC for a zoned start and floating for a floating one."""
    found = UNTIL.search(rule)
    if not found:
        return rule
    text = found["value"].upper()
    if timing.all_day:
        replacement = text[:8]
    else:
        if text.endswith("Z"):
            return rule
        if "T" in text:
            local = dt.datetime.strptime(text, "%Y%m%dT%H%M%S").replace(tzinfo=timing.zone)
        else:  # a date: the whole of that day counts
            day = dt.datetime.strptime(text, "%Y%m%d")
            local = day.replace(hour=23, minute=59, second=59, tzinfo=timing.zone)
        replacement = local.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return rule[:found.start("value")] + replacement + rule[found.end("value"):]


def _parse_date_value(text: str, params: dict[str, str], timing: Timing) -> dt.datetime:
    upper = text.upper()
    if timing.all_day:
        return dt.datetime.strptime(upper[:8], "%Y%m%d")
    if "T" not in upper:  # VALUE=DATE on a timed series: that day at the series' time
        day = dt.datetime.strptime(upper, "%Y%m%d").date()
        assert isinstance(timing.start, dt.datetime)
        return dt.datetime.combine(day, timing.start.astimezone(timing.zone).time(),
                                   timing.zone)
    if upper.endswith("Z"):
        moment = dt.datetime.strptime(upper, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    else:
        zone = ZoneInfo(params["TZID"]) if "TZID" in params else timing.zone
        moment = dt.datetime.strptime(upper, "%Y%m%dT%H%M%S").replace(tzinfo=zone)
    return moment.astimezone(timing.zone)


def starts(lines: list[str], timing: Timing, until: dt.datetime) -> Iterator[dt.datetime | dt.date]:
    """Instance start times (original starts) up to, not including, the UTC instant ``until``."""
    for count, moment in enumerate(build_set(lines, timing)):
        if count >= MAX_INSTANCES:
            return
        if timing.all_day:
            day = moment.date()
            if to_instant(day, timing.zone) >= until:
                return
            yield day
        else:
            if moment.astimezone(dt.UTC) >= until:
                return
            yield moment.astimezone(timing.zone)
