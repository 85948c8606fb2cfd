"""A complete read of an Outlook room (first sync, or after Graph let the delta link
expire) taken page by page into the booking system: the example booking system, the Graph
emulator and Table Storage on Azurite."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import pytest

from calbridge.errors import CalbridgeError
from calbridge.host.azurite import Azurite
from calbridge.model import End, OperationKind, SyncWork, utcnow
from calbridge.services import sync
from calbridge.sync import engine
from calbridge.sync.outcome import Outcome, OutcomeStatus
from examples.booking_system import BookingSystemServer
from tests.fixtures.graph import GraphClient
from tests.fixtures.real_bridges import Bridged, assemble
from tests.fixtures.sync import queued_work
from tests.fixtures.two_bridges import ROOM

PAGE = 10
EVENTS = 25  # three pages


@pytest.fixture
def paged(azurite: Azurite, e2e_booking_system: BookingSystemServer,
          graph: GraphClient) -> Iterator[Bridged]:
    # A budget of no time at all: the queued rest of a read takes one page at a time.
    world = assemble(azurite, e2e_booking_system, graph, OUTLOOK_PAGE_SIZE=str(PAGE),
                     CALBRIDGE_SYNC_BUDGET_SECONDS="0")
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


def listings_of_links(bridged: Bridged, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The mappings whose links are listed whole from now on, once per listing."""
    links = bridged.container.storage.links
    listings: list[str] = []
    each = links.each

    def listed(mapping_id: str) -> Iterator[object]:
        listings.append(mapping_id)
        return each(mapping_id)

    monkeypatch.setattr(links, "each", listed)
    return listings


def test_a_full_read_that_books_and_cancels_lists_the_mappings_links_once(
        paged: Bridged, graph: GraphClient, monkeypatch: pytest.MonkeyPatch) -> None:
    # A complete read diffs the listing against every pair of the mapping. Listing them
    # all again after its pages wrote would hold a second copy of a big mapping's links.
    ids = meetings(graph, EVENTS)
    paged.to_booking()
    assert graph.delete(f"/users/{ROOM}/events/{ids[3]}").status_code == 204
    assert graph.delete(f"/users/{ROOM}/events/{ids[24]}").status_code == 204
    graph.patch(f"/users/{ROOM}/events/{ids[12]}", json={"subject": "Meeting 12, moved"})
    meetings(graph, 2)  # two more, each also titled "Meeting 00" and "Meeting 01"
    assert graph.admin("POST", "/delta/expire").status_code == 200
    listings = listings_of_links(paged, monkeypatch)
    written = [o for o in paged.to_booking() if o.status is not OutcomeStatus.SKIPPED]
    assert sorted((o.operation.value, o.status.value, o.title) for o in written) == [
        ("create", "completed", "Meeting 00"), ("create", "completed", "Meeting 01"),
        ("delete", "completed", "Meeting 03"), ("delete", "completed", "Meeting 24"),
        ("update", "completed", "Meeting 12, moved")]
    assert listings == [paged.mapping.id]
    assert sorted(titles(paged)) == sorted(
        ["Meeting 00", "Meeting 01"] + [f"Meeting {n:02d}" for n in range(EVENTS)
                                        if n not in (3, 24, 12)] + ["Meeting 12, moved"])


def test_many_meetings_gone_are_read_again_from_one_listing(
        paged: Bridged, graph: GraphClient, monkeypatch: pytest.MonkeyPatch) -> None:
    # Past a few, the pairs of the meetings no page named are read again from one more
    # listing of the mapping (a query per 14 ids would be many queries), keeping only them.
    monkeypatch.setattr(engine, "_FEW_LINKS", 1)
    ids = meetings(graph, EVENTS)
    paged.to_booking()
    for gone in (2, 11, 20):
        assert graph.delete(f"/users/{ROOM}/events/{ids[gone]}").status_code == 204
    meetings(graph, 1)
    assert graph.admin("POST", "/delta/expire").status_code == 200
    listings = listings_of_links(paged, monkeypatch)
    written = [o for o in paged.to_booking() if o.status is not OutcomeStatus.SKIPPED]
    assert sorted((o.operation.value, o.status.value, o.title) for o in written) == [
        ("create", "completed", "Meeting 00"), ("delete", "completed", "Meeting 02"),
        ("delete", "completed", "Meeting 11"), ("delete", "completed", "Meeting 20")]
    assert listings == [paged.mapping.id] * 2
    assert len(titles(paged)) == EVENTS - 3 + 1


def out_of_time(bridged: Bridged) -> list[Outcome]:
    """A sync of the Outlook end whose time budget is already spent."""
    return bridged.engine.run(bridged.fresh(), End.B, deadline=time.monotonic())


def work_off(bridged: Bridged) -> list[SyncWork]:
    """Do the queued work as the queue trigger does, until none is left; what was done."""
    done: list[SyncWork] = []
    for _ in range(20):  # bounded: each message of the rest reads one page
        batch = queued_work(bridged.container.storage, bridged.mapping.id)
        if not batch:
            return done
        for work in batch:
            failed = [o for o in sync.process_work(bridged.container, work)
                      if o.status is OutcomeStatus.FAILED]
            assert failed == []
        done += batch
    raise AssertionError("the queued work did not end")


def test_a_read_out_of_time_stops_and_the_queue_books_every_meeting_once(
        paged: Bridged, graph: GraphClient) -> None:
    meetings(graph, EVENTS)
    stopped = out_of_time(paged)
    # Only the first page was read; its writes and the rest of the read are queued.
    assert {o.status for o in stopped} == {OutcomeStatus.QUEUED}
    assert sorted(o.title for o in stopped if o.item_type == "event") == [
        f"Meeting {n:02d}" for n in range(PAGE)]
    [rest] = [o for o in stopped if o.item_type == "read"]
    assert "continues through the sync-work queue" in rest.reason
    assert titles(paged) == []
    assert paged.container.storage.cursors.list() == []

    done = work_off(paged)
    # The rest was read a page per message (the last page has no next one to stop at).
    assert len([work for work in done if work.read_from]) == 2
    assert titles(paged) == [f"Meeting {n:02d}" for n in range(EVENTS)]
    assert len(paged.live_bookings()) == EVENTS
    assert [o for o in paged.to_booking() if o.status is not OutcomeStatus.SKIPPED] == []


def test_a_lost_rest_of_a_read_is_read_again_by_the_next_run(
        paged: Bridged, graph: GraphClient) -> None:
    meetings(graph, EVENTS)
    out_of_time(paged)
    assert queued_work(paged.container.storage, paged.mapping.id)  # taken off: lost
    paged.to_booking()
    assert titles(paged) == [f"Meeting {n:02d}" for n in range(EVENTS)]
    assert [o for o in paged.to_booking() if o.status is not OutcomeStatus.SKIPPED] == []


def test_a_complete_read_split_by_the_time_budget_never_deletes_what_it_did_not_reach(
        paged: Bridged, graph: GraphClient) -> None:
    ids = meetings(graph, EVENTS)
    paged.to_booking()
    assert graph.delete(f"/users/{ROOM}/events/{ids[3]}").status_code == 204
    assert graph.admin("POST", "/delta/expire").status_code == 200
    # A complete listing again, stopped after its first page, then taken up page by page:
    # no part of it lists everything, so nothing is deleted for being absent.
    stopped = out_of_time(paged)
    assert [o for o in stopped if o.operation is OperationKind.DELETE] == []
    work_off(paged)
    assert len(titles(paged)) == EVENTS
    # The deletion sync's complete listing finds the meeting that is gone.
    swept = sync.sync_deletions(paged.container)
    assert [(o.operation, o.title) for o in swept.results if o.written] == [
        (OperationKind.DELETE, "Meeting 03")]
    assert titles(paged) == [f"Meeting {n:02d}" for n in range(EVENTS) if n != 3]


def test_a_queued_position_outside_the_graph_endpoint_is_never_followed(
        paged: Bridged, graph: GraphClient) -> None:
    meetings(graph, EVENTS)
    # Our token is never sent elsewhere: the read starts again from Graph itself, whole.
    paged.engine.run(paged.fresh(), End.B, resume="https://elsewhere.example.org/v1.0/users/"
                     "room/calendarView/delta?$skiptoken=1")
    assert titles(paged) == [f"Meeting {n:02d}" for n in range(EVENTS)]
    assert [c.bridge for c in paged.container.storage.cursors.list()] == ["outlook"]
    assert [o for o in paged.to_booking() if o.status is not OutcomeStatus.SKIPPED] == []


def test_a_read_stops_before_waiting_past_its_deadline_for_graphs_budget(
        azurite: Azurite, e2e_booking_system: BookingSystemServer, graph: GraphClient) -> None:
    """Graph allows a mailbox so many requests per 10 minutes. A request reading a room
    whose budget is spent would wait minutes for the next page, past the time Azure gives
    an HTTP call: it stops before that wait and hands the rest of the read to the queue."""
    world = assemble(azurite, e2e_booking_system, graph, OUTLOOK_PAGE_SIZE=str(PAGE),
                     OUTLOOK_REQUESTS_PER_10_MIN="20")
    try:
        meetings(graph, EVENTS)
        started = time.monotonic()
        outcomes = world.engine.run(world.fresh(), End.B, deadline=started + 60)
        assert time.monotonic() - started < 30  # no wait for the budget's window
        [rest] = [o for o in outcomes if o.item_type == "read"]
        assert rest.status is OutcomeStatus.QUEUED
        booked = titles(world)
        assert 0 < len(booked) < EVENTS
        [work] = queued_work(world.container.storage, world.mapping.id)
        assert work.read_from and world.container.storage.cursors.list() == []

        # A run that finds the budget spent before it reads anything queues the whole
        # read, hidden until the budget allows it (no worker takes it up to wait there).
        queue = world.container.storage.queue("sync-work")
        waiting = queue.depth()
        started = time.monotonic()
        [later] = world.engine.run(world.fresh(), End.B, deadline=started + 60)
        assert time.monotonic() - started < 30
        assert (later.status, later.item_type) == (OutcomeStatus.QUEUED, "read")
        assert later.reason.startswith("the read of outlook: the calendar system's request "
                                       "budget is spent")
        assert queued_work(world.container.storage, world.mapping.id) == []  # not yet
        assert queue.depth() == waiting + 1
    finally:
        world.bookings.close()


def test_a_whole_read_sent_to_wait_for_the_budget_is_done_by_the_queue(
        azurite: Azurite, e2e_booking_system: BookingSystemServer, graph: GraphClient) -> None:
    world = assemble(azurite, e2e_booking_system, graph, OUTLOOK_PAGE_SIZE=str(PAGE))
    try:
        meetings(graph, EVENTS)
        work = SyncWork(mapping_id=world.mapping.id, source=End.B, read_all=True,
                        reason="waited for the budget")
        assert [o for o in sync.process_work(world.container, work)
                if o.status is OutcomeStatus.FAILED] == []
        assert titles(world) == [f"Meeting {n:02d}" for n in range(EVENTS)]
        assert [c.bridge for c in world.container.storage.cursors.list()] == ["outlook"]
    finally:
        world.bookings.close()


def outlook_titles(graph: GraphClient) -> list[str]:
    answer = graph.get(f"/users/{ROOM}/events?$top=100")
    assert answer.status_code == 200, answer.text
    return sorted(event["subject"] for event in answer.json()["value"])


def test_queued_writes_into_a_room_whose_budget_is_spent_wait_in_the_queue(
        azurite: Azurite, e2e_booking_system: BookingSystemServer, graph: GraphClient,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A queue invocation has a time limit too (host.json's functionTimeout). A batch of
    creates into a room whose Graph budget is spent would wait inside it for minutes: it
    goes back to the queue, hidden until the budget allows it, and is done then, once."""
    world = assemble(azurite, e2e_booking_system, graph, OUTLOOK_REQUESTS_PER_10_MIN="20")
    try:
        start = utcnow().replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
        for n in range(3):
            at = start + timedelta(hours=n)
            world.bookings.create(title=f"Booking {n}", start_time=at.isoformat(),
                                  end_time=(at + timedelta(minutes=30)).isoformat())
        # A run out of time hands the creates to the queue.
        run = world.engine.run(world.fresh(), End.A, deadline=time.monotonic())
        assert [o.status for o in run] == [OutcomeStatus.QUEUED] * 3
        [work] = queued_work(world.container.storage, world.mapping.id)
        assert len(work.events) == 3
        # The room's 20 requests of the window go to something else meanwhile.
        pacer = world.container.bridge("outlook").graph.pacer  # type: ignore[attr-defined]
        while not pacer.wait_for(ROOM):
            with pacer.slot(ROOM):
                pass
        queue = world.container.storage.queue("sync-work")
        waiting = queue.depth()
        started = time.monotonic()
        [later] = sync.process_work(world.container, work)
        assert time.monotonic() - started < 30  # no wait for the budget's window
        assert (later.status, later.item_type) == (OutcomeStatus.QUEUED, "batch")
        assert later.reason.startswith("3 writes to outlook: the calendar system's request "
                                       "budget is spent")
        assert outlook_titles(graph) == []
        assert queue.depth() == waiting + 1  # sent again,
        assert queued_work(world.container.storage, world.mapping.id) == []  # hidden

        # Ten minutes on, the window has room again (here: the room's window begun anew).
        monkeypatch.setattr(pacer, "_gates", {})
        assert [o.status for o in sync.process_work(world.container, work)] == [
            OutcomeStatus.COMPLETED] * 3
        assert outlook_titles(graph) == ["Booking 0", "Booking 1", "Booking 2"]
    finally:
        world.bookings.close()
