"""Zones a calendar defines itself (a VTIMEZONE under a name of its own, as Outlook's
iCalendar exports write them) matched to the IANA zone keeping the same clock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from dateutil.tz import tzstr

from calbridge.bridges.timezones import zone_keeping

AT = datetime(2027, 3, 1, 9, tzinfo=UTC)
CENTRAL_EUROPE = tzstr("CET-1CEST,M3.5.0,M10.5.0/3")
US_EASTERN = tzstr("EST5EDT,M3.2.0,M11.1.0")


@pytest.mark.parametrize(("clock", "name", "expected"), [
    # A Windows or IANA name says it all.
    (CENTRAL_EUROPE, "W. Europe Standard Time", "Europe/Berlin"),
    (US_EASTERN, "Eastern Standard Time", "America/New_York"),
    (CENTRAL_EUROPE, "Europe/Vienna", "Europe/Vienna"),
    # A display name: the zone keeping that clock whose place it mentions.
    (CENTRAL_EUROPE, "(UTC+01:00) Amsterdam, Berlin, Bern, Rom, Stockholm, Wien",
     "Europe/Amsterdam"),
    # A name of its own: the zone Windows gives that clock.
    (CENTRAL_EUROPE, "Customized Time Zone", "Europe/Berlin"),
    (US_EASTERN, "Customized Time Zone", "America/New_York"),
    (tzstr("UTC0"), "Customized Time Zone", "UTC"),
])
def test_a_zone_is_matched_by_its_name_or_its_clock(clock: object, name: str,
                                                     expected: str) -> None:
    assert zone_keeping(clock, name, AT, str(clock)) == expected  # type: ignore[arg-type]


def test_a_clock_no_zone_keeps_is_not_matched() -> None:
    # Daylight saving time from the first Sunday of February: no place does that.
    invented = tzstr("XST-3XDT,M2.1.0,M9.1.0")
    assert zone_keeping(invented, "Invented", AT, str(invented)) is None
