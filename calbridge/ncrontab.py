"""NCRONTAB schedules, as Azure Functions timer triggers use them:
six fields, `{second} {minute} {hour} {day} {month} {day-of-week}`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

_FIELDS = (("second", 0, 59), ("minute", 0, 59), ("hour", 0, 23), ("day", 1, 31),
           ("month", 1, 12), ("weekday", 0, 6))
_NAMES = {
    "month": {m: i for i, m in enumerate(
        "jan feb mar apr may jun jul aug sep oct nov dec".split(), start=1)},
    "weekday": {d: i for i, d in enumerate("sun mon tue wed thu fri sat".split())},
}


def _value(text: str, field: str) -> int:
    lowered = text.lower()
    names = _NAMES.get(field, {})
    if lowered in names:
        return names[lowered]
    if not text.isdigit():
        raise ValueError(f"invalid {field} value {text!r}")
    return int(text)


def _parse_field(text: str, field: str, low: int, high: int) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        body, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError(f"invalid step in {field}: {part!r}")
        if body == "*":
            start, end = low, high
        elif "-" in body:
            first, _, last = body.partition("-")
            start, end = _value(first, field), _value(last, field)
        else:
            start = _value(body, field)
            end = high if step_text else start
        if field == "weekday" and end == 7:  # 7 is Sunday too
            values.add(0)
            end = 6
        if not (low <= start <= high and low <= end <= high and start <= end):
            raise ValueError(f"{field} out of range in {part!r}")
        values.update(range(start, end + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class Schedule:
    second: frozenset[int]
    minute: frozenset[int]
    hour: frozenset[int]
    day: frozenset[int]
    month: frozenset[int]
    weekday: frozenset[int]
    day_restricted: bool
    weekday_restricted: bool

    @classmethod
    def parse(cls, expression: str) -> Schedule:
        parts = expression.split()
        if len(parts) != 6:
            raise ValueError(f"NCRONTAB needs 6 fields (second first), got {expression!r}")
        fields = {name: _parse_field(part, name, low, high)
                  for part, (name, low, high) in zip(parts, _FIELDS, strict=True)}
        return cls(**fields, day_restricted=parts[3] != "*", weekday_restricted=parts[5] != "*")

    def _day_matches(self, moment: datetime) -> bool:
        weekday = (moment.weekday() + 1) % 7  # Sunday = 0
        in_day, in_week = moment.day in self.day, weekday in self.weekday
        if self.day_restricted and self.weekday_restricted:
            return in_day or in_week  # cron's rule: either restriction may match
        return in_day and in_week

    def next_after(self, moment: datetime) -> datetime:
        """The first matching second strictly after `moment`."""
        candidate = moment.replace(microsecond=0) + timedelta(seconds=1)
        limit = candidate + timedelta(days=366 * 5)
        while candidate < limit:
            if candidate.month not in self.month:
                candidate = (candidate.replace(day=1, hour=0, minute=0, second=0)
                             + timedelta(days=32)).replace(day=1)
                continue
            if not self._day_matches(candidate):
                candidate = candidate.replace(hour=0, minute=0, second=0) + timedelta(days=1)
                continue
            if candidate.hour not in self.hour:
                candidate = candidate.replace(minute=0, second=0) + timedelta(hours=1)
                continue
            if candidate.minute not in self.minute:
                candidate = candidate.replace(second=0) + timedelta(minutes=1)
                continue
            if candidate.second not in self.second:
                candidate += timedelta(seconds=1)
                continue
            return candidate
        raise ValueError("schedule never fires")
