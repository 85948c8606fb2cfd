"""Per-mailbox pacing: concurrent slots (a `$batch` holds one per part Graph runs at once,
also across processes through a shared ledger) and the request budget, which counts every
part."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from calbridge.bridges.pacing import ConcurrencyGate, Pacer
from calbridge.errors import StorageUnavailable
from tests.fixtures.clock import ManualClock


class InFlight:
    """Counts the slots callers hold inside a gate, and the most held at once."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0
        self._lock = threading.Lock()

    @contextmanager
    def holding(self, gate: ConcurrencyGate, width: int) -> Iterator[None]:
        with gate.hold(width):
            held = min(width, gate.limit)
            with self._lock:
                self.now += held
                self.peak = max(self.peak, self.now)
            try:
                yield
            finally:
                with self._lock:
                    self.now -= held


def test_parallel_batches_never_pass_the_mailbox_limit() -> None:
    gate, flight = ConcurrencyGate(4), InFlight()
    pause = threading.Event()

    def batch(width: int) -> None:
        with flight.holding(gate, width):
            pause.wait(0.01)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(batch, [4, 1, 3, 2, 20, 1, 1, 2] * 5))
    assert flight.peak == 4 and flight.now == 0


def test_every_part_of_a_batch_is_one_unit_of_the_budget() -> None:
    clock = ManualClock()
    pacer = Pacer("outlook", 4, 50, 600.0, clock=clock, sleep=clock.sleep)
    for _ in range(2):
        with pacer.slot("room@x", cost=20, width=4):
            pass
    assert clock.slept == []  # budget left: no wait at all
    with pacer.slot("ROOM@x", cost=20, width=4):  # 60 > 50: waits for the window to pass
        pass
    assert sum(clock.slept) == 600.0
    with pacer.slot("other@x", cost=20, width=4):  # another mailbox has its own budget
        pass
    assert sum(clock.slept) == 600.0


class Ledger:
    """A shared ledger another process has filled: `busy` refusals, then slots."""

    def __init__(self, busy: int = 0, down: bool = False) -> None:
        self.busy = busy
        self.down = down
        self.asked: list[tuple[str, int, int]] = []
        self.released: list[str] = []

    def acquire(self, key: str, width: int, limit: int) -> str | None:
        if self.down:
            raise StorageUnavailable("storage is unreachable")
        self.asked.append((key, width, limit))
        if self.busy:
            self.busy -= 1
            return None
        return "holder-1"

    def release(self, key: str, holder: str) -> None:
        self.released.append(holder)

    def draw(self, key: str, count: int, limit: int, period: float) -> float:
        if self.down:
            raise StorageUnavailable("storage is unreachable")
        return 0.0


class Budget:
    """One request budget shared by several processes' pacers, as the Table Storage ledger
    keeps it (calbridge.store.slots): grants within the last period count."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.grants: list[tuple[float, int]] = []
        self.draws: list[int] = []

    def acquire(self, key: str, width: int, limit: int) -> str | None:
        return "holder"

    def release(self, key: str, holder: str) -> None:
        pass

    def draw(self, key: str, count: int, limit: int, period: float) -> float:
        now = self.clock()
        self.grants = [(at, n) for at, n in self.grants if at > now - period]
        if sum(n for _, n in self.grants) + count > limit:
            return self.grants[0][0] + period - now
        self.grants.append((now, count))
        self.draws.append(count)
        return 0.0


def test_shared_slots_are_waited_for_and_given_back() -> None:
    clock = ManualClock()
    pacer = Pacer("outlook", 4, 10_000, 600.0, clock=clock, sleep=clock.sleep)
    ledger = Ledger(busy=2)
    pacer.share(ledger, scope="app-1")
    with pacer.slot("Room@x", cost=20, width=20):
        assert ledger.released == []
    assert ledger.asked == [("outlook|app-1|room@x", 4, 4)] * 3
    assert len(clock.slept) == 2 and ledger.released == ["holder-1"]


def test_unreachable_shared_slots_leave_pacing_to_the_process() -> None:
    clock = ManualClock()
    pacer = Pacer("outlook", 4, 10_000, 600.0, clock=clock, sleep=clock.sleep)
    ledger = Ledger(down=True)
    pacer.share(ledger, scope="app-1")
    with pacer.slot("room@x"):
        pass
    assert clock.slept == [] and ledger.released == []


def test_processes_sharing_a_budget_never_send_more_than_it_together() -> None:
    clock = ManualClock()
    budget = Budget(clock)
    first, second = (Pacer("outlook", 4, 200, 600.0, clock=clock, sleep=clock.sleep)
                     for _ in range(2))
    for pacer in (first, second):
        pacer.share(budget, scope="app-1")
    for _ in range(15):  # 150 of 200, drawn in blocks of 10 (a twentieth)
        with first.slot("room@x", cost=10, width=4):
            pass
    for _ in range(5):  # the 50 left, though this process has sent nothing yet
        with second.slot("room@x", cost=10, width=4):
            pass
    assert clock.slept == [] and budget.draws == [10] * 20
    with second.slot("room@x", cost=10, width=4):  # 210 > 200: waits for the window
        pass
    assert clock.slept == [600.0]


def test_a_drawn_block_lapses_with_its_window() -> None:
    clock = ManualClock()
    budget = Budget(clock)
    pacer = Pacer("outlook", 4, 10_000, 600.0, clock=clock, sleep=clock.sleep)
    pacer.share(budget, scope="app-1")
    with pacer.slot("room@x"):  # draws a block of 100, spends 1
        pass
    clock.now += 600.0  # the ledger no longer counts that block: its rest is not spent
    with pacer.slot("room@x"):
        pass
    assert budget.draws == [100, 100] and clock.slept == []


def test_how_long_a_request_would_wait_is_told_without_spending_budget() -> None:
    clock = ManualClock()
    pacer = Pacer("outlook", 4, 50, 600.0, clock=clock, sleep=clock.sleep)
    with pacer.slot("room@x", cost=40):
        pass
    clock.now += 100.0
    assert pacer.wait_for("ROOM@x", 10) == 0.0
    assert pacer.wait_for("room@x", 11) == 500.0  # until the 40 leave the window
    assert pacer.wait_for("other@x", 50) == 0.0
    with pacer.slot("room@x", cost=10):  # asking took nothing: the 10 still fit
        pass
    assert clock.slept == []
