"""Benchmark: how long calbridge takes to answer a Microsoft Graph change-notification
batch of 1, 100 and 1,000 items (all distinct, or all announcing the same event) through
the local host, and what the queue trigger then costs in Graph reads; then how long an
edit takes to reach the other side by push alone, each way (p50 and p95 of `--edits`).

    make bench                                   # after the sync benchmark
    .venv/bin/python bench/webhook_bench.py --repeat 5

Graph counts a notification as delivered only when it is answered 2xx within 3 seconds
and throttles, then drops, endpoints that answer slowly
(learn.microsoft.com/graph/change-notifications-delivery-webhooks, "Throttling"), so the
answer time is what matters here. The events named do not exist: the queue trigger's work
is one Graph read per distinct event, and the benchmark waits for it to finish before the
next batch so each answer is timed on a quiet host.

Everything runs on 127.0.0.1 (Azurite, the Graph emulator, the example booking system
and the local Functions host) and is stopped at the end. Figures are printed, not
asserted: they depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_stack import QUIET, quiet_stack
from bench_stack import Bench as StackBench

from calbridge.host.stack import DEMO_BOOKING_KEY, DEMO_WEBHOOK_SECRET, LocalStack
from calbridge.store.queues import NOTIFICATIONS
from tests.fixtures.storage import TableRequests

SIZES = (1, 100, 1000)


def item(subscription_id: str, client_state: str, room: str, event_id: str) -> dict[str, Any]:
    """One change notification item, shaped as Graph sends it."""
    resource = f"Users/{room}/Events/{event_id}"
    return {"subscriptionId": subscription_id, "clientState": client_state,
            "changeType": "updated", "resource": resource,
            "subscriptionExpirationDateTime": "2030-01-01T00:00:00Z",
            "tenantId": "84bd8158-6d4d-4958-8b9f-9d6445542f95",
            "resourceData": {"@odata.type": "#Microsoft.Graph.Event", "@odata.id": resource,
                             "id": event_id}}


class Bench(StackBench):
    def __init__(self, stack: LocalStack, tables: TableRequests) -> None:
        super().__init__(stack, tables)
        self.rounds = 0

    def subscribe(self) -> tuple[str, str, str]:
        """Map the first room, subscribe it; its subscription id, clientState and mailbox."""
        room = self.call("GET", "/bridges/outlook/calendars")["calendars"][0]["id"]
        self.call("POST", "/mappings/resources", json={
            "booking_system_resource_id": "room_101", "calendar_system": "outlook",
            "calendar_resource_id": room})
        created = self.call("POST", "/webhook/create", json={"calendar_id": room})
        # The clientState is never shown by the API, and storage keeps only its keyed hash;
        # the Graph emulator (running in this process) holds what notifications carry.
        sid = created["subscription"]["id"]
        graph = self.stack.graph.service  # type: ignore[union-attr]
        return sid, graph.subscriptions.subscriptions[sid].client_state, room

    def graph_reads(self, reset: bool = False) -> int:
        routes = self.graph_requests(reset)["by_route"]
        return sum(count for route, count in routes.items()
                   if route.startswith("GET ") and route.lower().count("/events/{") == 1
                   and route.endswith("}"))

    def settle(self, timeout: float = 300) -> None:
        """Wait until the queue trigger has done everything queued."""
        queue = self.storage.queue(NOTIFICATIONS)
        deadline = time.monotonic() + timeout
        while queue.depth() and time.monotonic() < deadline:
            time.sleep(0.2)

    def answer(self, body: bytes) -> tuple[float, dict[str, Any]]:
        started = time.perf_counter()
        reply = requests.post(self.stack.url + "/bridges/webhook/outlook", data=body,
                              headers={"Content-Type": "application/json"}, timeout=60)
        seconds = time.perf_counter() - started
        reply.raise_for_status()
        return seconds, reply.json()

    def batch(self, subscription: tuple[str, str, str], size: int, identical: bool,
              repeat: int) -> dict[str, Any]:
        sid, state, room = subscription
        timings, reads, answered = [], 0, {}
        for _ in range(repeat):
            self.rounds += 1
            ids = [f"bench-{self.rounds}-{0 if identical else n}" for n in range(size)]
            body = json.dumps({"value": [item(sid, state, room, i) for i in ids]}).encode()
            self.settle()
            self.graph_reads(reset=True)
            seconds, answered = self.answer(body)
            timings.append(seconds)
            self.settle()
            reads += self.graph_reads()
        return {"size": size, "identical": identical, "median": statistics.median(timings),
                "worst": max(timings), "answer": answered, "reads": reads / repeat}


def until(check: Any, timeout: float = 30.0) -> float:
    """Seconds until `check()` is true, looking every 10 ms."""
    started = time.perf_counter()
    while not check():
        if time.perf_counter() - started > timeout:
            raise TimeoutError("the change did not arrive")
        time.sleep(0.01)
    return time.perf_counter() - started


class Push:
    """Edits on one side reaching the other by push alone: the booking system's signed
    webhook one way, Graph change notifications (the emulator's) the other."""

    def __init__(self, bench: Bench, room: str) -> None:
        self.bench, self.room = bench, room
        stack = bench.stack
        self.booking_url = f"{stack.booking.base_url}/api/events"  # type: ignore[union-attr]
        self.bookings = requests.Session()
        self.bookings.headers["X-API-Key"] = DEMO_BOOKING_KEY
        stack.booking.set_webhook(  # type: ignore[union-attr]
            f"{stack.url}/bridges/webhook/booking_system", DEMO_WEBHOOK_SECRET)
        self.graph_url = f"{stack.graph.graph_url}/users/{room}/events"  # type: ignore[union-attr]
        self.graph = requests.Session()
        self.graph.verify = stack.graph.ca_path  # type: ignore[union-attr]
        self.graph.trust_env = False
        token = stack.graph.service.identity.issue_token()  # type: ignore[union-attr]
        self.graph.headers["Authorization"] = f"Bearer {token}"

    def outlook_subject(self, event_id: str) -> str:
        answer = self.graph.get(f"{self.graph_url}/{event_id}", timeout=30)
        return answer.json().get("subject", "") if answer.ok else ""

    def outlook_id(self, subject: str) -> str | None:
        listed = self.graph.get(self.graph_url, params={"$top": "1000"}, timeout=30)
        found = [e["id"] for e in listed.json()["value"] if e["subject"] == subject]
        return found[0] if found else None

    def booking_title(self, booking_id: int) -> str:
        return self.bookings.get(f"{self.booking_url}/{booking_id}", timeout=30).json()["title"]

    def latencies(self, edits: int) -> dict[str, list[float]]:
        at = (datetime.now(UTC) + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
        booking = self.bookings.post(self.booking_url, timeout=30, json={
            "resource_id": "room_101", "title": "Push 0",
            "start_time": at.isoformat().replace("+00:00", "Z"),
            "end_time": (at + timedelta(hours=1)).isoformat().replace("+00:00", "Z")}).json()
        until(lambda: self.outlook_id("Push 0") is not None)
        event_id = self.outlook_id("Push 0")
        assert event_id is not None
        times: dict[str, list[float]] = {"booking → Outlook": [], "Outlook → booking": []}
        for n in range(1, edits + 1):
            # People edit seconds apart. An edit landing within milliseconds of calbridge's
            # own write of the same event (before it has recorded the write) reads as a
            # change on both ends, which the mapping's policy decides: not what is timed.
            time.sleep(0.5)
            title = f"Push {n} from the booking system"
            self.bookings.put(f"{self.booking_url}/{booking['id']}", timeout=30,
                              json={"title": title}).raise_for_status()
            times["booking → Outlook"].append(
                until(lambda t=title: self.outlook_subject(event_id) == t))
            time.sleep(0.5)
            subject = f"Push {n} from Outlook"
            self.graph.patch(f"{self.graph_url}/{event_id}", json={"subject": subject},
                                   timeout=30).raise_for_status()
            times["Outlook → booking"].append(
                until(lambda t=subject: self.booking_title(booking["id"]) == t))
        return times


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="timed batches per row")
    parser.add_argument("--edits", type=int, default=20,
                        help="edits each way for the push latency (default 20)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    os.environ.update(QUIET)
    rows = []
    with quiet_stack(Bench) as bench:
        subscription = bench.subscribe()
        bench.batch(subscription, 1, False, 1)  # warm up connections and caches
        for size in SIZES:
            for identical in (False, True):
                if size == 1 and identical:
                    continue
                rows.append(bench.batch(subscription, size, identical, args.repeat))
        latencies = Push(bench, subscription[2]).latencies(args.edits)
    print(f"\ncalbridge webhook receive benchmark: Graph change-notification batches to "
          f"POST /bridges/webhook/outlook ({args.repeat} per row)\n")
    print(f"{'batch':<24} {'answer median s':>16} {'worst s':>8} {'items/s':>9} "
          f"{'queued':>7} {'Graph reads':>12}")
    for row in rows:
        kind = "identical" if row["identical"] else "distinct"
        label = f"{row['size']:>5} items, {kind}"
        answer = row["answer"]
        queued = answer["accepted"] - answer["duplicates"]
        rate = row["size"] / row["median"] if row["median"] else 0.0
        print(f"{label:<24} {row['median']:>16.3f} {row['worst']:>8.3f} {rate:>9.0f} "
              f"{queued:>7} {row['reads']:>12.0f}")
    print("\nqueued: distinct notices queued per batch; Graph reads: event reads the queue "
          "trigger made per batch")
    largest = max((r for r in rows if not r["identical"]), key=lambda r: r["size"])
    print(f"a notification batch of {largest['size']:,} items answered in "
          f"{largest['median']:.3f} s (median; Graph wants an answer within 3 s)")
    print(f"\npush latency: {args.edits} edits each way, from the edit to the change seen on "
          "the other side\n")
    print(f"{'direction':<20} {'p50 s':>7} {'p95 s':>7} {'worst s':>8}")
    for direction, seconds in latencies.items():
        print(f"{direction:<20} {percentile(seconds, 0.5):>7.3f} "
              f"{percentile(seconds, 0.95):>7.3f} {max(seconds):>8.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
