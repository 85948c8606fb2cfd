"""Graph's 4 concurrent requests per mailbox hold across processes: every process paces
itself, and with `CALBRIDGE_SHARED_PACING` they also share their slots through Table
Storage (Azurite here), as the instances of a scaled-out Function App do."""

from __future__ import annotations

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


def write_from_a_process(env: dict[str, str], worker: int, start: Any, results: Any) -> None:
    """One instance of the app: wired as in production, it writes one batch to ROOM."""
    bridge = build(Settings.from_env(env)).bridge("outlook")
    writes = [make_event(f"Instance {worker} write {n}", hours_from_start=n)
              for n in range(WRITES)]
    start.wait(60)
    done = bridge.apply(ROOM, [WriteOp.create(e, e.marker or "") for e in writes])
    results.put((worker, [r.ok for r in done]))


def test_processes_sharing_slots_keep_to_the_mailbox_limit(graph: GraphClient,
                                                           azurite: Azurite) -> None:
    env = {**outlook_env(graph.emulator),
           **storage_env(azurite, CALBRIDGE_BRIDGES="outlook", CALBRIDGE_SHARED_PACING="true",
                         OUTLOOK_MAILBOXES=ROOM, OUTLOOK_CALENDAR_SOURCE="mailboxes")}
    graph.admin("POST", "/throttle", json={"enabled": True, "concurrency": 4})
    graph.admin("POST", "/faults", json={"match": {"method": "POST", "path_regex": "/events$"},
                                         "latency_ms": 150})
    spawn = multiprocessing.get_context("spawn")
    start, results = spawn.Event(), spawn.Queue()
    workers = [spawn.Process(target=write_from_a_process, args=(env, n, start, results),
                             name=f"instance-{n}-{uuid.uuid4().hex[:6]}")
               for n in range(PROCESSES)]
    finished: dict[int, list[bool]] = {}
    try:
        for worker in workers:
            worker.start()
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
