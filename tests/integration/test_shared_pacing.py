"""Graph's limits per mailbox (4 concurrent requests, a budget per 10 minutes) hold across
processes: every process paces itself, and with `CALBRIDGE_SHARED_PACING` they also share
their slots and the budget through Table Storage (Azurite here), as the instances of a
scaled-out Function App do."""

from __future__ import annotations

import contextlib
import multiprocessing
import queue
import uuid
from typing import Any

from calbridge.bootstrap import build
from calbridge.bridges.base import WriteOp
from calbridge.config import Settings
from calbridge.host.azurite import Azurite
from calbridge.store.clients import table_service
from calbridge.store.slots import TABLE, TableSlotLedger
from tests.contract.bridge_contract import make_event
from tests.contract.test_outlook_contract import ROOM, outlook_env
from tests.fixtures.graph import GraphClient
from tests.fixtures.storage import storage_env

PROCESSES = 4
WRITES = 8


def ledger(env: dict[str, str], now: list[float]) -> TableSlotLedger:
    settings = Settings.from_env(env)
    table = table_service(settings).get_table_client(settings.table_name(TABLE))
    return TableSlotLedger(table, hold_seconds=60.0, clock=lambda: now[0])


def test_slots_are_taken_and_given_back_and_expire(azurite: Azurite) -> None:
    now = [1000.0]
    env = storage_env(azurite)
    first, second = ledger(env, now), ledger(env, now)  # two processes' views of one table
    wide = first.acquire("outlook|app|room@x", 3, 4)
    assert wide is not None
    assert second.acquire("outlook|app|room@x", 2, 4) is None  # 3 + 2 > 4
    narrow = second.acquire("outlook|app|room@x", 1, 4)
    assert narrow is not None
    assert second.acquire("outlook|app|ROOM@x", 1, 4) is None  # the same mailbox
    assert second.acquire("outlook|app|other@x", 4, 4) is not None  # another has its own
    first.release("outlook|app|room@x", wide)
    assert second.acquire("outlook|app|room@x", 3, 4) is not None
    # A holder that died never gives its slots back: they are free once its hold expires.
    now[0] += 61.0
    assert first.acquire("outlook|app|room@x", 4, 4) is not None


def test_a_budget_is_drawn_by_several_processes_within_its_limit(azurite: Azurite) -> None:
    now = [1000.0]
    env = storage_env(azurite)
    first, second = ledger(env, now), ledger(env, now)
    assert first.draw("outlook|app|room@x", 6, 10, 600.0) == 0.0
    now[0] += 100.0
    assert second.draw("outlook|app|room@x", 3, 10, 600.0) == 0.0
    # 6 + 3 + 3 > 10: the first draw leaves the window 500 s from now.
    assert second.draw("outlook|app|ROOM@x", 3, 10, 600.0) == 500.0
    assert first.draw("outlook|app|room@x", 1, 10, 600.0) == 0.0  # exactly 10
    assert first.draw("outlook|app|other@x", 10, 10, 600.0) == 0.0  # its own budget
    now[0] += 500.0
    assert second.draw("outlook|app|room@x", 6, 10, 600.0) == 0.0


def write_from_a_process(env: dict[str, str], worker: int, start: Any, results: Any) -> None:
    """One instance of the app: wired as in production, it writes one batch to ROOM."""
    bridge = build(Settings.from_env(env)).bridge("outlook")
    writes = [make_event(f"Instance {worker} write {n}", hours_from_start=n)
              for n in range(WRITES)]
    start.wait(60)
    done = bridge.apply(ROOM, [WriteOp.create(e, e.marker or "") for e in writes])
    results.put((worker, [r.ok for r in done]))


def instances(env: dict[str, str]) -> tuple[list[Any], Any, Any]:
    """PROCESSES instances of the app, started, each writing its batch once the event
    (second) is set and putting its results on the queue (third)."""
    spawn = multiprocessing.get_context("spawn")
    start, results = spawn.Event(), spawn.Queue()
    workers = [spawn.Process(target=write_from_a_process, args=(env, n, start, results),
                             name=f"instance-{n}-{uuid.uuid4().hex[:6]}")
               for n in range(PROCESSES)]
    for worker in workers:
        worker.start()
    return workers, start, results


def test_processes_sharing_slots_keep_to_the_mailbox_limit(graph: GraphClient,
                                                           azurite: Azurite) -> None:
    env = {**outlook_env(graph.emulator),
           **storage_env(azurite, CALBRIDGE_BRIDGES="outlook", CALBRIDGE_SHARED_PACING="true",
                         OUTLOOK_MAILBOXES=ROOM, OUTLOOK_CALENDAR_SOURCE="mailboxes")}
    graph.admin("POST", "/throttle", json={"enabled": True, "concurrency": 4})
    graph.admin("POST", "/faults", json={"match": {"method": "POST", "path_regex": "/events$"},
                                         "latency_ms": 150})
    workers, start, results = instances(env)
    finished: dict[int, list[bool]] = {}
    try:
        start.set()
        while len(finished) < PROCESSES:
            try:
                number, oks = results.get(timeout=120)
            except queue.Empty:
                break
            finished[number] = oks
        peak = graph.admin("GET", "/throttle").json()["peak_concurrency"]
        statuses = graph.admin("GET", "/requests").json()["by_status"]
    finally:
        for worker in workers:
            worker.join(timeout=10)
            if worker.is_alive():
                worker.terminate()
                worker.join(timeout=5)
        graph.admin("DELETE", "/faults")
        graph.admin("POST", "/throttle", json={"enabled": False})
    assert finished == {n: [True] * WRITES for n in range(PROCESSES)}
    assert "429" not in statuses
    assert 1 <= max(peak.values()) <= 4
    listed = graph.get(f"/users/{ROOM}/events", params={"$top": "100"}).json()["value"]
    assert len(listed) == PROCESSES * WRITES


def test_processes_sharing_a_budget_send_no_more_than_it(graph: GraphClient,
                                                          azurite: Azurite) -> None:
    """Four instances with a budget of two batches between them: two write, two wait for
    the window to move on (ten minutes; the test stops them), and Graph never throttles."""
    env = {**outlook_env(graph.emulator),
           **storage_env(azurite, CALBRIDGE_BRIDGES="outlook", CALBRIDGE_SHARED_PACING="true",
                         OUTLOOK_MAILBOXES=ROOM, OUTLOOK_CALENDAR_SOURCE="mailboxes",
                         OUTLOOK_REQUESTS_PER_10_MIN=str(2 * WRITES))}
    graph.admin("POST", "/throttle", json={"enabled": True, "limit": 2 * WRITES,
                                           "window_seconds": 600, "concurrency": 4})
    workers, start, results = instances(env)
    finished: dict[int, list[bool]] = {}
    try:
        start.set()
        with contextlib.suppress(queue.Empty):
            while len(finished) < 2:
                number, oks = results.get(timeout=60)
                finished[number] = oks
            number, oks = results.get(timeout=5)  # nobody else finishes
            finished[number] = oks
        waiting = [worker for worker in workers if worker.is_alive()]
        statuses = graph.admin("GET", "/requests").json()["by_status"]
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.terminate()
            worker.join(timeout=10)
        graph.admin("POST", "/throttle", json={"enabled": False})
    assert list(finished.values()) == [[True] * WRITES] * 2
    assert len(waiting) == PROCESSES - 2
    assert "429" not in statuses
    listed = graph.get(f"/users/{ROOM}/events", params={"$top": "100"}).json()["value"]
    assert len(listed) == 2 * WRITES
