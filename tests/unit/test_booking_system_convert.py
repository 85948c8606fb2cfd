"""Booking payload ↔ Event conversion, webhook signatures, settings and the change cursor."""

from __future__ import annotations

import base64
import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from calbridge.bridges.booking_system.cursor import ChangeCursor, RecentBookings
from calbridge.bridges.booking_system.payloads import (
    UNTITLED,
    BookingPayload,
    booking_fields,
    create_payload,
    event_from_payload,
    format_stamp,
    parse_instant,
    read_booking,
    update_payload,
)
from calbridge.bridges.booking_system.settings import BookingSystemSettings
from calbridge.bridges.booking_system.webhooks import (
    delivery_signature_for,
    notices_from_body,
    signature_for,
    verify_signature,
)
from calbridge.errors import (
    ConfigurationError,
    SyncStateExpired,
    Unauthorized,
    UpstreamError,
    ValidationFailed,
)
from calbridge.model import Event, EventField, EventOrigin, EventStatus, Person

OSLO = ZoneInfo("Europe/Oslo")


def booking(**fields: object) -> dict[str, object]:
    return {
        "id": "42", "external_id": "link-1", "source_system": "calbridge",
        "resource_id": "room_101", "title": "Board meeting", "description": "Figures",
        "start_time": "2031-03-10T08:00:00Z", "end_time": "2031-03-10T09:30:00Z",
        "all_day": False, "timezone": "Europe/Oslo", "location": "Room A",
        "organizer": {"name": "Kari", "email": "kari@example.org"}, "active": True,
        "version": 3, "created_at": "2031-01-01T10:00:00.000Z",
        "updated_at": "2031-01-02T10:00:00.123Z", **fields,
    }


# ---------------------------------------------------------------- booking → event


def test_timed_booking_becomes_an_aware_utc_event_keeping_its_zone() -> None:
    event = event_from_payload(booking())
    assert event.start == datetime(2031, 3, 10, 8, 0, tzinfo=UTC)
    assert event.start.utcoffset() == timedelta(0)
    assert event.end == datetime(2031, 3, 10, 9, 30, tzinfo=UTC)
    assert event.timezone == "Europe/Oslo"
    assert (event.id, event.calendar_id, event.etag) == ("42", "room_101", "3")
    assert event.organizer == Person(name="Kari", email="kari@example.org")
    assert event.status is EventStatus.CONFIRMED
    assert event.marker == "link-1"
    assert event.last_modified == datetime(2031, 1, 2, 10, 0, 0, 123000, tzinfo=UTC)


def test_offsets_other_than_z_are_read_as_the_same_instant() -> None:
    event = event_from_payload(booking(start_time="2031-03-10T09:00:00+01:00"))
    assert event.start == datetime(2031, 3, 10, 8, 0, tzinfo=UTC)


def test_inactive_booking_is_cancelled() -> None:
    assert event_from_payload(booking(active=False)).status is EventStatus.CANCELLED


def test_all_day_booking_has_dates() -> None:
    event = event_from_payload(booking(all_day=True, start_time="2031-03-12",
                                       end_time="2031-03-13"))
    assert event.all_day is True
    assert (event.start, event.end) == (date(2031, 3, 12), date(2031, 3, 13))


def test_booking_made_elsewhere_has_no_marker() -> None:
    assert event_from_payload(booking(source_system="outlook")).marker is None
    assert event_from_payload(booking(external_id=None, source_system=None)).marker is None


def test_missing_optional_fields_read_as_blank() -> None:
    event = event_from_payload(booking(description=None, location=None, organizer=None,
                                       timezone=None, id=7))
    assert (event.description, event.location, event.organizer, event.timezone, event.id) == (
        "", "", None, "UTC", "7")


@pytest.mark.parametrize("broken", [{"start_time": "tomorrow"}, {"start_time": None},
                                    {"end_time": "2031-03-10T09:30:00"}, {"id": None}])
def test_unreadable_booking_is_an_upstream_error(broken: dict[str, object]) -> None:
    with pytest.raises(UpstreamError):
        event_from_payload(booking(**broken))


# ---------------------------------------------------------------- event → booking


def test_timed_event_is_written_in_utc_with_its_zone() -> None:
    event = Event(title="Board meeting", start=datetime(2031, 3, 10, 9, 0, tzinfo=OSLO),
                  end=datetime(2031, 3, 10, 10, 30, tzinfo=OSLO), timezone="Europe/Oslo",
                  organizer=Person(name="Kari", email="kari@example.org"), marker="link-1")
    payload = create_payload("room_101", event, "link-1")
    assert payload["start_time"] == "2031-03-10T08:00:00Z"
    assert payload["end_time"] == "2031-03-10T09:30:00Z"
    assert (payload["external_id"], payload["source_system"]) == ("link-1", "calbridge")
    assert payload["timezone"] == "Europe/Oslo"
    assert payload["all_day"] is False and payload["active"] is True
    assert payload["organizer"] == {"name": "Kari", "email": "kari@example.org"}
    assert payload["resource_id"] == "room_101"


def test_a_copy_names_its_origin_as_the_guide_does() -> None:
    event = Event(title="Walk-in", start=datetime(2031, 3, 10, 9, 0, tzinfo=UTC),
                  end=datetime(2031, 3, 10, 10, 0, tzinfo=UTC), marker="link-1",
                  origin=EventOrigin(system="outlook", id="AAkALg-1"))
    payload = create_payload("room_101", event, "link-1")
    assert (payload["external_id"], payload["source_system"]) == ("AAkALg-1", "outlook")
    read_back = event_from_payload({**payload, "id": "7", "version": 1})
    assert read_back.origin == EventOrigin(system="outlook", id="AAkALg-1")
    assert read_back.marker is None


def test_an_update_sends_only_the_changed_fields() -> None:
    event = Event(title="Renamed", start=datetime(2031, 3, 10, 9, 0, tzinfo=UTC),
                  end=datetime(2031, 3, 10, 10, 0, tzinfo=UTC),
                  organizer=Person(name="Room A", email="room-a@example.org"))
    assert update_payload("room_101", event, frozenset({EventField.TITLE})) == {
        "title": "Renamed"}
    moved = update_payload("room_101", event, frozenset({EventField.WHEN}))
    assert set(moved) == {"start_time", "end_time", "all_day", "timezone"}
    assert update_payload("room_101", event, frozenset({EventField.PRIVACY})) == {}


def test_milliseconds_survive() -> None:
    start = datetime(2031, 3, 10, 8, 0, 0, 250000, tzinfo=UTC)
    fields = booking_fields("r", Event(start=start, end=start + timedelta(hours=1)))
    assert fields["start_time"] == "2031-03-10T08:00:00.250Z"


def test_all_day_event_is_written_as_dates() -> None:
    event = Event(title="Closed", start=date(2031, 3, 12), end=date(2031, 3, 13), all_day=True)
    fields = booking_fields("room_101", event)
    assert (fields["start_time"], fields["end_time"], fields["all_day"]) == (
        "2031-03-12", "2031-03-13", True)


def test_all_day_event_given_as_midnights_uses_its_own_zone() -> None:
    event = Event(start=datetime(2031, 3, 11, 23, 0, tzinfo=UTC),
                  end=datetime(2031, 3, 12, 23, 0, tzinfo=UTC), all_day=True,
                  timezone="Europe/Oslo")
    fields = booking_fields("r", event)
    assert (fields["start_time"], fields["end_time"]) == ("2031-03-12", "2031-03-13")


def test_cancelled_event_is_written_inactive_and_update_fields_carry_no_origin() -> None:
    event = Event(start=datetime(2031, 3, 10, 8, tzinfo=UTC),
                  end=datetime(2031, 3, 10, 9, tzinfo=UTC), status=EventStatus.CANCELLED)
    fields = booking_fields("r", event)
    assert fields["active"] is False
    assert "external_id" not in fields and "source_system" not in fields


def test_blank_title_and_unknown_zone_are_made_acceptable() -> None:
    event = Event(title="  ", start=datetime(2031, 3, 10, 8, tzinfo=UTC),
                  end=datetime(2031, 3, 10, 9, tzinfo=UTC), timezone="W. Europe Standard Time")
    fields = booking_fields("r", event)
    assert fields["title"] == UNTITLED
    assert fields["timezone"] is None


def test_round_trip_keeps_the_canonical_fields() -> None:
    original = Event(title="Møte 🗓️", description="Tekst",
                     start=datetime(2031, 3, 10, 8, tzinfo=UTC),
                     end=datetime(2031, 3, 10, 9, tzinfo=UTC), timezone="Europe/Oslo",
                     location="Rådhuset", organizer=Person(name="Kari", email="k@example.org"),
                     marker="link-9")
    stored = {**create_payload("room_101", original, "link-9"), "id": "9", "version": 1,
              "updated_at": "2031-01-01T00:00:00.000Z"}
    back = event_from_payload(stored)
    for field in ("title", "description", "start", "end", "timezone", "location", "organizer",
                  "status", "marker", "all_day"):
        assert getattr(back, field) == getattr(original, field), field


# ---------------------------------------------------------------- webhook signatures

SECRET = "whsec-test"
NOW = 1_900_000_000.0


def signed(body: bytes, *, timestamp: int = int(NOW), secret: str = SECRET) -> dict[str, str]:
    return {"X-Booking-Timestamp": str(timestamp),
            "X-Booking-Signature": signature_for(secret, str(timestamp), body)}


BODY = json.dumps({"event_type": "cancelled",
                   "event": {"id": "42", "resource_id": "room_101", "active": False},
                   "occurred_at": "2030-03-17T17:46:40.000Z"}).encode()


def test_a_correct_signature_is_accepted_and_parsed() -> None:
    verify_signature(SECRET, signed(BODY), BODY, now=NOW)
    [notice] = notices_from_body(BODY)
    assert (notice.calendar_id, notice.event_id, notice.change_type) == (
        "room_101", "42", "deleted")


def test_header_names_are_case_insensitive() -> None:
    headers = {key.lower(): value for key, value in signed(BODY).items()}
    verify_signature(SECRET, headers, BODY, now=NOW)


def test_matches_the_example_systems_signature() -> None:
    from examples.booking_system import sign

    assert sign(SECRET, "1900000000", BODY) == signature_for(SECRET, "1900000000", BODY)


@pytest.mark.parametrize("headers", [
    pytest.param(signed(BODY, secret="another-secret"), id="wrong secret"),
    pytest.param(signed(BODY + b" "), id="other body"),
    pytest.param({"X-Booking-Timestamp": str(int(NOW))}, id="no signature"),
    pytest.param({"X-Booking-Signature": signed(BODY)["X-Booking-Signature"]}, id="no timestamp"),
    pytest.param({}, id="no headers"),
    pytest.param(signed(BODY, timestamp=int(NOW) - 301), id="stale"),
    pytest.param(signed(BODY, timestamp=int(NOW) + 301), id="from the future"),
    pytest.param({**signed(BODY), "X-Booking-Timestamp": "yesterday"}, id="unreadable time"),
    pytest.param({**signed(BODY), "X-Booking-Signature": "sha256=00"}, id="garbage"),
])
def test_bad_signatures_are_refused(headers: dict[str, str]) -> None:
    with pytest.raises(Unauthorized):
        verify_signature(SECRET, headers, BODY, now=NOW)


def test_timestamp_just_inside_the_window_is_accepted() -> None:
    verify_signature(SECRET, signed(BODY, timestamp=int(NOW) - 299), BODY, now=NOW)


def test_one_of_several_signatures_may_match() -> None:
    good = signed(BODY)
    headers = {**good, "X-Booking-Signature": "sha256=abc, " + good["X-Booking-Signature"]}
    verify_signature(SECRET, headers, BODY, now=NOW)


def signed_delivery(body: bytes, delivery: str = "d-42", *,
                    timestamp: int = int(NOW)) -> dict[str, str]:
    return {"X-Booking-Timestamp": str(timestamp), "X-Booking-Delivery": delivery,
            "X-Booking-Signature": delivery_signature_for(SECRET, delivery, str(timestamp),
                                                          body)}


def test_a_signed_delivery_id_names_the_delivery_until_its_window_closes() -> None:
    delivery = verify_signature(SECRET, signed_delivery(BODY), BODY, now=NOW)
    assert delivery.id == "d-42"
    assert delivery.replayable_until == datetime.fromtimestamp(NOW + 300, UTC)
    [notice] = notices_from_body(BODY, delivery)
    assert notice.delivery == delivery


def test_without_a_signed_delivery_id_the_signed_request_names_the_delivery() -> None:
    first = verify_signature(SECRET, {**signed(BODY), "X-Booking-Delivery": "d-1"}, BODY,
                             now=NOW)
    same = verify_signature(SECRET, {**signed(BODY), "X-Booking-Delivery": "d-2"}, BODY,
                            now=NOW)
    resent = verify_signature(SECRET, signed(BODY, timestamp=int(NOW) + 1), BODY, now=NOW)
    assert first.id == same.id != resent.id
    assert "d-1" not in first.id


@pytest.mark.parametrize("headers", [
    pytest.param({**signed_delivery(BODY), "X-Booking-Delivery": "d-43"}, id="other delivery"),
    pytest.param({k: v for k, v in signed_delivery(BODY).items()
                  if k != "X-Booking-Delivery"}, id="delivery left out"),
    pytest.param(signed_delivery(BODY, "d.42"), id="delivery with a dot"),
    pytest.param(signed_delivery(BODY + b" "), id="other body"),
    pytest.param(signed_delivery(BODY, timestamp=int(NOW) - 301), id="stale"),
])
def test_bad_delivery_signatures_are_refused(headers: dict[str, str]) -> None:
    with pytest.raises(Unauthorized):
        verify_signature(SECRET, headers, BODY, now=NOW)


def test_matches_the_example_systems_delivery_signature() -> None:
    from examples.booking_system import sign_delivery
    from examples.booking_system import verify_signature as example_verify

    signature = sign_delivery(SECRET, "d-42", "1900000000", BODY)
    assert signature == delivery_signature_for(SECRET, "d-42", "1900000000", BODY)
    assert example_verify(SECRET, "1900000000", BODY, signature, delivery_id="d-42", now=NOW)
    assert not example_verify(SECRET, "1900000000", BODY, signature, delivery_id="d-43",
                              now=NOW)
    assert not example_verify(SECRET, "1900000000", BODY, signature, now=NOW)


@pytest.mark.parametrize(("event_type", "change_type"), [
    ("created", "created"), ("updated", "updated"), ("reactivated", "updated"),
    ("cancelled", "deleted"), ("purged", "deleted"), ("something-new", "updated")])
def test_event_types_map_to_change_types(event_type: str, change_type: str) -> None:
    body = json.dumps({"event_type": event_type, "event": {"id": 5, "resource_id": "r"}}).encode()
    assert notices_from_body(body)[0].change_type == change_type


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"event_type": "created"}',
                                  b'{"event_type": "created", "event": {"id": "1"}}',
                                  b"\xff\xfe"])
def test_malformed_bodies_are_refused(body: bytes) -> None:
    with pytest.raises(ValidationFailed):
        notices_from_body(body)


# ---------------------------------------------------------------- settings

BASE = {"BOOKING_SYSTEM_BASE_URL": "https://bookings.example.org/",
        "BOOKING_SYSTEM_API_KEY": "key-value-1234"}


def test_api_key_settings() -> None:
    config = BookingSystemSettings.from_env(BASE)
    assert config.base_url == "https://bookings.example.org"
    assert config.api_key_header == "X-API-Key" and not config.uses_oauth
    assert "key-value-1234" not in repr(config)


def test_secrets_stay_out_of_repr() -> None:
    config = BookingSystemSettings.from_env({
        "BOOKING_SYSTEM_BASE_URL": "https://b.example.org",
        "BOOKING_SYSTEM_TOKEN_URL": "https://login.example.org/token",
        "BOOKING_SYSTEM_CLIENT_ID": "calbridge",
        "BOOKING_SYSTEM_CLIENT_SECRET": "very-secret-value",
        "BOOKING_SYSTEM_WEBHOOK_SECRET": "hook-secret-value"})
    assert config.uses_oauth
    assert "very-secret-value" not in repr(config) and "hook-secret-value" not in repr(config)


@pytest.mark.parametrize(("env", "named"), [
    ({"BOOKING_SYSTEM_API_KEY": "k"}, "BOOKING_SYSTEM_BASE_URL"),
    ({"BOOKING_SYSTEM_BASE_URL": "ftp://x", "BOOKING_SYSTEM_API_KEY": "k"},
     "BOOKING_SYSTEM_BASE_URL"),
    ({"BOOKING_SYSTEM_BASE_URL": "https://x"}, "BOOKING_SYSTEM_API_KEY"),
    ({"BOOKING_SYSTEM_BASE_URL": "https://x", "BOOKING_SYSTEM_API_KEY": " "},
     "BOOKING_SYSTEM_API_KEY"),
    ({"BOOKING_SYSTEM_BASE_URL": "https://x", "BOOKING_SYSTEM_TOKEN_URL": "https://t",
      "BOOKING_SYSTEM_CLIENT_ID": "c"}, "BOOKING_SYSTEM_CLIENT_SECRET"),
    ({**BASE, "BOOKING_SYSTEM_CA_BUNDLE": "/nonexistent/ca.pem"}, "BOOKING_SYSTEM_CA_BUNDLE"),
])
def test_missing_or_wrong_settings_are_named(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigurationError, match=named):
        BookingSystemSettings.from_env(env)


# ---------------------------------------------------------------- change cursor


def stamped(event_id: str, updated_at: str, version: int = 1) -> BookingPayload:
    return read_booking(booking(id=event_id, updated_at=updated_at, version=version))


T1, T2 = "2031-01-01T00:00:00.000Z", "2031-01-01T00:00:00.001Z"


def test_cursor_round_trips_and_rejects_garbage() -> None:
    cursor = ChangeCursor(since=T1, seen={"1": "2"})
    assert ChangeCursor.decode(cursor.encode()) == cursor
    for garbage in ("", "not-a-cursor", "e30", ChangeCursor(since="x").encode()):
        with pytest.raises(SyncStateExpired):
            ChangeCursor.decode(garbage)


def read_from(bookings: list[BookingPayload]) -> RecentBookings:
    read = RecentBookings()
    for each in bookings:
        read.add(each)
    return read


LATER = datetime(2031, 1, 1, 1, 0, tzinfo=UTC)  # a read long after T1 and T2


def test_cursor_skips_what_it_saw_at_the_same_instant_but_not_what_is_new() -> None:
    cursor = read_from([stamped("1", T1), stamped("2", T1)]).next_cursor(LATER)
    assert cursor.since == T1 and set(cursor.seen) == {"1", "2"}
    # Another booking written in the same millisecond, and one of the seen ones again.
    assert cursor.is_new(stamped("3", T1))
    assert cursor.is_new(stamped("1", T1, version=2))
    assert not cursor.is_new(stamped("2", T1))


def test_cursor_moves_to_the_latest_change_once_it_is_older_than_the_margin() -> None:
    cursor = read_from([stamped("1", T1), stamped("4", T2), stamped("5", T2)]).next_cursor(LATER)
    assert cursor.since == T2 and cursor.seen == {"4": "1", "5": "1"}


def test_cursor_reads_again_the_margin_before_the_read_began() -> None:
    # A booking committed after this read with a change time up to five minutes before it
    # began is read next time: the overlap is re-read, what was seen is skipped.
    began = parse_instant(T2) + timedelta(minutes=2)
    cursor = read_from([stamped("1", T1), stamped("4", T2)]).next_cursor(began)
    assert cursor.since == format_stamp(began - timedelta(minutes=5))
    assert cursor.seen == {"1": "1", "4": "1"}
    late = stamped("7", "2030-12-31T23:59:00.000Z")
    assert cursor.since <= str(late.updated_at) and cursor.is_new(late)
    # Nothing read: the next read still starts at the margin before this one.
    assert read_from([]).next_cursor(began).since == cursor.since


def test_first_cursor_reads_again_the_margin_before_the_listing() -> None:
    began = parse_instant(T1)
    listed = [stamped("1", "2030-12-31T23:00:00.000Z"), stamped("2", T2)]
    cursor = ChangeCursor.opening(began, listed)
    assert cursor.since == format_stamp(began - timedelta(minutes=5))
    assert cursor.seen == {"2": "1"}


def test_a_cursor_of_ten_thousand_bookings_stays_small() -> None:
    # Ten thousand bookings of one resource: thousands written at a few instants (a bulk
    # import), the rest spread over minutes, long ids and versions included.
    start = parse_instant(T1)
    bookings = [stamped(f"booking-{n:06d}", format_stamp(start + timedelta(
        milliseconds=(n // 2500) if n < 7500 else (n - 7500) * 97)), version=n % 50 + 1)
        for n in range(10_000)]
    limit = 8 * 1024  # characters; Table Storage refuses a property over 32 K
    for began in (start + timedelta(minutes=3), start + timedelta(minutes=10)):
        first = ChangeCursor.opening(began, bookings)
        later = read_from(bookings).next_cursor(began)
        for cursor in (first, later):
            assert len(cursor.encode()) < limit
            assert ChangeCursor.decode(cursor.encode()) == cursor
        # What it remembers it skips; everything else comes again (never lost).
        assert sum(not later.is_new(b) for b in bookings) == len(later.seen) > 0


def test_a_cursor_written_before_the_bound_is_read_and_upgraded() -> None:
    seen = {f"{n}": "1" for n in range(3000)}
    raw = json.dumps({"v": 1, "since": T1, "seen": seen}, separators=(",", ":"),
                     sort_keys=True)
    text = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
    cursor = ChangeCursor.decode(text)
    assert cursor.since == T1 and 0 < len(cursor.seen) < len(seen)
    assert cursor.seen.items() <= seen.items()
    assert len(cursor.encode()) < 8 * 1024
