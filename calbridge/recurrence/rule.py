"""RFC 5545 RRULE values (section 3.3.10) read into a typed `Rule` and written back.

Only the syntax is checked here; what a rule means is `expand`'s business, and whether
Outlook can carry it is `graph`'s.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from calbridge.errors import ValidationFailed

# Index == date.weekday(), as dateutil and the calendar module count.
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
FREQUENCIES = ("SECONDLY", "MINUTELY", "HOURLY", "DAILY", "WEEKLY", "MONTHLY", "YEARLY")

_BYDAY = re.compile(r"^([+-]?\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)$")
_UNTIL = re.compile(r"^(\d{8})(T(\d{6})(Z?))?$")
# name -> (lowest, highest, zero allowed, negative allowed) for the numeric lists.
_NUMBER_LISTS = {
    "BYSECOND": (0, 60, True, False),
    "BYMINUTE": (0, 59, True, False),
    "BYHOUR": (0, 23, True, False),
    "BYMONTHDAY": (1, 31, False, True),
    "BYYEARDAY": (1, 366, False, True),
    "BYWEEKNO": (1, 53, False, True),
    "BYMONTH": (1, 12, False, False),
    "BYSETPOS": (1, 366, False, True),
}


@dataclass(frozen=True)
class Weekday:
    """One BYDAY entry: a weekday (0 = Monday) and its optional ordinal (`2TH`, `-1FR`)."""

    day: int
    ordinal: int | None = None

    def text(self) -> str:
        return f"{self.ordinal if self.ordinal is not None else ''}{WEEKDAYS[self.day]}"


@dataclass(frozen=True)
class Rule:
    """A parsed RRULE. `until` is a date, a floating datetime or an aware UTC datetime,
    as the value was written; `rscale`/`skip` are RFC 7529's calendar-scale parts."""

    freq: str
    interval: int = 1
    count: int | None = None
    until: date | datetime | None = None
    bysecond: tuple[int, ...] = ()
    byminute: tuple[int, ...] = ()
    byhour: tuple[int, ...] = ()
    byday: tuple[Weekday, ...] = ()
    bymonthday: tuple[int, ...] = ()
    byyearday: tuple[int, ...] = ()
    byweekno: tuple[int, ...] = ()
    bymonth: tuple[int, ...] = ()
    bysetpos: tuple[int, ...] = ()
    wkst: int | None = None
    rscale: str | None = None
    skip: str | None = None
    extra: dict[str, str] = field(default_factory=dict, compare=False)

    @classmethod
    def parse(cls, text: str) -> Rule:
        """Read an RRULE value (an `RRULE:` prefix is tolerated); `ValidationFailed` when
        it is not one."""
        value = text.strip()
        if value.upper().startswith("RRULE:"):
            value = value[len("RRULE:"):]
        parts: dict[str, str] = {}
        for item in value.split(";"):
            if not item.strip():
                continue  # a trailing ';', as some producers write
            name, sep, raw = item.partition("=")
            name = name.strip().upper()
            if not sep or not raw.strip() or name in parts:
                raise _invalid(text, f"'{item}' is not a NAME=VALUE rule part")
            parts[name] = raw.strip().upper()
        freq = parts.pop("FREQ", None)
        if freq not in FREQUENCIES:
            raise _invalid(text, "FREQ is missing or unknown")
        values: dict[str, object] = {"freq": freq}
        if "INTERVAL" in parts:
            values["interval"] = _positive(parts.pop("INTERVAL"), "INTERVAL", text)
        if "COUNT" in parts:
            values["count"] = _positive(parts.pop("COUNT"), "COUNT", text)
        if "UNTIL" in parts:
            if "count" in values:
                raise _invalid(text, "COUNT and UNTIL must not both be given")
            values["until"] = _until(parts.pop("UNTIL"), text)
        for name, bounds in _NUMBER_LISTS.items():
            if name in parts:
                values[name.lower()] = _numbers(parts.pop(name), name, bounds, text)
        if "BYDAY" in parts:
            values["byday"] = _weekdays(parts.pop("BYDAY"), text)
        if "WKST" in parts:
            wkst = parts.pop("WKST")
            if wkst not in WEEKDAYS:
                raise _invalid(text, f"WKST={wkst} is not a weekday")
            values["wkst"] = WEEKDAYS.index(wkst)
        if "RSCALE" in parts:
            values["rscale"] = parts.pop("RSCALE")
        if "SKIP" in parts:
            values["skip"] = parts.pop("SKIP")
        values["extra"] = parts  # X- parts and anything newer than RFC 7529
        return cls(**values)  # type: ignore[arg-type]

    def text(self) -> str:
        """The RRULE value in a stable part order (FREQ, INTERVAL, COUNT/UNTIL, BYxxx, WKST)."""
        out = [f"FREQ={self.freq}"]
        if self.rscale:
            out.insert(0, f"RSCALE={self.rscale}")
        if self.interval != 1:
            out.append(f"INTERVAL={self.interval}")
        if self.count is not None:
            out.append(f"COUNT={self.count}")
        if self.until is not None:
            out.append(f"UNTIL={until_text(self.until)}")
        for name in ("BYMONTH", "BYWEEKNO", "BYYEARDAY", "BYMONTHDAY"):
            numbers = getattr(self, name.lower())
            if numbers:
                out.append(f"{name}={','.join(str(n) for n in numbers)}")
        if self.byday:
            out.append(f"BYDAY={','.join(d.text() for d in self.byday)}")
        for name in ("BYHOUR", "BYMINUTE", "BYSECOND", "BYSETPOS"):
            numbers = getattr(self, name.lower())
            if numbers:
                out.append(f"{name}={','.join(str(n) for n in numbers)}")
        if self.wkst is not None:
            out.append(f"WKST={WEEKDAYS[self.wkst]}")
        if self.skip:
            out.append(f"SKIP={self.skip}")
        out.extend(f"{name}={value}" for name, value in self.extra.items())
        return ";".join(out)


def until_text(value: date | datetime) -> str:
    """UNTIL as RFC 5545 writes it: a DATE, or a DATE-TIME in UTC (`Z`) or floating."""
    if not isinstance(value, datetime):
        return value.strftime("%Y%m%d")
    if value.tzinfo is None:
        return value.strftime("%Y%m%dT%H%M%S")
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _until(raw: str, text: str) -> date | datetime:
    match = _UNTIL.match(raw)
    if not match:
        raise _invalid(text, f"UNTIL={raw} is not a date or date-time")
    try:
        day = datetime.strptime(match.group(1), "%Y%m%d")
        if not match.group(2):
            return day.date()
        moment = datetime.strptime(match.group(1) + match.group(3), "%Y%m%d%H%M%S")
    except ValueError as exc:
        raise _invalid(text, f"UNTIL={raw} is not a real date") from exc
    return moment.replace(tzinfo=UTC) if match.group(4) else moment


def _positive(raw: str, name: str, text: str) -> int:
    if not raw.isdigit() or int(raw) < 1:
        raise _invalid(text, f"{name}={raw} is not a positive integer")
    return int(raw)


def _numbers(raw: str, name: str, bounds: tuple[int, int, bool, bool],
             text: str) -> tuple[int, ...]:
    low, high, zero, negative = bounds
    out: list[int] = []
    for item in raw.split(","):
        item = item.strip()
        if not re.fullmatch(r"[+-]?\d{1,3}", item):
            raise _invalid(text, f"{name} holds '{item}', not a number")
        number = int(item)
        size = abs(number)
        if (number < 0 and not negative) or (size == 0 and not zero) or not (
                size == 0 or low <= size <= high):
            raise _invalid(text, f"{name}={number} is out of range")
        out.append(number)
    return tuple(out)


def _weekdays(raw: str, text: str) -> tuple[Weekday, ...]:
    out: list[Weekday] = []
    for item in raw.split(","):
        match = _BYDAY.match(item.strip())
        if not match:
            raise _invalid(text, f"BYDAY holds '{item}', not a weekday")
        ordinal = int(match.group(1)) if match.group(1) else None
        if ordinal is not None and not 1 <= abs(ordinal) <= 53:
            raise _invalid(text, f"BYDAY={item} has an ordinal out of range")
        out.append(Weekday(WEEKDAYS.index(match.group(2)), ordinal))
    return tuple(out)


def _invalid(text: str, why: str) -> ValidationFailed:
    return ValidationFailed(f"not a valid RRULE ({why}): {text}",
                            details={"fields": ["recurrence.rrule"], "rule": text})
