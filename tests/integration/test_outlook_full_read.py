"""A complete read of an Outlook room (first sync, or after Graph let the delta link
expire) taken page by page into the booking system: the example booking system, the Graph
emulator and Table Storage on Azurite."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from calbridge.errors import CalbridgeError
from calbridge.host.azurite import Azurite
from calbridge.model import utcnow
from calbridge.sync.outcome import OutcomeStatus
from examples.booking_system import BookingSystemServer
from tests.fixtures.graph import GraphClient
from tests.fixtures.real_bridges import Bridged, assemble
from tests.fixtures.two_bridges import ROOM

PAGE = 10
EVENTS = 25  # three pages


@pytest.fixture
def paged(azurite: Azurite, e2e_booking_system: BookingSystemServer,
          graph: GraphClient) -> Iterator[Bridged]:
    world = assemble(azurite, e2e_booking_system, graph, OUTLOOK_PAGE_SIZE=str(PAGE))
    yield world
    world.bookings.close()


def meetings(graph: GraphClient, count: int) -> list[str]:
    start = utcnow().replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    ids = []
    for n in range(count):
        at = start + timedelta(hours=n)
        made = graph.post(f"/users/{ROOM}/events", json={
            "subject": f"Meeting {n:02d}",
            "body": {"contentType": "html", "content": f"<p>Agenda {n}</p>"},
            "start": {"dateTime": at.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
            "end": {"dateTime": (at + timedelta(minutes=45)).strftime("%Y-%m-%dT%H:%M:%S"),
                    "timeZone": "UTC"}})
        assert made.status_code == 201, made.text
        ids.append(made.json()["id"])
    return ids


def titles(bridged: Bridged) -> list[str]:
    return [b["title"] for b in bridged.live_bookings()]


def test_a_full_read_that_fails_partway_keeps_what_it_wrote_and_finishes_once(
        paged: Bridged, graph: GraphClient) -> None:
    meetings(graph, EVENTS)
    # The second page of the first read fails (Graph refuses it).
    fault = graph.admin("POST", "/faults", json={
        "match": {"method": "GET", "path_regex": "/calendarView/delta", "mailbox": ROOM},
        "status": 400, "times": 1, "after": 1})
    assert fault.status_code == 201, fault.text
    with pytest.raises(CalbridgeError):
        paged.to_booking()
    # The first page's meetings are booked already; nothing else is.
    assert titles(paged) == [f"Meeting {n:02d}" for n in range(PAGE)]

    finished = paged.to_booking()
    created = [o for o in finished if o.status is OutcomeStatus.COMPLETED]
    assert len(created) == EVENTS - PAGE
    assert titles(paged) == [f"Meeting {n:02d}" for n in range(EVENTS)]
    assert [o for o in paged.to_booking() if o.status is not OutcomeStatus.SKIPPED] == []


def test_a_full_read_after_the_delta_link_expired_finds_what_was_deleted(
        paged: Bridged, graph: GraphClient) -> None:
    ids = meetings(graph, EVENTS)
    paged.to_booking()
    assert len(titles(paged)) == EVENTS
    assert graph.delete(f"/users/{ROOM}/events/{ids[3]}").status_code == 204
    assert graph.admin("POST", "/delta/expire").status_code == 200
    # Every page is read again: only the meeting missing from all of them is cancelled.
    written = [o for o in paged.to_booking() if o.status is not OutcomeStatus.SKIPPED]
    assert [(o.operation.value, o.status, o.title) for o in written] == [
        ("delete", OutcomeStatus.COMPLETED, "Meeting 03")]
    assert titles(paged) == [f"Meeting {n:02d}" for n in range(EVENTS) if n != 3]
