"""Link and operation statistics (`/bridge/stats`)."""

from __future__ import annotations

from typing import Any

from calbridge.bootstrap import Container
from calbridge.model import SyncStatus
from calbridge.store.queues import QUEUES, poison_queue_name
from calbridge.telemetry import QUEUE_DEPTH, record_metric


def bridge_stats(container: Container) -> dict[str, Any]:
    """Links by status and by item type, plus processed operations by kind."""
    by_status, by_type = container.storage.links.counts()
    operations: dict[str, dict[str, int]] = {}
    for (kind, status), count in container.storage.operations.counts().items():
        operations.setdefault(kind, {})[status] = count
    return {
        "total": sum(by_status.values()),
        "summary": {status.value: by_status[status.value] for status in SyncStatus},
        "by_type": {item_type: dict(counts) for item_type, counts in sorted(by_type.items())},
        "operations": operations,
    }


def record_queue_depths(container: Container) -> dict[str, int]:
    """Messages waiting in each work queue and its poison queue, as metrics."""
    depths = {}
    for name in QUEUES:
        for queue in (name, poison_queue_name(name)):
            depths[queue] = container.storage.queue(queue).depth()
            record_metric(QUEUE_DEPTH, depths[queue], queue=queue)
    return depths
