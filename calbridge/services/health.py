"""Bridge health: every bridge's own check, storage, and link counts by status."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from calbridge.bootstrap import Container
from calbridge.bridges.base import BridgeHealth, CalendarBridge
from calbridge.errors import CalbridgeError
from calbridge.model import HoldStatus, SyncStatus
from calbridge.services import subscriptions as push_subscriptions


def _check(bridge: CalendarBridge) -> BridgeHealth:
    try:
        return bridge.health()
    except Exception as exc:  # health() must not raise; a broken adapter is reported
        return BridgeHealth(status="unhealthy", error=f"health check failed: {type(exc).__name__}")


def _bridge_report(health: BridgeHealth, last_sync: str | None) -> dict[str, Any]:
    latency = health.latency_ms
    return {
        "status": health.status,
        "api_accessible": health.status != "unhealthy",
        "authenticated": health.authenticated,
        "last_response_time": f"{latency / 1000:.1f}s" if latency is not None else None,
        "latency_ms": round(latency, 1) if latency is not None else None,
        "calendars_available": health.calendars_available,
        "last_sync": last_sync,
        "error": health.error,
    }


def storage_health(container: Container) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        container.storage.ping()
    except CalbridgeError as exc:
        return {"status": "unhealthy", "error": exc.message}
    return {"status": "healthy", "latency_ms": round((time.perf_counter() - started) * 1000, 1)}


def bridge_health(container: Container) -> tuple[dict[str, Any], bool]:
    """The health report, and whether storage is reachable (else the API answers 503)."""
    bridges = list(container.bridges.values())
    with ThreadPoolExecutor(max_workers=max(1, len(bridges))) as pool:
        checks = list(pool.map(_check, bridges))
    storage = storage_health(container)
    storage_ok = storage["status"] == "healthy"

    last_sync: dict[str, str] = {}
    mappings: dict[str, Any] = {"total": 0, "active": 0}
    resource_mappings: dict[str, Any] = {"total": 0, "active": 0}
    subscriptions: dict[str, Any] = {"total": 0, "expiring": 0, "failing": 0}
    if storage_ok:
        try:
            container.storage.ensure()
            by_status, _ = container.storage.links.counts()
            total = sum(by_status.values())
            gone = by_status[SyncStatus.CANCELLED.value] + by_status[SyncStatus.DELETED.value]
            mappings = {"total": total, "active": total - gone,
                        **{status.value: by_status[status.value] for status in SyncStatus}}
            mappings["errors"] = mappings.pop(SyncStatus.ERROR.value)
            mappings["conflicts"] = mappings.pop(SyncStatus.CONFLICT.value)
            resource_mappings = container.storage.mappings.count()
            subscriptions = push_subscriptions.summary(container)
            for cursor in container.storage.cursors.list():
                if cursor.last_poll_at:
                    stamp = cursor.last_poll_at.isoformat().replace("+00:00", "Z")
                    last_sync[cursor.bridge] = max(last_sync.get(cursor.bridge, ""), stamp)
        except CalbridgeError as exc:
            storage = {"status": "unhealthy", "error": exc.message}
            storage_ok = False

    reports = {bridge.name: _bridge_report(health, last_sync.get(bridge.name))
               for bridge, health in zip(bridges, checks, strict=True)}
    holds = 0
    if storage_ok:
        try:
            holds = len(container.storage.holds.list(HoldStatus.HELD))
        except CalbridgeError:
            holds = 0
    healthy = storage_ok and holds == 0 and all(h.status == "healthy" for h in checks)
    report = {
        "success": storage_ok,
        "status": "healthy" if healthy else ("degraded" if storage_ok else "unhealthy"),
        "bridges": reports,
        "storage": storage,
        "mappings": mappings,
        "resource_mappings": resource_mappings,
        # Mass deletions waiting for an operator (GET /bridge/holds).
        "holds": holds,
        # Push subscriptions: total, expiring, failing (renewal timer status).
        "subscriptions": subscriptions,
    }
    return report, storage_ok
