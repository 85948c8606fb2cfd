"""Remembered webhook deliveries against Azurite: of many workers given the same delivery
exactly one accepts it, a claim lasts for its window only, and old claims are swept."""

from __future__ import annotations

import threading
from datetime import timedelta

from calbridge.model import utcnow
from calbridge.store import Storage
from calbridge.store.deliveries import DeliveryRecord


def record(delivery_id: str, *, minutes: float = 5, bridge: str = "booking_system",
           at_minutes: float = 0) -> DeliveryRecord:
    received = utcnow() + timedelta(minutes=at_minutes)
    return DeliveryRecord(bridge=bridge, delivery_id=delivery_id, received_at=received,
                          expires_at=received + timedelta(minutes=minutes))


def test_of_workers_claiming_one_delivery_at_once_exactly_one_wins(storage: Storage) -> None:
    start = threading.Barrier(8)
    results: list[bool] = []
    lock = threading.Lock()

    def claim() -> None:
        start.wait()
        won = storage.deliveries.claim(record("race"))
        with lock:
            results.append(won)

    workers = [threading.Thread(target=claim) for _ in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    assert sorted(results) == [False] * 7 + [True]


def test_a_claim_lasts_for_its_window_and_is_per_bridge(storage: Storage) -> None:
    assert storage.deliveries.claim(record("d-1"))
    assert not storage.deliveries.claim(record("d-1"))
    assert storage.deliveries.claim(record("d-1", bridge="other_bookings"))
    # Ten minutes on, a replay of d-1 is refused by its signature's timestamp anyway;
    # the same id signed anew is accepted once more.
    later = record("d-1", at_minutes=10)
    assert storage.deliveries.claim(later)
    assert not storage.deliveries.claim(record("d-1", at_minutes=11))


def test_a_released_claim_can_be_taken_again(storage: Storage) -> None:
    assert storage.deliveries.claim(record("d-2"))
    storage.deliveries.release("booking_system", "d-2")
    assert storage.deliveries.claim(record("d-2"))


def test_expired_claims_are_forgotten_and_live_ones_kept(storage: Storage) -> None:
    storage.deliveries.claim(record("old", minutes=-1))
    storage.deliveries.claim(record("live", minutes=5))
    assert storage.deliveries.forget_expired() == 1
    assert not storage.deliveries.claim(record("live"))
    assert storage.deliveries.forget_expired() == 0
