"""The metrics operators watch: queue depth, webhook delay, sync operations."""

from __future__ import annotations

from datetime import timedelta

import pytest

from calbridge.model import SyncWork, utcnow
from calbridge.services import stats, webhooks
from calbridge.sync import engine
from calbridge.telemetry import QUEUE_DEPTH, SYNC_OPERATIONS, WEBHOOK_DELAY
from tests.fixtures.sync import CALENDAR, SyncWorld


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, float, dict]]:
    seen: list[tuple[str, float, dict]] = []

    def record(name: str, value: float, **dimensions: object) -> None:
        seen.append((name, value, dimensions))

    for module in (stats, webhooks, engine):
        monkeypatch.setattr(module, "record_metric", record)
    return seen


def test_queue_depths_are_measured(world: SyncWorld, recorded: list) -> None:
    queue = world.storage.queue("notifications")
    before = queue.depth()
    queue.send(SyncWork(mapping_id=world.mapping.id, source="calendar", source_id="x"))
    depths = stats.record_queue_depths(world.container)
    assert depths["notifications"] == before + 1
    assert set(depths) == {"sync-work", "sync-work-poison", "notifications",
                           "notifications-poison"}
    assert (QUEUE_DEPTH, before + 1, {"queue": "notifications"}) in recorded
    queue.client.clear_messages()


def test_webhook_delay_and_operations_are_recorded(world: SyncWorld, recorded: list) -> None:
    event = world.outlook.user_create(CALENDAR, "Pushed")
    notice = webhooks.PushNotice(bridge="outlook", calendar_id=CALENDAR, event_id=event.id,
                                 change_type="created",
                                 received_at=utcnow() - timedelta(seconds=2))
    [outcome] = webhooks.process(world.container, notice)
    assert outcome.status == "completed"
    delays = [value for name, value, _ in recorded if name == WEBHOOK_DELAY]
    assert len(delays) == 1 and 2 <= delays[0] < 30
    assert (SYNC_OPERATIONS, 1, {"operation": "create", "status": "completed",
                                 "bridge": "booking_system"}) in recorded
