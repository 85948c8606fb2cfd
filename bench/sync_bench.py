"""Benchmark: how long a first sync of N bookings into Outlook takes through the local
host, how many Graph requests and Table Storage requests it costs per event, and what
quiet runs cost afterwards.

    make bench                       # 200 bookings
    .venv/bin/python bench/sync_bench.py --bookings 500
    .venv/bin/python bench/sync_bench.py --direction outlook-to-booking --events 3000
    .venv/bin/python bench/sync_bench.py --edits --bookings 1000

`--direction outlook-to-booking` fills the Outlook room with N events instead (titles,
HTML bodies, attendees: what real meetings carry) and times the first sync into the
booking system — a complete Outlook read — with the peak memory it took.

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
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from calbridge.host.stack import DEMO_BOOKING_KEY, LocalStack, Ports
from tests.fixtures.storage import TableRequests, counting_table_requests

KEY = "bench-function-key"
B = TypeVar("B", bound="Bench")


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

    def graph_token(self) -> str:
        return self.stack.graph.service.identity.issue_token()  # type: ignore[union-attr]

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
        # HTTP calls to Graph (a `$batch` is one call, whatever it carries).
        return elapsed, results, self.graph_requests()["calls"], tables


@contextmanager
def quiet_stack(kind: type[B] | None = None) -> Iterator[B]:
    """A benchmark's handle on the local stack, on free loopback ports in a temporary
    folder, the booking system's change webhook off (runs are started by hand), its Table
    Storage requests counted; stopped at the end."""
    with tempfile.TemporaryDirectory(prefix="calbridge-bench-") as folder:
        stack = LocalStack(ports=Ports.free(), persistent=False, function_key=KEY,
                           workdir=Path(folder))
        stack.start()
        try:
            assert stack.azurite is not None
            stack.booking.set_webhook(None, None)  # type: ignore[union-attr]
            with counting_table_requests(stack.azurite.ports[2]) as counter:
                yield (kind or Bench)(stack, counter)  # type: ignore[misc]
        finally:
            stack.stop()


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


def fill_outlook(bench: Bench, room: str, count: int) -> float:
    """`count` meetings in the Outlook room, written through Graph four at a time (the
    mailbox's concurrency limit)."""
    start = (datetime.now(UTC) + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    url = f"{bench.stack.graph.graph_url}/users/{room}/events"  # type: ignore[union-attr]
    token = bench.graph_token()

    def create(n: int) -> None:
        at = start + timedelta(minutes=30 * n)
        bench.graph.post(url, timeout=30, headers={"Authorization": f"Bearer {token}"}, json={
            "subject": f"Meeting {n}",
            "body": {"contentType": "html", "content": "<p>Agenda</p>" + "<li>item</li>" * 40},
            "start": {"dateTime": at.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
            "end": {"dateTime": (at + timedelta(minutes=25)).strftime("%Y-%m-%dT%H:%M:%S"),
                    "timeZone": "UTC"},
            "location": {"displayName": "Room 101"},
            "attendees": [{"emailAddress": {"address": f"person{k}@example.org",
                                            "name": f"Person {k}"}, "type": "required"}
                          for k in range(5)],
        }).raise_for_status()

    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(create, range(count)))
    return time.perf_counter() - began


def reset_peak() -> bool:
    """Reset this process's peak RSS (Linux: clear_refs 5); False where that is refused."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def memory_mb(field: str) -> float:
    """VmRSS (now) or VmHWM (peak since the last reset) of this process, in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def outlook_to_booking(args: argparse.Namespace) -> int:
    n = args.events
    with quiet_stack() as bench:
        room = bench.call("GET", "/bridges/outlook/calendars")["calendars"][0]["id"]
        bench.call("POST", "/mappings/resources", json={
            "booking_system_resource_id": "room_101", "calendar_system": "outlook",
            "calendar_resource_id": room})
        fill_seconds = fill_outlook(bench, room, n)
        before = memory_mb("VmRSS")
        reset = reset_peak()
        seconds, results, graph_calls, _ = bench.timed_sync("outlook", "booking_system")
        peak = memory_mb("VmHWM")
    print(f"\ncalbridge sync benchmark: {n} Outlook events in one room → booking system "
          f"(written through Graph in {fill_seconds:.1f} s)\n")
    print(f"first sync: {seconds:.2f} s, {n / seconds if seconds else 0:.1f} events/s, "
          f"created {results['created']}, queued {results['queued']}, "
          f"errors {results['errors']}, {graph_calls} Graph calls")
    print(f"memory of this process (host, emulators, client): {before:.0f} MiB before the "
          f"sync, peak {peak:.0f} MiB during it (+{peak - before:.0f} MiB)"
          + ("" if reset else "; the peak could not be reset, so it is the process's"))
    return 0


def edit_rounds(args: argparse.Namespace) -> int:
    """`--edits`: after a first sync of N bookings, every booking renamed, then every one
    cancelled, each round synced to Outlook: its Graph calls per event (the copies read,
    updated and deleted in `$batch`es of 20)."""
    n = args.bookings
    os.environ["CALBRIDGE_MASS_DELETE_MIN"] = str(n + 1)  # a cancel round is the point here
    with quiet_stack() as bench:
        room = bench.call("GET", "/bridges/outlook/calendars")["calendars"][0]["id"]
        bench.call("POST", "/mappings/resources", json={
            "booking_system_resource_id": "room_101", "calendar_system": "outlook",
            "calendar_resource_id": room})
        book_many(bench.stack, n)
        bench.timed_sync("booking_system", "outlook")
        bookings = requests.Session()
        bookings.headers["X-API-Key"] = DEMO_BOOKING_KEY
        base = f"{bench.stack.booking.base_url}/api/events"  # type: ignore[union-attr]
        ids, params = [], {"resource_id": "room_101"}
        while True:
            page = bookings.get(base, params=params, timeout=30).json()
            ids += [row["id"] for row in page["events"]]
            if page["next_cursor"] is None:
                break
            params["cursor"] = page["next_cursor"]
        rounds = []
        for label, change in (("every booking renamed", "PUT"),
                              ("every booking cancelled", "DELETE")):
            for booking_id in ids:
                bookings.request(change, f"{base}/{booking_id}", timeout=30,
                                 json={"title": f"Renamed {booking_id}"}
                                 if change == "PUT" else None).raise_for_status()
            seconds, results, graph_calls, _ = bench.timed_sync("booking_system", "outlook")
            rounds.append((label, seconds, results, graph_calls))
    print(f"\ncalbridge edit rounds: {n} bookings in one room, synced to Outlook\n")
    print(f"{'round':<26} {'seconds':>8} {'updated':>8} {'deleted':>8} {'errors':>7} "
          f"{'Graph calls':>12} {'per event':>10}")
    for label, seconds, results, graph_calls in rounds:
        print(f"{label:<26} {seconds:>8.2f} {results['updated']:>8} {results['deleted']:>8} "
              f"{results['errors']:>7} {graph_calls:>12} {graph_calls / n:>10.3f}")
    print("\nGraph calls: HTTP requests to the Graph API (a $batch of up to 20 parts is one)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bookings", type=int, default=200)
    parser.add_argument("--direction", choices=("booking-to-outlook", "outlook-to-booking"),
                        default="booking-to-outlook")
    parser.add_argument("--events", type=int, default=3000,
                        help="Outlook events for --direction outlook-to-booking")
    parser.add_argument("--edits", action="store_true",
                        help="rename, then cancel, every booking after the first sync and "
                             "print the Graph calls per event of each round")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    size = args.events if args.direction == "outlook-to-booking" else args.bookings
    # Every write inline and no time budget: the figures are of the sync itself.
    os.environ.update({"SYNC_SCHEDULE": "0 0 0 1 1 *", "DELETION_SYNC_SCHEDULE": "0 0 0 1 1 *",
                       "POLL_SCHEDULE": "0 0 0 1 1 *",
                       "SUBSCRIPTION_RENEWAL_SCHEDULE": "0 0 0 1 1 *",
                       "CALBRIDGE_INLINE_OPERATIONS": str(max(size, 1) * 2),
                       "CALBRIDGE_SYNC_BUDGET_SECONDS": "220"})
    if args.direction == "outlook-to-booking":
        return outlook_to_booking(args)
    if args.edits:
        return edit_rounds(args)
    with quiet_stack() as bench:
        rows, booking_seconds = run(bench, args.bookings)
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
    print("\nGraph calls: HTTP requests to the Graph API (a $batch of up to 20 writes is one)")
    print("table reqs: Table Storage requests of the host (reads; single-row writes;"
          " batches, each one entity-group transaction of up to 100 rows)")
    print(f"peak memory of this process (host, emulators, client): {peak_mb:.0f} MB")


if __name__ == "__main__":
    sys.exit(main())
