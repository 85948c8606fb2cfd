"""Benchmark: how long calbridge takes to answer a Microsoft Graph change-notification
batch of 1, 100 and 1,000 items (all distinct, or all announcing the same event) through
the local host, and what the queue trigger then costs in Graph reads.

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
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sync_bench import KEY
from sync_bench import Bench as StackBench

from calbridge.config import Settings
from calbridge.host.stack import LocalStack, Ports
from calbridge.store import Storage
from calbridge.store.queues import NOTIFICATIONS

SIZES = (1, 100, 1000)
QUIET = {name: "0 0 0 1 1 *" for name in ("SYNC_SCHEDULE", "DELETION_SYNC_SCHEDULE",
                                          "POLL_SCHEDULE", "SUBSCRIPTION_RENEWAL_SCHEDULE")}


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
    def __init__(self, stack: LocalStack) -> None:
        super().__init__(stack)
        self.storage = Storage(Settings.from_env(stack.env))
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="timed batches per row")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    os.environ.update(QUIET)
    rows = []
    with tempfile.TemporaryDirectory(prefix="calbridge-bench-") as folder:
        stack = LocalStack(ports=Ports.free(), persistent=False, function_key=KEY,
                           workdir=Path(folder))
        stack.start()
        try:
            stack.booking.set_webhook(None, None)  # type: ignore[union-attr]
            bench = Bench(stack)
            subscription = bench.subscribe()
            bench.batch(subscription, 1, False, 1)  # warm up connections and caches
            for size in SIZES:
                for identical in (False, True):
                    if size == 1 and identical:
                        continue
                    rows.append(bench.batch(subscription, size, identical, args.repeat))
        finally:
            stack.stop()
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
