"""Time zone names as calendar systems write them mapped to IANA zones: Windows names
(Graph, and Outlook's iCalendar exports), IANA names, and zones a calendar defines itself
in a VTIMEZONE under a name of its own ("Customized Time Zone", "(UTC+01:00) Amsterdam,
Berlin, …"), matched to the IANA zone keeping the same clock."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from tzlocal.windows_tz import tz_win, win_tz

log = logging.getLogger(__name__)

UTC_NAME = "UTC"

# Names Graph uses for UTC that are neither CLDR Windows zones nor IANA names.
_UTC_ALIASES = frozenset({"utc", "etc/utc", "gmt", "z", "coordinated universal time",
                          "tzone://microsoft/utc", "tzone://microsoft/custom"})
_WINDOWS_BY_LOWER = {name.lower(): iana for name, iana in win_tz.items()}
# The zone CLDR gives each Windows zone, weighed by how many IANA zones that Windows zone
# stands for: of several with one clock, the most widely used one's.
_WINDOWS_WEIGHT = Counter(tz_win.values())
_WINDOWS_ZONES = {iana: _WINDOWS_WEIGHT[name] for name, iana in win_tz.items()}


def known_iana(name: str | None) -> str | None:
    """The IANA zone a Windows or IANA zone name stands for, or None when it is neither."""
    if not name or not name.strip():
        return None
    text = name.strip()
    lowered = text.lower()
    if lowered in _UTC_ALIASES:
        return UTC_NAME
    iana = _WINDOWS_BY_LOWER.get(lowered)
    if iana is not None:
        return UTC_NAME if iana in ("Etc/UTC", "Etc/GMT") else iana
    return text if is_iana(text) else None


@lru_cache(maxsize=512)
def to_iana(name: str | None) -> str:
    """The IANA zone for a Windows or IANA zone name; unknown names become UTC (logged)."""
    if not name or not name.strip():
        return UTC_NAME
    found = known_iana(name)
    if found is None:
        log.warning("unknown time zone, using UTC", extra={"zone": name.strip()})
        return UTC_NAME
    return found


@lru_cache(maxsize=512)
def is_iana(name: str) -> bool:
    """Whether the name is a zone the IANA database (tzdata) knows."""
    if not name or name.startswith("/") or ".." in name:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def zone(name: str | None) -> ZoneInfo:
    """The `ZoneInfo` for a Windows or IANA name (UTC when unknown)."""
    return ZoneInfo(to_iana(name))


# A zone's clock over two years, seen once a week: enough to tell apart zones whose
# daylight saving time starts or ends on other dates.
_SAMPLES = 105


def _instants(year: int) -> list[datetime]:
    first = datetime(year, 1, 1, 12, tzinfo=UTC)
    return [first + timedelta(days=7 * n) for n in range(_SAMPLES)]


def _clock(zone: tzinfo, instants: list[datetime]) -> tuple[timedelta | None, ...]:
    return tuple(instant.astimezone(zone).utcoffset() for instant in instants)


@lru_cache(maxsize=4)
def _zones_by_clock(year: int) -> dict[tuple[timedelta | None, ...], list[str]]:
    """Every IANA zone by its clock over `year` and the next (computed once a year)."""
    instants = _instants(year)
    found: dict[tuple[timedelta | None, ...], list[str]] = {}
    for name in sorted(available_timezones()):
        if "/" not in name or name.startswith(("Etc/", "SystemV/", "US/", "posix/", "right/")):
            continue  # aliases and fixed offsets: a named place says more
        try:
            found.setdefault(_clock(ZoneInfo(name), instants), []).append(name)
        except (ZoneInfoNotFoundError, ValueError):
            continue
    return found


def zone_keeping(clock: tzinfo, name: str, at: datetime, definition: str) -> str | None:
    """The IANA zone for a zone a calendar defines itself (`clock`, from its VTIMEZONE
    `definition`, named `name`) around `at`: its name's, when that is a Windows or IANA
    name; else the zone keeping the same clock over that year and the next — the one
    whose place the name mentions, if any ("(UTC+01:00) Amsterdam, Berlin, …"). None
    when no zone does. Matched once per definition and year (each event of such a
    calendar carries its own copy of the zone, and reading its clock is slow)."""
    known = known_iana(name)
    if known is not None:
        return known
    key = (name, definition, at.year)
    matched = _MATCHED.get(key, _UNSEEN)
    if matched is not _UNSEEN:
        return matched  # type: ignore[return-value]
    try:
        found = _matching(_clock(clock, _instants(at.year)), name, at.year)
    except (ValueError, OverflowError):
        found = None
    if len(_MATCHED) >= _MATCHED_KEPT:
        _MATCHED.clear()
    _MATCHED[key] = found
    return found


_MATCHED: dict[tuple[str, str, int], str | None] = {}
_MATCHED_KEPT = 256
_UNSEEN = object()


def _matching(wanted: tuple[timedelta | None, ...], name: str, year: int) -> str | None:
    if not any(wanted):
        return UTC_NAME
    same = _zones_by_clock(year).get(wanted)
    if not same:
        return None
    mentioned = name.lower()
    for candidate in same:
        if candidate.rsplit("/", 1)[-1].replace("_", " ").lower() in mentioned:
            return candidate
    # Else the zone Windows gives that clock (CLDR's), as Outlook would show it.
    return max(same, key=lambda candidate: _WINDOWS_ZONES.get(candidate, 0))
