"""Benchmark: what a sync costs at scale, through the local host, in one table.

    make bench                                           # every scenario below
    .venv/bin/python bench/sync_bench.py --scenario one-room --events 1000
    .venv/bin/python bench/sync_bench.py --save now.json --baseline before.json
    .venv/bin/python bench/sync_bench.py --scenario rooms --events 2000 --sample cpu.txt

Scenarios (`--scenario`, repeatable; `--events N`, repeatable, replaces the sizes):
- `one-room`: N bookings in one room, booking system → Outlook, at 200, 1,000 and 10,000;
  then a quiet run, Outlook read back (every event is calbridge's own copy), and a
  quiet run of that direction.
- `rooms`: N bookings spread over 20 rooms (20 mappings, 10,000 by default), booking
  system → Outlook, with the Graph emulator throttling as Outlook does per mailbox
  (10,000 requests per 10 minutes, 4 at once); then a quiet run.
- `outlook-to-booking`: N meetings (HTML bodies, attendees) in one Outlook room, Outlook →
  booking system, at 1,000 and 10,000; then a quiet run.
- `push`: Graph notification batches of 1,000 items, and 20 edits each way by push alone
  (`bench/webhook_bench.py` has the whole webhook benchmark).

A run is timed from the sync request until the host's queue trigger has done every
write the request handed to the `sync-work` queue, with calbridge's default settings
(`CALBRIDGE_INLINE_OPERATIONS`, `CALBRIDGE_SYNC_BUDGET_SECONDS`). Graph calls are HTTP
requests as the emulator counts them (a `$batch` of up to 20 writes is one), booking
calls are requests to the booking system's API, table transactions are Table Storage
requests of the host (reads, single-row writes, and entity-group transactions of up to
100 rows, each one request). The Graph emulator runs in a process of its own, as Graph
is elsewhere in production; the host, the example booking system and the benchmark share
this process, so peak RSS (VmHWM, reset before each run) and CPU seconds are the host's
with theirs (the booking system's bookings are in memory here).

Everything runs on 127.0.0.1 and is stopped at the end. Figures are printed, not
asserted: they depend on the machine. `--save FILE` writes them as JSON; `--baseline FILE`
prints each figure's ratio against such a file (now / then).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_stack import QUIET, Bench, memory_mb, quiet_stack, reset_peak, sampled

from emulators.graph.seed import load_seed, with_guide_examples
from examples.booking_system.timestamps import now_stamp

ROOM_RESOURCE = "room_101"
ROOMS = 20
# Outlook's limits per app and mailbox, as the Graph emulator enforces them when asked.
GRAPH_THROTTLE = {"enabled": True, "limit": 10_000, "window_seconds": 600, "concurrency": 4}
SIZES = {"one-room": (200, 1000, 10_000), "rooms": (10_000,),
         "outlook-to-booking": (1000, 10_000), "push": (1000,)}
SCENARIOS = tuple(SIZES)
# `--sample FILE`: where each load's samples of the working threads go (FILE-scenario-N).
SAMPLE: Path | None = None
# What a scenario has to say beside its rows, printed under the table.
NOTES: list[str] = []


@dataclass
class Row:
    """One measured run."""

    scenario: str
    run: str
    n: int  # events the run synced, or the calendar held (quiet runs)
    quiet: bool
    calendars: int
    wall: float
    answered: float  # when the sync request answered (the rest is queued work)
    cpu: float
    graph_calls: int
    booking_calls: int
    table_requests: int
    table_writes: int
    source_calls: int
    peak_mb: float
    grown_mb: float  # the peak over what the process held when the run began
    errors: int

    @property
    def key(self) -> str:
        return f"{self.scenario} {self.n} {self.run}"

    def per_event(self, value: float) -> float | None:
        return None if self.quiet or not self.n else value / self.n

    def figures(self) -> dict[str, float | None]:
        """The figures the table shows and the baseline compares."""
        return {
            "wall s": self.wall,
            "answer s": self.answered,
            "events/s": None if self.quiet or not self.wall else self.n / self.wall,
            "Graph/ev": self.per_event(self.graph_calls),
            "table/ev": self.per_event(self.table_requests),
            "booking/ev": self.per_event(self.booking_calls),
            "peak RSS MB": self.peak_mb,
            "RSS +MB": self.grown_mb,
            "table writes": self.table_writes,
            "reads/cal": self.source_calls / self.calendars,
            "CPU s": self.cpu,
            "errors": self.errors,
        }


class ScaleBench(Bench):
    def map_room(self, resource: str, room: str) -> None:
        self.call("POST", "/mappings/resources", json={
            "booking_system_resource_id": resource, "calendar_system": "outlook",
            "calendar_resource_id": room})

    def rooms(self) -> list[str]:
        return [c["id"] for c in self.call("GET", "/bridges/outlook/calendars")["calendars"]]

    def measure(self, scenario: str, run: str, n: int, source: str, target: str, *,
                calendars: int = 1, quiet: bool = False) -> Row:
        """One sync request, and the queued work it left, timed and counted."""
        self.graph_requests(reset=True)
        self.booking_calls(reset=True)
        self.tables.reset()
        before = memory_mb("VmRSS")
        reset_peak()
        cpu, started = time.process_time(), time.perf_counter()
        where = None if quiet or SAMPLE is None else SAMPLE.with_name(
            f"{SAMPLE.stem}-{scenario}-{n}{SAMPLE.suffix}")
        with sampled(where):
            results = self.call("POST", f"/bridges/sync/{source}/{target}")["results"]
            answered = time.perf_counter() - started
            self.drained()
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        peak = memory_mb("VmHWM")
        graph = self.graph_requests()["calls"]
        booking = self.booking_calls()
        tables = (self.tables.total, self.tables.writing)
        summary = self.call("GET", "/bridge/stats")["statistics"]["summary"]
        errors = results["errors"] + summary["error"] + summary["conflict"] + summary["pending"]
        return Row(scenario, run, n, quiet, calendars, wall, answered, cpu, graph, booking, *tables,
                   graph if source == "outlook" else booking, peak, peak - before, errors)


def book(bench: ScaleBench, per_resource: dict[str, int]) -> None:
    """Bookings straight into the booking system's storage, half-hourly from tomorrow
    (its API would take minutes at this size; the change webhook is off anyway), made an
    hour ago: a room's bookings exist before it is mapped. (Bookings changed within the
    last five minutes are read again by the next run, `RE_READ_MARGIN`.)"""
    bookings = bench.stack.booking.app.bookings  # type: ignore[union-attr]
    start = (datetime.now(UTC) + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    made = datetime.now(UTC) - timedelta(hours=1)
    bookings.store.clock = lambda: made.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    try:
        with bookings.store.transaction():
            for resource, count in per_resource.items():
                for n in range(count):
                    at = start + timedelta(minutes=30 * n)
                    bookings.create_event({
                        "resource_id": resource, "title": f"Booking {n}",
                        "start_time": at.isoformat(),
                        "end_time": (at + timedelta(minutes=25)).isoformat()})
    finally:
        bookings.store.clock = now_stamp


def fill_outlook(bench: ScaleBench, room: str, count: int) -> None:
    """`count` meetings in the Outlook room (HTML bodies, attendees: what real meetings
    carry), written through Graph `$batch`, 20 a request, four requests at a time."""
    start = (datetime.now(UTC) + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    url = f"{bench.stack.graph.graph_url}/$batch"  # type: ignore[union-attr]
    headers = {"Authorization": f"Bearer {bench.graph_token()}"}

    def meeting(n: int) -> dict[str, Any]:
        at = start + timedelta(minutes=30 * n)
        return {"id": str(n), "method": "POST", "url": f"/users/{room}/events",
                "headers": {"Content-Type": "application/json"}, "body": {
                    "subject": f"Meeting {n}",
                    "body": {"contentType": "html",
                             "content": "<p>Agenda</p>" + "<li>item</li>" * 40},
                    "start": {"dateTime": at.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
                    "end": {"dateTime": (at + timedelta(minutes=25)).strftime(
                        "%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
                    "location": {"displayName": "Room 101"},
                    "attendees": [{"emailAddress": {"address": f"person{k}@example.org",
                                                    "name": f"Person {k}"}, "type": "required"}
                                  for k in range(5)]}}

    def send(first: int) -> None:
        requests = [meeting(n) for n in range(first, min(first + 20, count))]
        answer = bench.graph.post(url, json={"requests": requests}, headers=headers,
                                  timeout=120)
        answer.raise_for_status()
        failed = [r for r in answer.json()["responses"] if r["status"] >= 300]
        if failed:
            raise RuntimeError(f"filling Outlook failed: {failed[0]}")

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(send, range(0, count, 20)))


def one_room(n: int) -> Iterator[Row]:
    with quiet_stack(ScaleBench, graph_apart=True) as bench:
        bench.map_room(ROOM_RESOURCE, bench.rooms()[0])
        book(bench, {ROOM_RESOURCE: n})
        yield bench.measure("one-room", "booking → Outlook", n, "booking_system", "outlook")
        yield bench.measure("one-room", "quiet", n, "booking_system", "outlook", quiet=True)
        # Past some 10,000 requests in 10 minutes to the room (its creates count one by
        # one), calbridge waits for Graph's per-mailbox budget before reading it.
        yield bench.measure("one-room", "Outlook read back", n, "outlook", "booking_system")
        yield bench.measure("one-room", "quiet", n, "outlook", "booking_system", quiet=True)


def room_seed(count: int) -> dict[str, Any]:
    """The Graph emulator's seed (with the guide's examples) and `count` bench rooms."""
    seed = with_guide_examples(load_seed(None))
    seed["mailboxes"] += [
        {"kind": "room", "id": f"bench-room-{k:02d}",
         "userPrincipalName": f"bench-room-{k:02d}@rooms.example.org",
         "displayName": f"Bench room {k}"} for k in range(count)]
    return seed


def add_rooms(bench: ScaleBench, count: int) -> list[tuple[str, str]]:
    """As many booking resources as the emulator has bench rooms (`room_seed`), mapped in
    pairs: (resource, room) each; the emulator throttling as Outlook does."""
    bench.graph.post(f"{bench.stack.graph.base_url}/_admin/throttle",  # type: ignore[union-attr]
                     json=GRAPH_THROTTLE, timeout=30).raise_for_status()
    pairs = []
    for k in range(count):
        resource = bench.stack.booking.app.bookings.add_resource(  # type: ignore[union-attr]
            {"id": f"bench_{k:02d}", "name": f"Bench room {k}"})
        pairs.append((resource["id"], f"bench-room-{k:02d}@rooms.example.org"))
        bench.map_room(*pairs[-1])
    return pairs


def rooms(n: int) -> Iterator[Row]:
    with quiet_stack(ScaleBench, graph_apart=True, graph_seed=room_seed(ROOMS)) as bench:
        pairs = add_rooms(bench, ROOMS)
        book(bench, {resource: n // ROOMS for resource, _ in pairs})
        load = bench.measure("rooms", f"booking → Outlook, {ROOMS} rooms", n,
                             "booking_system", "outlook", calendars=ROOMS)
        by_mailbox = bench.graph_requests()["by_mailbox"]
        busiest = max((sum(c.values()) for c in by_mailbox.values()), default=0)
        throttled = bench.graph_requests()["by_status"].get("429", 0)
        quiet = bench.measure("rooms", "quiet", n, "booking_system", "outlook",
                              calendars=ROOMS, quiet=True)
    rate = GRAPH_THROTTLE["limit"] / GRAPH_THROTTLE["window_seconds"]
    NOTES.append(f"Graph throttle, {ROOMS} rooms: {GRAPH_THROTTLE['limit']:,} requests per "
          f"{GRAPH_THROTTLE['window_seconds']} s and {GRAPH_THROTTLE['concurrency']} at once "
          f"per mailbox; the busiest mailbox took {busiest:,} requests (batch items counted "
          f"one by one), {throttled} answered 429 — "
          + ("the throttle was the limit: it allows "
             f"{rate * ROOMS * n / max(1, load.graph_calls):.0f} events/s over the window"
             if busiest > GRAPH_THROTTLE["limit"] else
             "within the window's allowance, so the throttle was not the limit"))
    yield from (load, quiet)


def outlook_to_booking(n: int) -> Iterator[Row]:
    with quiet_stack(ScaleBench, graph_apart=True) as bench:
        room = bench.rooms()[0]
        bench.map_room(ROOM_RESOURCE, room)
        fill_outlook(bench, room, n)
        yield bench.measure("outlook-to-booking", "Outlook → booking", n, "outlook",
                            "booking_system")
        yield bench.measure("outlook-to-booking", "quiet", n, "outlook", "booking_system",
                            quiet=True)


def push(n: int) -> Iterator[Row]:
    """The webhook benchmark's notification batch of `n` items and its push latency."""
    from webhook_bench import Bench as WebhookBench
    from webhook_bench import Push, percentile

    with quiet_stack(WebhookBench) as bench:
        subscription = bench.subscribe()
        bench.batch(subscription, 1, False, 1)  # warm up connections and caches
        batch = bench.batch(subscription, n, False, 3)
        latencies = Push(bench, subscription[2]).latencies(20)
    NOTES.append(f"push: a notification batch of {n:,} items answered in "
                 f"{batch['median']:.3f} s (median of 3, worst {batch['worst']:.3f} s)")
    NOTES.extend(f"push: {direction}, 20 edits: p50 {percentile(seconds, 0.5):.3f} s, "
                 f"p95 {percentile(seconds, 0.95):.3f} s"
                 for direction, seconds in latencies.items())
    yield from ()


RUNS: dict[str, Callable[[int], Iterator[Row]]] = {
    "one-room": one_room, "rooms": rooms, "outlook-to-booking": outlook_to_booking,
    "push": push}

COLUMNS = ("wall s", "answer s", "events/s", "Graph/ev", "table/ev", "booking/ev",
           "peak RSS MB", "RSS +MB", "table writes", "reads/cal", "CPU s", "errors")


def cell(value: float | None, width: int) -> str:
    if value is None:
        return f"{'-':>{width}}"
    if isinstance(value, int) or value >= 100 or value == int(value):
        return f"{value:>{width}.0f}"
    return f"{value:>{width}.3f}" if value < 1 else f"{value:>{width}.2f}"


def header() -> None:
    head = f"{'scenario':<20} {'run':<28} {'N':>6} " + " ".join(
        f"{c:>{max(8, len(c))}}" for c in COLUMNS)
    print("\n" + head + "\n" + "-" * len(head), flush=True)


def print_row(row: Row, baseline: dict[str, dict[str, float | None]] | None) -> None:
    figures = row.figures()
    print(f"{row.scenario:<20} {row.run:<28} {row.n:>6} " + " ".join(
        cell(figures[c], max(8, len(c))) for c in COLUMNS), flush=True)
    then = (baseline or {}).get(row.key)
    if then is not None:
        ratios = [None if figures[c] is None or not then.get(c) else
                  figures[c] / then[c] for c in COLUMNS]  # type: ignore[operator]
        print(f"{'':<20} {'  now / baseline':<28} {'':>6} " + " ".join(
            cell(r, max(8, len(c))) for r, c in zip(ratios, COLUMNS, strict=True)),
            flush=True)


def legend() -> None:
    print("\nwall s: from the sync request until its queued work is done; answer s: until "
          "the request answered;")
    print("Graph/ev, table/ev, booking/ev: Graph HTTP calls, Table Storage requests and "
          "booking system API calls per event; reads/cal: requests to the source system per "
          "calendar (a quiet run's cursor reads); table writes: single writes and "
          "transactions; errors: failed, conflicting or unfinished pairs after the run")
    for note in NOTES:
        print(note)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", action="append", choices=SCENARIOS,
                        help="run only these (repeatable; default: all)")
    parser.add_argument("--events", action="append", type=int,
                        help="sizes to run each scenario at (repeatable)")
    parser.add_argument("--save", type=Path, help="write the figures to this JSON file")
    parser.add_argument("--baseline", type=Path,
                        help="print ratios against figures written with --save")
    parser.add_argument("--sample", type=Path,
                        help="sample where this process's CPU goes during each load, "
                             "written to FILE-scenario-N (the host, the emulators and the "
                             "booking system share the process)")
    args = parser.parse_args(argv)
    global SAMPLE
    SAMPLE = args.sample
    logging.basicConfig(level=logging.WARNING)
    os.environ.update(QUIET)
    baseline = json.loads(args.baseline.read_text()) if args.baseline else None
    rows: list[Row] = []
    print("calbridge scale benchmark (all on 127.0.0.1; calbridge's default settings)")
    header()
    for scenario in args.scenario or SCENARIOS:
        for n in args.events or SIZES[scenario]:
            for row in RUNS[scenario](n):
                rows.append(row)
                print_row(row, baseline)
            if args.save:  # after every scenario: a long run stopped early keeps its figures
                args.save.write_text(json.dumps({r.key: r.figures() for r in rows}, indent=1))
    legend()
    return 0


if __name__ == "__main__":
    sys.exit(main())
