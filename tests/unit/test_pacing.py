"""Per-mailbox pacing: concurrent slots (a `$batch` holds one per part Graph runs at once)
and the request budget, which counts every part."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from calbridge.bridges.pacing import ConcurrencyGate, Pacer


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_a_batch_holds_a_slot_per_part_up_to_the_limit() -> None:
    gate = ConcurrencyGate(4)
    with gate.hold(3):
        assert gate.in_flight == 3
    with gate.hold(20):
        assert gate.in_flight == 4
    assert gate.in_flight == 0


def test_parallel_batches_never_pass_the_mailbox_limit() -> None:
    gate = ConcurrencyGate(4)
    seen: list[int] = []
    lock = threading.Lock()
    release = threading.Event()

    def batch(width: int) -> None:
        with gate.hold(width):
            with lock:
                seen.append(gate.in_flight)
            release.wait(0.01)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(batch, [4, 1, 3, 2, 4, 1, 1, 2] * 5))
    assert seen and max(seen) <= 4


def test_every_part_of_a_batch_is_one_unit_of_the_budget() -> None:
    clock = Clock()
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
