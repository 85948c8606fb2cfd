"""Fingerprints tell a real change from an echo."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from calbridge.model import Event, EventStatus, Recurrence
from calbridge.sync.fingerprint import fingerprint

ZONES = [ZoneInfo(z) for z in ("UTC", "Europe/Oslo", "America/New_York", "Asia/Kolkata",
                               "Australia/Lord_Howe")]

instants = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2060, 1, 1),
                        timezones=st.just(UTC)).map(lambda d: d.replace(microsecond=0))
texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


def event(start: datetime, title: str = "Board meeting", **fields: object) -> Event:
    # An hour later as an instant: adding to a zoned datetime would add wall-clock time,
    # which differs across a DST change.
    end = (start.astimezone(UTC) + timedelta(hours=1)).astimezone(start.tzinfo)
    return Event(title=title, start=start, end=end, **fields)


@given(instants, st.sampled_from(ZONES), st.sampled_from(ZONES))
def test_the_same_instant_in_any_zone_is_the_same_event(start: datetime, a: ZoneInfo,
                                                        b: ZoneInfo) -> None:
    left = event(start.astimezone(a), timezone=str(a))
    right = event(start.astimezone(b), timezone=str(b))
    assert fingerprint(left) == fingerprint(right)


@given(instants, texts, texts)
def test_bookkeeping_fields_do_not_count(start: datetime, etag: str, marker: str) -> None:
    plain = event(start)
    noted = event(start, id="AAMk1", etag=etag, marker=marker, calendar_id="room@x",
                  last_modified=start)
    assert fingerprint(plain) == fingerprint(noted)


@given(instants, texts, texts)
def test_a_different_title_is_a_change(start: datetime, a: str, b: str) -> None:
    if " ".join(a.split()) != " ".join(b.split()):
        assert fingerprint(event(start, a)) != fingerprint(event(start, b))


def test_moving_cancelling_and_recurring_are_changes() -> None:
    start = datetime(2031, 3, 10, 9, tzinfo=UTC)
    base = fingerprint(event(start))
    assert fingerprint(event(start + timedelta(minutes=30))) != base
    assert fingerprint(event(start, status=EventStatus.CANCELLED)) != base
    assert fingerprint(event(start, recurrence=Recurrence(rrule="FREQ=WEEKLY"))) != base


def test_line_endings_and_trailing_spaces_are_not_changes() -> None:
    start = datetime(2031, 3, 10, 9, tzinfo=UTC)
    assert (fingerprint(event(start, description="Agenda\r\n- budget  \r\n"))
            == fingerprint(event(start, description="Agenda\n- budget")))


def test_all_day_is_not_midnight() -> None:
    day = Event(title="Closed", start=date(2031, 3, 12), end=date(2031, 3, 13), all_day=True)
    midnight = Event(title="Closed", start=datetime(2031, 3, 12, tzinfo=UTC),
                     end=datetime(2031, 3, 13, tzinfo=UTC))
    assert fingerprint(day) != fingerprint(midnight)


def test_rule_part_order_does_not_matter() -> None:
    start = datetime(2031, 3, 10, 9, tzinfo=UTC)
    a = event(start, recurrence=Recurrence(rrule="FREQ=WEEKLY;BYDAY=MO;COUNT=4"))
    b = event(start, recurrence=Recurrence(rrule="count=4;BYDAY=MO;FREQ=WEEKLY"))
    assert fingerprint(a) == fingerprint(b)
