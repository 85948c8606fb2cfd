"""The benchmarks' handle on the local stack: Azurite, the Graph emulator, the example
booking system and the local Functions host, all in this process on free loopback ports,
with what each side was asked counted (Graph HTTP calls, booking system API calls, Table
Storage requests) and this process's memory and CPU read from /proc."""

from __future__ import annotations

import resource
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import requests

from calbridge import bootstrap
from calbridge.config import Settings
from calbridge.host.stack import LocalStack, Ports
from calbridge.store import Storage
from calbridge.store.queues import SYNC_WORK
from tests.fixtures.storage import TableRequests, counting_table_requests

KEY = "bench-function-key"
# Timers never fire on their own: every run is started by the benchmark.
QUIET = {name: "0 0 0 1 1 *" for name in ("SYNC_SCHEDULE", "DELETION_SYNC_SCHEDULE",
                                          "POLL_SCHEDULE", "SUBSCRIPTION_RENEWAL_SCHEDULE")}
B = TypeVar("B", bound="Bench")


class Bench:
    def __init__(self, stack: LocalStack, tables: TableRequests) -> None:
        self.stack = stack
        self.tables = tables
        self.storage = Storage(Settings.from_env(stack.env))
        self.api = requests.Session()
        self.api.headers["x-functions-key"] = KEY
        self.graph = requests.Session()
        self.graph.verify = stack.graph.ca_path  # type: ignore[union-attr]
        self.graph.trust_env = False

    def call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        # A run may wait for a mailbox's Graph request budget (10,000 per 10 minutes).
        answer = self.api.request(method, self.stack.url + path, timeout=3600, **kwargs)
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

    def booking_calls(self, reset: bool = False) -> int:
        """Calls to the booking system's API (`/api/…`) since the last reset."""
        counter = self.stack.booking.app.requests  # type: ignore[union-attr]
        calls = sum(count for route, count in counter.describe()["requests"].items()
                    if route.split(" ", 1)[1].startswith("/api/"))
        if reset:
            counter.clear()
        return calls

    def drained(self, timeout: float = 3600) -> None:
        """Wait until the host's queue trigger has done all the sync work queued."""
        queue = self.storage.queue(SYNC_WORK)
        deadline = time.monotonic() + timeout
        while queue.depth() and time.monotonic() < deadline:
            time.sleep(0.2)


@contextmanager
def quiet_stack(kind: type[B] | None = None) -> Iterator[B]:
    """A benchmark's handle on the local stack, on free loopback ports in a temporary
    folder, the booking system's change webhook off (runs are started by hand), its Table
    Storage requests counted; stopped at the end."""
    with tempfile.TemporaryDirectory(prefix="calbridge-bench-") as folder:
        stack = LocalStack(ports=Ports.free(), persistent=False, function_key=KEY,
                           workdir=Path(folder))
        # The host's clients are built once per process from its settings: a stack
        # started after another one needs them built again, for its own ports.
        bootstrap.use(None)
        stack.start()
        try:
            assert stack.azurite is not None
            stack.booking.set_webhook(None, None)  # type: ignore[union-attr]
            with counting_table_requests(stack.azurite.ports[2]) as counter:
                yield (kind or Bench)(stack, counter)  # type: ignore[misc]
        finally:
            stack.stop()


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
