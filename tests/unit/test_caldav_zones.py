"""The VTIMEZONE calbridge writes for a zone says what the zone database says, in few
lines: yearly transitions as the rule they follow, never a list of dates in one RDATE."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

import pytest
from icalendar import Timezone

from calbridge.bridges.caldav.convert import ZONE_SPAN, _vtimezone

# Northern and southern daylight saving, a half-hour zone, rules changed in 1996 and 2007,
# daylight saving ended (São Paulo 2019, Tehran 2022; Moscow and Minsk in 2011 after
# decades of the same yearly rule), transitions on Fridays at 02:00 (Jerusalem), none.
ZONES = ("Europe/Berlin", "America/New_York", "Australia/Sydney", "Australia/Adelaide",
         "Asia/Jerusalem", "America/Sao_Paulo", "Asia/Tehran", "Pacific/Auckland",
         "Europe/London", "America/Santiago", "Asia/Kolkata", "Europe/Moscow",
         "Europe/Minsk", "Europe/Istanbul", "UTC")


def as_read(zone: Timezone) -> tzinfo:
    """The zone as a client without a zone database reads it: from its components."""
    return Timezone.from_ical(zone.to_ical()).to_tz(lookup_tzid=False)


@pytest.mark.parametrize("name", ZONES)
def test_the_written_zone_says_what_every_transition_listed_says(name: str) -> None:
    written = _vtimezone(name)
    assert written is not None
    listed = as_read(Timezone.from_tzid(name, first_date=ZONE_SPAN[0],
                                        last_date=ZONE_SPAN[1]))
    read = as_read(written)
    moment, differ = datetime(1971, 1, 1, tzinfo=UTC), []
    while moment.year < 2099:
        if moment.astimezone(read).utcoffset() != moment.astimezone(listed).utcoffset():
            differ.append(moment)
        moment += timedelta(days=11, hours=7)  # every hour of the day, over the years
    assert differ == []


@pytest.mark.parametrize("name", ZONES)
def test_the_written_zone_gives_the_zone_databases_offsets(name: str) -> None:
    written = _vtimezone(name)
    assert written is not None
    read, zone = as_read(written), ZoneInfo(name)
    for year in range(1990, 2090):
        for month in (1, 4, 7, 10):
            moment = datetime(year, month, 15, 12, tzinfo=UTC)
            assert moment.astimezone(read).utcoffset() == moment.astimezone(
                zone).utcoffset(), moment


def test_a_zone_with_yearly_rules_is_written_as_rules() -> None:
    written = _vtimezone("Europe/Berlin")
    assert written is not None
    text = written.to_ical().decode()
    assert "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3" in text
    assert "RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10" in text
    # Radicale keeps only the first date of a list in one RDATE of a VTIMEZONE.
    assert all("," not in line for line in text.splitlines() if line.startswith("RDATE"))
    assert len(text.splitlines()) < 60
