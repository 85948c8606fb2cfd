"""The benchmarks' handle on the local stack: Azurite, the Graph emulator, the example
booking system and the local Functions host, all in this process on free loopback ports,
with what each side was asked counted (Graph HTTP calls, booking system API calls, Table
Storage requests) and this process's memory and CPU read from /proc."""

from __future__ import annotations

import resource
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
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
        """An app token from the emulator's sign-in endpoint (client credentials)."""
        graph = self.stack.graph
        answer = self.graph.post(
            f"{graph.authority_host}/{graph.tenant_id}/oauth2/v2.0/token",  # type: ignore[union-attr]
            data={"grant_type": "client_credentials", "client_id": graph.client_id,  # type: ignore[union-attr]
                  "client_secret": graph.client_secret,  # type: ignore[union-attr]
                  "scope": "https://graph.microsoft.com/.default"}, timeout=30)
        answer.raise_for_status()
        return answer.json()["access_token"]

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
def quiet_stack(kind: type[B] | None = None, *, graph_apart: bool = False,
                graph_seed: dict[str, Any] | None = None) -> Iterator[B]:
    """A benchmark's handle on the local stack, on free loopback ports in a temporary
    folder, the booking system's change webhook off (runs are started by hand), its Table
    Storage requests counted; stopped at the end. `graph_apart` runs the Graph emulator
    in a process of its own (serving `graph_seed` when given), so this process's memory
    and CPU are the host's (with the booking system's and the benchmark's)."""
    with tempfile.TemporaryDirectory(prefix="calbridge-bench-") as folder:
        stack = LocalStack(ports=Ports.free(), persistent=False, function_key=KEY,
                           workdir=Path(folder), graph_apart=graph_apart,
                           graph_seed=graph_seed)
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


@contextmanager
def sampled(path: Path | None, interval: float = 0.02) -> Iterator[None]:
    """Sample every thread of this process (the host, the emulators, the benchmark) every
    `interval` and write where the ones that used CPU since the last sample were to `path`:
    functions by CPU ticks spent in them (self) and under them (total). A thread's ticks
    are read from /proc, so a thread waiting on I/O or a lock counts for nothing. Nothing
    happens without a path."""
    if path is None:
        yield
        return
    spent = {"self": Counter[str](), "total": Counter[str]()}
    done = threading.Event()
    ticks: dict[int, int] = {}

    def sample() -> None:
        me = threading.get_ident()
        while not done.wait(interval):
            frames = sys._current_frames()
            for thread in threading.enumerate():
                frame = frames.get(thread.ident or 0)
                if thread.ident == me or frame is None or thread.native_id is None:
                    continue
                used = _thread_ticks(thread.native_id)
                delta, ticks[thread.native_id] = used - ticks.get(thread.native_id, used), used
                if delta <= 0:
                    continue
                spent["self"][_where(frame)] += delta
                seen = set()
                while frame is not None:
                    if (where := _where(frame)) not in seen:
                        seen.add(where)
                        spent["total"][where] += delta
                    frame = frame.f_back

    sampler = threading.Thread(target=sample, name="bench-sampler", daemon=True)
    sampler.start()
    try:
        yield
    finally:
        done.set()
        sampler.join()
        total = sum(spent["self"].values()) or 1
        lines = [f"{total} CPU ticks of sampled threads (sampled every {interval * 1000:.0f} ms)"]
        for kind in ("self", "total"):
            lines += ["", f"by {kind}:"] + [
                f"{count / total:7.1%}  {where}" for where, count in spent[kind].most_common(80)]
        path.write_text("\n".join(lines) + "\n")


def _thread_ticks(native_id: int) -> int:
    """User and system CPU ticks a thread of this process has used (0 once it is gone)."""
    try:
        stat = Path(f"/proc/self/task/{native_id}/stat").read_text()
    except OSError:
        return 0
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def _where(frame: FrameType) -> str:
    code = frame.f_code
    name = code.co_filename
    for marker in ("site-packages/", "calbridge/", "emulators/", "examples/"):
        if marker in name:
            name = name[name.index(marker):]
            break
    return f"{name}:{code.co_firstlineno} {code.co_qualname}"
