"""Reading and writing the ISO 8601 times the API speaks (always UTC with ``Z`` on output)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import InvalidField

_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def stamp(moment: datetime) -> str:
    """``2024-12-15T10:00:00.000Z``: UTC, millisecond precision, sortable as text."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def now_stamp() -> str:
    """The current time as a :func:`stamp`."""
    return stamp(datetime.now(UTC))


def format_instant(moment: datetime) -> str:
    """An event time in UTC: whole seconds when there are no milliseconds."""
    moment = moment.astimezone(UTC)
    if moment.microsecond // 1000:
        return stamp(moment)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def is_date_only(text: str) -> bool:
    """True for a plain calendar date ``YYYY-MM-DD``."""
    return bool(_DATE_ONLY.match(text))


def parse_instant(value: object, field: str) -> datetime:
    """An ISO 8601 date-time with an offset or ``Z``; anything else is a 422 naming ``field``."""
    if not isinstance(value, str):
        raise InvalidField(field, "must be an ISO 8601 date-time string")
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidField(field, f"not an ISO 8601 date-time: {value!r}") from None
    if is_date_only(value.strip()) or moment.tzinfo is None:
        raise InvalidField(field, "must be a date-time with a UTC offset or Z")
    return moment


def parse_all_day(value: object, field: str) -> date:
    """An all-day boundary: ``YYYY-MM-DD`` (or a date-time at exactly midnight)."""
    if not isinstance(value, str):
        raise InvalidField(field, "must be a date string YYYY-MM-DD")
    text = value.strip()
    try:
        if is_date_only(text):
            return date.fromisoformat(text)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidField(field, f"not an ISO 8601 date: {value!r}") from None
    if moment.time() != time(0, 0):
        raise InvalidField(field, "an all-day event starts and ends on dates (YYYY-MM-DD)")
    return moment.date()


def midnight(day: date, zone_name: str | None) -> datetime:
    """The instant an all-day boundary begins: midnight in its zone, or UTC without one."""
    zone = UTC
    if zone_name:
        try:
            zone = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError):
            zone = UTC
    return datetime.combine(day, time(0, 0), tzinfo=zone)


def check_zone(value: object, field: str) -> str:
    """An IANA zone name such as ``Europe/Oslo``."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidField(field, "must be an IANA time zone name such as Europe/Oslo")
    try:
        ZoneInfo(value.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidField(field, f"unknown time zone {value!r}") from None
    return value.strip()
