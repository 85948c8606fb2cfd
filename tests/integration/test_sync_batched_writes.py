"""A sync run into an Outlook room writes its creates, updates and deletes through Graph
`$batch`, and reads what they need first (the copies to update, the sources of tombstones)
the same way: the example booking system, the Graph emulator (requests counted there) and
Table Storage on Azurite. A part refused on its own fails that pair alone, a throttled part
is sent again after its own Retry-After, and a batch whose answer is lost converges on the
next run with no duplicate (sync rules 1 and 3)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from calbridge.errors import StorageUnavailable
from calbridge.host.azurite import Azurite
from calbridge.model import End, SyncStatus, utcnow
from calbridge.services import sync
from calbridge.sync.outcome import OutcomeStatus
from calbridge.sync.writes import LOST_RACE
from examples.booking_system import BookingSystemServer
from tests.fixtures.graph import GraphClient, weekly_series
from tests.fixtures.real_bridges import IMMUTABLE, OTHER_ROOM, Bridged, assemble
from tests.fixtures.sync import dies_after_the_pending_links, queued_work
from tests.fixtures.two_bridges import RESOURCE, ROOM

BOOKINGS = 100


@pytest.fixture
def bridged(azurite: Azurite, e2e_booking_system: BookingSystemServer,
            graph: GraphClient) -> Iterator[Bridged]:
    """Both real bridges; every write of a run inline, one worker (the figures below do
    not depend on how the writes interleave)."""
    world = assemble(azurite, e2e_booking_system, graph, CALBRIDGE_INLINE_OPERATIONS="500",
                     CALBRIDGE_SYNC_WORKERS="1", CALBRIDGE_MASS_DELETE_MIN="1000")
    yield world
    world.bookings.close()


def book(bridged: Bridged, count: int) -> None:
    start = utcnow().replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    for n in range(count):
        begins = start + timedelta(minutes=30 * n)
        bridged.bookings.create(resource_id=RESOURCE, title=f"Booking {n}",
                                start_time=begins.isoformat().replace("+00:00", "Z"),
                                end_time=(begins + timedelta(minutes=25)).isoformat()
                                .replace("+00:00", "Z"))


def room_titles(bridged: Bridged) -> list[str]:
    now = utcnow()
    return sorted(e["subject"] for e in bridged.view(ROOM, now, now + timedelta(days=30)))


def graph_requests(graph: GraphClient) -> dict[str, Any]:
    return graph.admin("GET", "/requests").json()


def fault(graph: GraphClient, **spec: Any) -> None:
    graph.admin("POST", "/faults", json=spec).raise_for_status()


def statuses(outcomes: list) -> Counter[str]:
    return Counter(str(o.status) for o in outcomes)


def test_a_first_sync_batches_its_creates_and_a_repeat_writes_nothing(
        bridged: Bridged, graph: GraphClient) -> None:
    book(bridged, BOOKINGS)
    graph.admin("DELETE", "/requests")
    outcomes = bridged.to_outlook()
    assert statuses(outcomes) == {"completed": BOOKINGS}
    # HTTP calls to Graph: the creates go 20 to a `$batch`, and nothing else is called.
    counts = graph_requests(graph)
    assert counts["calls"] <= 0.06 * BOOKINGS, counts
    assert counts["by_route"]["POST /$batch"] == BOOKINGS // 20, counts
    assert counts["by_route"]["POST /users/{user}/events"] == BOOKINGS, counts
    assert room_titles(bridged) == sorted(f"Booking {n}" for n in range(BOOKINGS))
    links = bridged.container.storage.links.list(bridged.mapping.id)
    assert len(links) == BOOKINGS
    assert all(link.status is SyncStatus.SYNCED and link.b.event_id for link in links)
    # What each create taught is on its link: the copy found from the Outlook end.
    copy = bridged.view(ROOM, utcnow(), utcnow() + timedelta(days=30))[0]
    assert bridged.container.storage.links.find(bridged.mapping.id, End.B,
                                                copy["id"]) is not None
    assert bridged.container.storage.operations.counts() == {("create", "completed"): BOOKINGS}

    graph.admin("DELETE", "/requests")
    assert [o for o in bridged.to_outlook() if o.status is not OutcomeStatus.SKIPPED] == []
    assert [o for o in bridged.to_booking() if o.status is not OutcomeStatus.SKIPPED] == []
    # Items of a `$batch` count under their own routes: the delta read's batches are GETs.
    writes = {route: n for route, n in graph_requests(graph)["by_route"].items()
              if not route.startswith(("GET", "POST /$batch"))}
    assert writes == {}, writes
    assert room_titles(bridged) == sorted(f"Booking {n}" for n in range(BOOKINGS))


def test_a_part_refused_in_a_batch_fails_its_pair_alone(
        bridged: Bridged, graph: GraphClient) -> None:
    book(bridged, 30)
    # The fifth create of the run is refused as invalid; the batch's other parts are not.
    fault(graph, match={"method": "POST", "path_regex": "/events$"}, status=400, times=1,
          after=4)
    outcomes = bridged.to_outlook()
    assert statuses(outcomes) == {"completed": 29, "failed": 1}
    failed = next(o for o in outcomes if o.status is OutcomeStatus.FAILED)
    links = {link.id: link for link in bridged.container.storage.links.list(
        bridged.mapping.id)}
    refused = links.pop(failed.link_id or "")
    assert refused.status is SyncStatus.ERROR and refused.attempts == 1
    assert refused.next_attempt_at is not None and "400" in (refused.last_error or "")
    assert all(link.status is SyncStatus.SYNCED for link in links.values())
    assert len(room_titles(bridged)) == 29
    counts = bridged.container.storage.operations.counts()
    assert counts == {("create", "completed"): 29, ("create", "failed"): 1}

    retried = sync.process_pending(bridged.container, manual=True)
    assert statuses(retried) == {"completed": 1}
    assert room_titles(bridged) == sorted(f"Booking {n}" for n in range(30))
    assert [o for o in bridged.to_outlook() if o.status is not OutcomeStatus.SKIPPED] == []


def test_a_lost_batch_answer_converges_on_the_next_run_without_duplicates(
        bridged: Bridged, graph: GraphClient) -> None:
    book(bridged, 30)
    # Graph carries out the first batch (20 creates) but its answer never comes, and the
    # client does not send it again: whether those copies exist is unknown to the run.
    outlook = bridged.container.bridge("outlook")
    outlook.graph.http.max_attempts = 1  # type: ignore[attr-defined]
    fault(graph, match={"method": "POST", "path_regex": r"/\$batch$"}, drop_answer=True,
          times=1)
    outcomes = bridged.to_outlook()
    assert statuses(outcomes) == {"failed": 30}
    assert len(room_titles(bridged)) == 20  # made, though unanswered
    links = bridged.container.storage.links.list(bridged.mapping.id)
    assert {link.status for link in links} == {SyncStatus.ERROR}

    outlook.graph.http.max_attempts = 5  # type: ignore[attr-defined]
    retried = sync.process_pending(bridged.container, manual=True)
    assert statuses(retried) == {"completed": 30}
    assert room_titles(bridged) == sorted(f"Booking {n}" for n in range(30))
    assert all(link.status is SyncStatus.SYNCED
               for link in bridged.container.storage.links.list(bridged.mapping.id))
    assert [o for o in bridged.to_outlook() + bridged.to_booking()
            if o.status is not OutcomeStatus.SKIPPED] == []
    assert room_titles(bridged) == sorted(f"Booking {n}" for n in range(30))


# ------------------------------------------------------------------ updates and deletes


def rename(bridged: Bridged, rows: list[dict[str, Any]], suffix: str) -> None:
    for row in rows:
        edited = bridged.bookings.request("PUT", f"/api/events/{row['id']}",
                                          json={"title": f"{row['title']}{suffix}"})
        assert edited.status_code == 200, edited.text


def cancel(bridged: Bridged, rows: list[dict[str, Any]]) -> None:
    for row in rows:
        gone = bridged.bookings.request("DELETE", f"/api/events/{row['id']}")
        assert gone.status_code in (200, 204), gone.text


def synced(bridged: Bridged, graph: GraphClient, count: int) -> list[dict[str, Any]]:
    """`count` bookings copied to the room; the Graph request counts cleared after."""
    book(bridged, count)
    assert statuses(bridged.to_outlook()) == {"completed": count}
    graph.admin("DELETE", "/requests")
    return bridged.live_bookings()


def done(outcomes: list) -> Counter[tuple[str, str]]:
    return Counter((str(o.operation), str(o.status)) for o in outcomes)


def test_a_run_of_edits_and_cancellations_costs_a_tenth_of_a_graph_call_per_event(
        bridged: Bridged, graph: GraphClient) -> None:
    rows = synced(bridged, graph, BOOKINGS)
    rename(bridged, rows[:60], " (moved)")
    cancel(bridged, rows[60:])
    outcomes = bridged.to_outlook()
    assert done(outcomes) == {("update", "completed"): 60, ("delete", "completed"): 40}
    # The 60 copies read in 3 batches and written in 3, the 40 deleted in 2: nothing else.
    counts = graph_requests(graph)
    assert counts["calls"] == 8, counts
    assert counts["by_route"]["POST /$batch"] == 8, counts
    assert counts["by_route"]["GET /users/{user}/events/{event}"] == 60, counts
    assert counts["by_route"]["PATCH /users/{user}/events/{event}"] == 60, counts
    assert counts["by_route"]["DELETE /users/{user}/events/{event}"] == 40, counts
    assert room_titles(bridged) == sorted(f"{row['title']} (moved)" for row in rows[:60])
    links = bridged.container.storage.links.list(bridged.mapping.id)
    assert Counter(link.status for link in links) == {SyncStatus.SYNCED: 60,
                                                      SyncStatus.CANCELLED: 40}
    assert bridged.container.storage.operations.counts() == {
        ("create", "completed"): BOOKINGS, ("update", "completed"): 60,
        ("delete", "completed"): 40}
    # Our own writes come back through delta as echoes: nothing flows back.
    assert [o for o in bridged.to_booking() + bridged.to_outlook()
            if o.status is not OutcomeStatus.SKIPPED] == []
    assert [row["title"] for row in bridged.live_bookings()] == [
        f"{row['title']} (moved)" for row in rows[:60]]


def test_parts_failing_in_a_batch_of_updates_fail_their_own_pairs_alone(
        bridged: Bridged, graph: GraphClient) -> None:
    rows = synced(bridged, graph, 30)
    rename(bridged, rows, " (moved)")
    # One copy was deleted in Outlook meanwhile (its read answers 404); one write is refused
    # as invalid (400); one meets a changed event (412).
    links = {link.event_id(End.A): link
             for link in bridged.container.storage.links.list(bridged.mapping.id)}
    gone = links[str(rows[0]["id"])]
    assert graph.delete(f"/users/{ROOM}/events/{gone.b.event_id}").status_code == 204
    fault(graph, match={"method": "PATCH"}, status=400, after=3, times=1)
    fault(graph, match={"method": "PATCH"}, status=412, code="ErrorIrresolvableConflict",
          after=7, times=1)
    outcomes = bridged.to_outlook()
    assert done(outcomes) == {("update", "completed"): 27, ("update", "failed"): 1,
                              ("update", "skipped"): 2}
    assert graph_requests(graph)["by_route"]["POST /$batch"] == 4  # 2 reads, 2 writes
    skipped = {o.link_id: o.reason for o in outcomes if o.status is OutcomeStatus.SKIPPED}
    assert "gone" in skipped.pop(gone.id)
    assert list(skipped.values()) == [LOST_RACE]
    failed = next(o for o in outcomes if o.status is OutcomeStatus.FAILED)
    stored = {link.id: link
              for link in bridged.container.storage.links.list(bridged.mapping.id)}
    refused = stored.pop(failed.link_id or "")
    assert refused.status is SyncStatus.ERROR and refused.attempts == 1
    assert "400" in (refused.last_error or "") and refused.next_attempt_at is not None
    # The pair whose copy is gone owes the booking's edit until Outlook's deletion follows.
    owing = stored.pop(gone.id)
    assert (owing.status, owing.pending_end) == (SyncStatus.PENDING, End.A)
    assert all(link.status is SyncStatus.SYNCED for link in stored.values())
    assert len([t for t in room_titles(bridged) if t.endswith(" (moved)")]) == 27

    retried = sync.process_pending(bridged.container, manual=True)
    assert statuses(retried) == {"completed": 1, "skipped": 1}
    assert stored_title(bridged, refused.b.event_id) == f"{refused.title} (moved)"
    bridged.to_booking()  # Outlook's deletion follows: the pair is closed, nothing owed
    assert bridged.container.storage.links.get(
        bridged.mapping.id, gone.id).status is SyncStatus.CANCELLED
    assert sync.process_pending(bridged.container, manual=True) == []


def stored_title(bridged: Bridged, event_id: str | None) -> str:
    answer = bridged.graph.get(f"/users/{ROOM}/events/{event_id}", headers=IMMUTABLE)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["subject"])


def test_throttled_reads_and_writes_in_a_batch_are_sent_again_after_their_retry_after(
        bridged: Bridged, graph: GraphClient) -> None:
    rows = synced(bridged, graph, 20)
    rename(bridged, rows, " (moved)")
    waits: list[float] = []
    bridged.container.bridge("outlook").graph._sleep = waits.append  # type: ignore[attr-defined]
    fault(graph, match={"method": "GET", "path_regex": "/events/[^/]+$"}, status=429,
          retry_after=3, times=2)
    fault(graph, match={"method": "PATCH"}, status=429, retry_after=5, times=3)
    outcomes = bridged.to_outlook()
    assert done(outcomes) == {("update", "completed"): 20}
    assert waits == [3.0, 5.0]  # once each, as long as the throttled parts were told
    counts = graph_requests(graph)["by_route"]
    assert counts["POST /$batch"] == 4, counts  # reads, their retry, writes, their retry
    assert counts["GET /users/{user}/events/{event}"] == 20 + 2, counts
    assert counts["PATCH /users/{user}/events/{event}"] == 20 + 3, counts
    assert room_titles(bridged) == sorted(f"{row['title']} (moved)" for row in rows)


def test_a_lost_answer_of_a_batch_of_updates_converges_without_duplicates(
        bridged: Bridged, graph: GraphClient) -> None:
    rows = synced(bridged, graph, 30)
    rename(bridged, rows, " (moved)")
    # The reads are answered; Graph carries out the first batch of writes (20 conditional
    # PATCHes) but its answer never comes, and such a batch is not sent again blindly.
    fault(graph, match={"method": "POST", "path_regex": r"/\$batch$"}, drop_answer=True,
          after=2, times=1)
    outcomes = bridged.to_outlook()
    assert done(outcomes) == {("update", "completed"): 10, ("update", "failed"): 20}
    assert len([t for t in room_titles(bridged) if t.endswith(" (moved)")]) == 30
    links = bridged.container.storage.links.list(bridged.mapping.id)
    assert Counter(link.status for link in links) == {SyncStatus.SYNCED: 10,
                                                      SyncStatus.ERROR: 20}

    graph.admin("DELETE", "/requests")
    retried = sync.process_pending(bridged.container, manual=True)
    assert statuses(retried) == {"completed": 20}
    # The copies already hold the new titles: read again, nothing is written twice.
    assert "PATCH /users/{user}/events/{event}" not in graph_requests(graph)["by_route"]
    assert room_titles(bridged) == sorted(f"{row['title']} (moved)" for row in rows)
    assert all(link.status is SyncStatus.SYNCED
               for link in bridged.container.storage.links.list(bridged.mapping.id))
    assert [o for o in bridged.to_outlook() + bridged.to_booking()
            if o.status is not OutcomeStatus.SKIPPED] == []


def test_events_deleted_in_one_room_are_read_again_and_deleted_in_the_other_in_batches(
        bridged: Bridged, graph: GraphClient) -> None:
    rooms = bridged.map_rooms()
    start = utcnow().replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
    made = []
    for n in range(25):
        begins = start + timedelta(hours=n)
        answer = graph.post(f"/users/{ROOM}/events", headers=IMMUTABLE, json={
            "subject": f"Meeting {n}",
            "start": {"dateTime": begins.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
            "end": {"dateTime": (begins + timedelta(minutes=30)).strftime(
                "%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}})
        assert answer.status_code == 201, answer.text
        made.append(answer.json()["id"])
    monday = start + timedelta(days=(7 - start.weekday()) % 7 or 7)
    series = graph.post(f"/users/{ROOM}/events", headers=IMMUTABLE,
                        json=weekly_series(monday.replace(hour=9, tzinfo=None)))
    assert series.status_code == 201, series.text
    bridged.to_outlook(rooms)
    assert len(bridged.view(OTHER_ROOM, start - timedelta(days=1),
                            start + timedelta(days=60))) == 25 + 4
    storage = bridged.container.storage
    assert Counter(link.item_type for link in storage.links.list(rooms.id)) == {
        "event": 25, "series": 1, "occurrence": 4}

    for event_id in [*made[:15], series.json()["id"]]:
        assert graph.delete(f"/users/{ROOM}/events/{event_id}").status_code == 204
    graph.admin("DELETE", "/requests")
    outcomes = bridged.to_outlook(rooms)
    assert done(outcomes)[("delete", "completed")] == 16
    # The delta read, the series pass's own look at the series it was told is gone, then
    # the 16 sources read again (all gone, answering 404) in one batch and the copies
    # deleted in one more.
    counts = graph_requests(graph)
    assert counts["calls"] == 4, counts
    assert counts["by_route"]["POST /$batch"] == 2, counts
    assert counts["by_route"]["GET /users/{user}/events/{event}"] == 1 + 16, counts
    assert counts["by_route"]["DELETE /users/{user}/events/{event}"] == 16, counts
    assert sorted(e["subject"] for e in bridged.view(
        OTHER_ROOM, start - timedelta(days=1), start + timedelta(days=60))) == sorted(
        f"Meeting {n}" for n in range(15, 25))
    # The series' occurrence pairs closed with it.
    links = storage.links.list(rooms.id)
    assert Counter((link.item_type, link.status) for link in links) == {
        ("event", SyncStatus.CANCELLED): 15, ("event", SyncStatus.SYNCED): 10,
        ("series", SyncStatus.CANCELLED): 1, ("occurrence", SyncStatus.CANCELLED): 4}
    assert [o for o in bridged.to_outlook(rooms) + bridged.to_booking(rooms)
            if o.status is not OutcomeStatus.SKIPPED] == []


def test_queued_work_costs_the_graph_and_booking_calls_inline_work_costs(
        azurite: Azurite, e2e_booking_system: BookingSystemServer, graph: GraphClient) -> None:
    calls = {}
    for inline in ("500", "20"):  # every write in the run, or all but 20 queued
        assert graph.admin("POST", "/reset").status_code == 204
        world = assemble(azurite, e2e_booking_system, graph, CALBRIDGE_SYNC_WORKERS="1",
                         CALBRIDGE_INLINE_OPERATIONS=inline)
        book(world, BOOKINGS)
        graph.admin("DELETE", "/requests")
        e2e_booking_system.app.requests.clear()
        outcomes = world.to_outlook()
        for work in queued_work(world.container.storage, world.mapping.id):
            outcomes += sync.process_work(world.container, work)
        assert statuses(outcomes)["completed"] == BOOKINGS
        calls[inline] = (graph_requests(graph)["calls"],
                         e2e_booking_system.app.requests.describe()["total"])
        assert room_titles(world) == sorted(f"Booking {n}" for n in range(BOOKINGS))
        links = world.container.storage.links.list(world.mapping.id)
        assert len(links) == BOOKINGS and all(link.status is SyncStatus.SYNCED for link in links)
        assert [o for o in world.to_outlook() + world.to_booking()
                if o.status is not OutcomeStatus.SKIPPED] == []
        world.bookings.close()
    assert calls["20"] == calls["500"], calls


def test_a_redelivered_message_looks_its_copies_up_in_batches_and_makes_no_duplicate(
        azurite: Azurite, e2e_booking_system: BookingSystemServer, graph: GraphClient,
        monkeypatch: pytest.MonkeyPatch) -> None:
    world = assemble(azurite, e2e_booking_system, graph, CALBRIDGE_SYNC_WORKERS="1",
                     CALBRIDGE_INLINE_OPERATIONS="10")
    book(world, 50)
    world.to_outlook()
    [work] = queued_work(world.container.storage, world.mapping.id)  # the other 40
    # The first delivery makes the 40 copies and stops before their links are stored.
    dies_after_the_pending_links(world.container.storage, monkeypatch)
    with pytest.raises(StorageUnavailable):
        sync.process_work(world.container, work)
    monkeypatch.undo()
    assert len(room_titles(world)) == 50

    graph.admin("DELETE", "/requests")
    again = sync.process_work(world.container, work, redelivered=True)
    assert statuses(again) == {"completed": 40}
    # The 40 copies looked up in two `$batch`es, and brought up to date in two more.
    counts = graph_requests(graph)
    assert counts["calls"] == counts["by_route"]["POST /$batch"] == 4, counts
    assert room_titles(world) == sorted(f"Booking {n}" for n in range(50))
    stored = world.container.storage.links.list(world.mapping.id)
    assert len(stored) == 50 and all(link.status is SyncStatus.SYNCED for link in stored)
    assert [o for o in world.to_outlook() + world.to_booking()
            if o.status is not OutcomeStatus.SKIPPED] == []
    world.bookings.close()
