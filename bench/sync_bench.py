"""Benchmark: how long a first sync of N bookings into Outlook takes through the local
host, how many Graph requests and Table Storage requests it costs per event, and what
quiet runs cost afterwards.

    make bench                       # 200 bookings
    .venv/bin/python bench/sync_bench.py --bookings 500

Everything runs on 127.0.0.1 (Azurite, the Graph emulator, the example booking system
and the local Functions host) and is stopped at the end. Figures are printed, not
asserted: they depend on the machine.
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from calbridge.host.stack import DEMO_BOOKING_KEY, LocalStack, Ports
from tests.fixtures.storage import TableRequests, counting_table_requests

KEY = "bench-function-key"


class Bench:
    def __init__(self, stack: LocalStack, tables: TableRequests) -> None:
        self.stack = stack
        self.tables = tables
        self.api = requests.Session()
        self.api.headers["x-functions-key"] = KEY
        self.graph = requests.Session()
        self.graph.verify = stack.graph.ca_path  # type: ignore[union-attr]
        self.graph.trust_env = False

    def call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        answer = self.api.request(method, self.stack.url + path, timeout=600, **kwargs)
        answer.raise_for_status()
        return answer.json()

    def graph_requests(self, reset: bool = False) -> dict[str, Any]:
        url = f"{self.stack.graph.base_url}/_admin/requests"  # type: ignore[union-attr]
        counts = self.graph.get(url, timeout=30).json()
        if reset:
            self.graph.delete(url, timeout=30)
        return counts

    def timed_sync(self, source: str, target: str
                   ) -> tuple[float, dict[str, Any], int, TableRequests]:
        """One sync through the host: seconds, results, Graph requests, and the Table
        Storage requests of the host (which runs in this process)."""
        self.graph_requests(reset=True)
        self.tables.reset()
        started = time.perf_counter()
        results = self.call("POST", f"/bridges/sync/{source}/{target}")["results"]
        elapsed = time.perf_counter() - started
        tables = TableRequests(self.tables.port, self.tables.reads, self.tables.writes,
                               self.tables.transactions)
        return elapsed, results, self.graph_requests()["total"], tables


def book_many(stack: LocalStack, count: int) -> float:
    session = requests.Session()
    session.headers["X-API-Key"] = DEMO_BOOKING_KEY
    start = (datetime.now(UTC) + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    began = time.perf_counter()
    for n in range(count):
        at = start + timedelta(minutes=30 * n)
        session.post(f"{stack.booking.base_url}/api/events", timeout=30, json={  # type: ignore[union-attr]
            "resource_id": "room_101", "title": f"Booking {n}",
            "start_time": at.isoformat().replace("+00:00", "Z"),
            "end_time": (at + timedelta(minutes=25)).isoformat().replace("+00:00", "Z"),
        }).raise_for_status()
    return time.perf_counter() - began


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bookings", type=int, default=200)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    os.environ.update({"SYNC_SCHEDULE": "0 0 0 1 1 *", "DELETION_SYNC_SCHEDULE": "0 0 0 1 1 *",
                       "POLL_SCHEDULE": "0 0 0 1 1 *",
                       "SUBSCRIPTION_RENEWAL_SCHEDULE": "0 0 0 1 1 *",
                       "CALBRIDGE_INLINE_OPERATIONS": str(max(args.bookings, 1) * 2)})
    with tempfile.TemporaryDirectory(prefix="calbridge-bench-") as folder:
        stack = LocalStack(ports=Ports.free(), persistent=False, function_key=KEY,
                           workdir=Path(folder))
        stack.start()
        assert stack.azurite is not None
        try:
            stack.booking.set_webhook(None, None)  # type: ignore[union-attr]
            tables = stack.azurite.ports[2]
            with counting_table_requests(tables) as counter:
                rows, booking_seconds = run(Bench(stack, counter), args.bookings)
        finally:
            stack.stop()
    report(rows, args.bookings, booking_seconds)
    return 0


def run(bench: Bench, bookings: int) -> tuple[list[tuple], float]:
    """Map a room, book it full, and time the four runs."""
    rooms = bench.call("GET", "/bridges/outlook/calendars")["calendars"]
    bench.call("POST", "/mappings/resources", json={
        "booking_system_resource_id": "room_101", "calendar_system": "outlook",
        "calendar_resource_id": rooms[0]["id"]})
    booking_seconds = book_many(bench.stack, bookings)
    rows = []
    for label, source, target in [
        ("first sync, bookings → Outlook", "booking_system", "outlook"),
        ("again, nothing changed", "booking_system", "outlook"),
        ("Outlook → bookings (all echoes)", "outlook", "booking_system"),
        ("again, nothing changed", "outlook", "booking_system"),
    ]:
        rows.append((label, *bench.timed_sync(source, target)))
    return rows, booking_seconds


def report(rows: list[tuple], n: int, booking_seconds: float) -> None:
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\ncalbridge sync benchmark: {n} bookings in one room "
          f"(created in the booking system in {booking_seconds:.1f} s)\n")
    print(f"{'run':<34} {'seconds':>8} {'events/s':>9} {'created':>8} {'skipped':>8} "
          f"{'Graph calls':>12} {'per event':>10} {'table reqs':>11} {'per event':>10} "
          f"{'reads':>6} {'writes':>7} {'batches':>8}")
    for label, seconds, results, graph_calls, tables in rows:
        rate = n / seconds if seconds else 0.0
        print(f"{label:<34} {seconds:>8.2f} {rate:>9.1f} {results['created']:>8} "
              f"{results['skipped']:>8} {graph_calls:>12} {graph_calls / n:>10.2f} "
              f"{tables.total:>11} {tables.total / n:>10.2f} {tables.reads:>6} "
              f"{tables.writes:>7} {tables.transactions:>8}")
    print("\ntable reqs: Table Storage requests of the host (reads; single-row writes;"
          " batches, each one entity-group transaction of up to 100 rows)")
    print(f"peak memory of this process (host, emulators, client): {peak_mb:.0f} MB")


if __name__ == "__main__":
    sys.exit(main())
