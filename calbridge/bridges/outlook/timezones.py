"""Time zone names as Graph speaks them (Windows or IANA) mapped to IANA zones."""

from __future__ import annotations

import logging
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tzlocal.windows_tz import win_tz

log = logging.getLogger(__name__)

UTC_NAME = "UTC"

# Names Graph uses for UTC that are neither CLDR Windows zones nor IANA names.
_UTC_ALIASES = frozenset({"utc", "etc/utc", "gmt", "z", "coordinated universal time",
                          "tzone://microsoft/utc", "tzone://microsoft/custom"})
_WINDOWS_BY_LOWER = {name.lower(): iana for name, iana in win_tz.items()}


@lru_cache(maxsize=512)
def to_iana(name: str | None) -> str:
    """The IANA zone for a Windows or IANA zone name; unknown names become UTC (logged)."""
    if not name or not name.strip():
        return UTC_NAME
    text = name.strip()
    lowered = text.lower()
    if lowered in _UTC_ALIASES:
        return UTC_NAME
    iana = _WINDOWS_BY_LOWER.get(lowered)
    if iana is not None:
        return UTC_NAME if iana in ("Etc/UTC", "Etc/GMT") else iana
    if is_iana(text):
        return text
    log.warning("unknown time zone, using UTC", extra={"bridge": "outlook", "zone": text})
    return UTC_NAME


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
