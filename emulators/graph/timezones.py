"""Time zone names as Graph accepts them: Windows names (CLDR windowsZones) or IANA names."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .api import GraphError, parse_iso

# Windows zone name -> IANA zone (CLDR windowsZones.xml, territory "001"), the common ones.
WINDOWS_TO_IANA: dict[str, str] = {
    "UTC": "Etc/UTC",
    "Coordinated Universal Time": "Etc/UTC",
    "tzone://Microsoft/Utc": "Etc/UTC",
    "GMT Standard Time": "Europe/London",
    "Greenwich Standard Time": "Atlantic/Reykjavik",
    "W. Europe Standard Time": "Europe/Berlin",
    "Central Europe Standard Time": "Europe/Budapest",
    "Central European Standard Time": "Europe/Warsaw",
    "Romance Standard Time": "Europe/Paris",
    "E. Europe Standard Time": "Europe/Chisinau",
    "FLE Standard Time": "Europe/Kiev",
    "GTB Standard Time": "Europe/Bucharest",
    "Russian Standard Time": "Europe/Moscow",
    "Turkey Standard Time": "Europe/Istanbul",
    "Israel Standard Time": "Asia/Jerusalem",
    "South Africa Standard Time": "Africa/Johannesburg",
    "Egypt Standard Time": "Africa/Cairo",
    "Arabian Standard Time": "Asia/Dubai",
    "Arab Standard Time": "Asia/Riyadh",
    "Iran Standard Time": "Asia/Tehran",
    "Pakistan Standard Time": "Asia/Karachi",
    "India Standard Time": "Asia/Calcutta",
    "Nepal Standard Time": "Asia/Katmandu",
    "Bangladesh Standard Time": "Asia/Dhaka",
    "SE Asia Standard Time": "Asia/Bangkok",
    "China Standard Time": "Asia/Shanghai",
    "Singapore Standard Time": "Asia/Singapore",
    "Taipei Standard Time": "Asia/Taipei",
    "Tokyo Standard Time": "Asia/Tokyo",
    "Korea Standard Time": "Asia/Seoul",
    "AUS Eastern Standard Time": "Australia/Sydney",
    "E. Australia Standard Time": "Australia/Brisbane",
    "Cen. Australia Standard Time": "Australia/Adelaide",
    "W. Australia Standard Time": "Australia/Perth",
    "New Zealand Standard Time": "Pacific/Auckland",
    "Hawaiian Standard Time": "Pacific/Honolulu",
    "Alaskan Standard Time": "America/Anchorage",
    "Pacific Standard Time": "America/Los_Angeles",
    "US Mountain Standard Time": "America/Phoenix",
    "Mountain Standard Time": "America/Denver",
    "Central Standard Time": "America/Chicago",
    "Central America Standard Time": "America/Guatemala",
    "Canada Central Standard Time": "America/Regina",
    "Mexico Standard Time": "America/Mexico_City",
    "Central Standard Time (Mexico)": "America/Mexico_City",
    "Eastern Standard Time": "America/New_York",
    "US Eastern Standard Time": "America/Indianapolis",
    "SA Pacific Standard Time": "America/Bogota",
    "Atlantic Standard Time": "America/Halifax",
    "Newfoundland Standard Time": "America/St_Johns",
    "E. South America Standard Time": "America/Sao_Paulo",
    "Argentina Standard Time": "America/Buenos_Aires",
    "Pacific SA Standard Time": "America/Santiago",
    "Morocco Standard Time": "Africa/Casablanca",
    "W. Central Africa Standard Time": "Africa/Lagos",
    "E. Africa Standard Time": "Africa/Nairobi",
    "Azores Standard Time": "Atlantic/Azores",
    "Cape Verde Standard Time": "Atlantic/Cape_Verde",
    "Dateline Standard Time": "Etc/GMT+12",
    "UTC-11": "Etc/GMT+11",
    "UTC+12": "Etc/GMT-12",
}
_WINDOWS_LOWER = {name.lower(): iana for name, iana in WINDOWS_TO_IANA.items()}


@lru_cache(maxsize=256)
def resolve_zone(name: str) -> ZoneInfo:
    """The zone for a Windows or IANA name; 400 TimeZoneNotSupportedException when unknown."""
    candidate = (name or "").strip()
    iana = _WINDOWS_LOWER.get(candidate.lower(), candidate)
    try:
        if not iana or iana.startswith("/") or ".." in iana:
            raise ZoneInfoNotFoundError(iana)
        return ZoneInfo(iana)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise GraphError(
            400,
            "TimeZoneNotSupportedException",
            "A valid TimeZone value must be specified. The following TimeZone value is not "
            f"supported: '{name}'.",
        ) from exc


def parse_local(date_time: str, zone_name: str) -> dt.datetime:
    """A Graph dateTimeTimeZone pair as an aware UTC datetime (an explicit offset wins)."""
    try:
        moment = parse_iso(date_time) if _has_offset(date_time) else None
        if moment is None:
            naive = parse_iso(date_time).replace(tzinfo=None)
            moment = naive.replace(tzinfo=resolve_zone(zone_name or "UTC"))
    except ValueError as exc:
        raise GraphError(
            400, "BadRequest", f"Cannot convert the literal '{date_time}' to a dateTime."
        ) from exc
    return moment.astimezone(dt.UTC)


def _has_offset(text: str) -> bool:
    value = text.strip()
    if value.endswith(("Z", "z")):
        return True
    time_part = value.partition("T")[2]
    return "+" in time_part or "-" in time_part


def format_local(moment: dt.datetime, zone_name: str) -> dict[str, str]:
    """A dateTimeTimeZone object for ``moment`` shown in ``zone_name`` (label kept as asked)."""
    local = moment.astimezone(resolve_zone(zone_name))
    text = local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond:06d}0"
    return {"dateTime": text, "timeZone": zone_name}


def output_zone(prefer: dict[str, str]) -> str:
    """The zone asked for with `Prefer: outlook.timezone="..."` (default UTC), validated."""
    name = prefer.get("outlook.timezone", "UTC") or "UTC"
    resolve_zone(name)
    return name


def is_midnight(moment_utc: dt.datetime, zone_name: str) -> bool:
    """True when ``moment_utc`` falls on midnight in ``zone_name`` (all-day boundaries)."""
    local = moment_utc.astimezone(resolve_zone(zone_name))
    return (local.hour, local.minute, local.second, local.microsecond) == (0, 0, 0, 0)
