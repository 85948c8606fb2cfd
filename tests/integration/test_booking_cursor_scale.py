"""A booking resource with thousands of bookings, read through its change cursor: the
example booking system, the Graph emulator and Table Storage on Azurite."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from calbridge.model import utcnow
from calbridge.sync.outcome import OutcomeStatus
from examples.booking_system import BookingSystemServer
from examples.booking_system.timestamps import now_stamp
from tests.fixtures.real_bridges import Bridged
from tests.fixtures.two_bridges import RESOURCE, ROOM

BOOKINGS = 2400
ACTIVE = 12  # the rest are cancelled: read and remembered, but nothing to write
INSTANTS = 3  # a bulk import: a thousand bookings share each change time


def stamp(minutes_ago: float, extra_ms: int = 0) -> str:
    moment = utcnow() - timedelta(minutes=minutes_ago) + timedelta(milliseconds=extra_ms)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@contextmanager
def clock_at(server: BookingSystemServer, when: str) -> Iterator[None]:
    """The booking system stamps every change made inside with `when`."""
    server.app.bookings.store.clock = lambda: when
    try:
        yield
    finally:
        server.app.bookings.store.clock = now_stamp


def import_bookings(server: BookingSystemServer) -> None:
    """Thousands of bookings of one resource in one transaction of the booking system's
    own storage (its API would take minutes), all changed within the last minutes."""
    bookings = server.app.bookings
    start = utcnow().replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    for instant in range(INSTANTS):
        with clock_at(server, stamp(4, instant)), bookings.store.transaction():
            for n in range(instant, BOOKINGS, INSTANTS):
                begins = start + timedelta(minutes=30 * n)
                bookings.create_event({
                    "resource_id": RESOURCE, "title": f"Booking {n}",
                    "start_time": begins.isoformat(),
                    "end_time": (begins + timedelta(minutes=30)).isoformat(),
                    "active": n < ACTIVE})


def outlook_titles(bridged: Bridged) -> list[str]:
    now = utcnow()
    return sorted(e["subject"] for e in bridged.view(ROOM, now, now + timedelta(days=365)))


def wrote(outcomes: list) -> list:
    return [o for o in outcomes if o.status is not OutcomeStatus.SKIPPED]


def test_a_resource_of_thousands_of_bookings_syncs_and_follows_changes(
        bridged: Bridged, e2e_booking_system: BookingSystemServer) -> None:
    import_bookings(e2e_booking_system)
    first = bridged.to_outlook()
    assert [o.status for o in wrote(first)] == [OutcomeStatus.COMPLETED] * ACTIVE
    assert outlook_titles(bridged) == sorted(f"Booking {n}" for n in range(ACTIVE))
    cursor = bridged.container.storage.cursors.for_end("booking_system", RESOURCE,
                                                        bridged.mapping.id)
    assert cursor is not None and cursor.cursor and len(cursor.cursor) < 8 * 1024

    # The next poll reads the recent minutes again: nothing is written twice.
    assert wrote(bridged.to_outlook()) == []

    booking = next(b for b in bridged.live_bookings() if b["title"] == "Booking 3")
    renamed = bridged.bookings.request("PUT", f"/api/events/{booking['id']}",
                                       json={"title": "Booking 3 (moved)"})
    assert renamed.status_code == 200, renamed.text
    [update] = wrote(bridged.to_outlook())
    assert (update.operation.value, update.status) == ("update", OutcomeStatus.COMPLETED)
    assert "Booking 3 (moved)" in outlook_titles(bridged)
    assert wrote(bridged.to_outlook()) == []


def test_a_booking_committed_late_with_an_older_change_time_is_not_lost(
        bridged: Bridged, e2e_booking_system: BookingSystemServer) -> None:
    with clock_at(e2e_booking_system, stamp(4)):
        bridged.bookings.create(resource_id=RESOURCE, title="Early",
                                start_time=(utcnow() + timedelta(days=1)).isoformat(),
                                end_time=(utcnow() + timedelta(days=1, hours=1)).isoformat())
    assert len(wrote(bridged.to_outlook())) == 1
    # Committed after that read, stamped before it began (a slow transaction, or the
    # booking system's database clock running behind the clock that answered).
    with clock_at(e2e_booking_system, stamp(2)):
        bridged.bookings.create(resource_id=RESOURCE, title="Late",
                                start_time=(utcnow() + timedelta(days=2)).isoformat(),
                                end_time=(utcnow() + timedelta(days=2, hours=1)).isoformat())
    late = wrote(bridged.to_outlook())
    assert [(o.operation.value, o.title) for o in late] == [("create", "Late")]
    assert outlook_titles(bridged) == ["Early", "Late"]
    assert wrote(bridged.to_outlook()) == []
