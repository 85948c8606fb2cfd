"""A first sync into an Outlook room writes its creates through Graph `$batch`: the example
booking system, the Graph emulator (requests counted there) and Table Storage on Azurite.
A part refused on its own fails that pair alone, and a batch whose answer is lost
converges on the next run with no duplicate (sync rules 1 and 3)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from calbridge.host.azurite import Azurite
from calbridge.model import End, SyncStatus, utcnow
from calbridge.services import sync
from calbridge.sync.outcome import OutcomeStatus
from examples.booking_system import BookingSystemServer
from tests.fixtures.graph import GraphClient
from tests.fixtures.real_bridges import Bridged, assemble
from tests.fixtures.sync import queued_work
from tests.fixtures.two_bridges import RESOURCE, ROOM

BOOKINGS = 100


@pytest.fixture
def bridged(azurite: Azurite, e2e_booking_system: BookingSystemServer,
            graph: GraphClient) -> Iterator[Bridged]:
    """Both real bridges; every write of a run inline, one worker (the figures below do
    not depend on how the writes interleave)."""
    world = assemble(azurite, e2e_booking_system, graph, CALBRIDGE_INLINE_OPERATIONS="500",
                     CALBRIDGE_SYNC_WORKERS="1")
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
