"""Bridge health: every bridge's own check, storage, link counts by status, and the
mappings that cannot be synced."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from calbridge.bootstrap import Container
from calbridge.bridges.base import BridgeHealth, CalendarBridge
from calbridge.errors import CalbridgeError
from calbridge.model import HoldStatus, ResourceMapping, SyncStatus
from calbridge.services import mappings as mapping_state
from calbridge.services import subscriptions as push_subscriptions

# Runs in a row that must fail before a mapping is reported: one failure may be a blip.
REPEATED_FAILURES = 2


def _check(bridge: CalendarBridge) -> BridgeHealth:
    try:
        return bridge.health()
    except Exception as exc:  # health() must not raise; a broken adapter is reported
        return BridgeHealth(status="unhealthy", error=f"health check failed: {type(exc).__name__}")


def _bridge_report(health: BridgeHealth, last_sync: str | None) -> dict[str, Any]:
    latency = health.latency_ms
    webhooks = {"webhooks": health.webhooks} if health.webhooks else {}
    return {
        "status": health.status,
        "api_accessible": health.status != "unhealthy",
        "authenticated": health.authenticated,
        "last_response_time": f"{latency / 1000:.1f}s" if latency is not None else None,
        "latency_ms": round(latency, 1) if latency is not None else None,
        "calendars_available": health.calendars_available,
        "last_sync": last_sync,
        "error": health.error,
        **webhooks,
    }


def unsyncable(container: Container, healthy_bridges: set[str]) -> list[dict[str, Any]]:
    """Active mappings that cannot be synced: a calendar a bridge says does not exist, or
    runs failing again and again. Mappings not verified yet are checked first, when their
    bridges answer their own health check."""
    found = []
    for mapping in container.storage.mappings.list(active=True):
        if mapping.verified is not True and {mapping.a.bridge,
                                             mapping.b.bridge} <= healthy_bridges:
            mapping = mapping_state.recheck(container, mapping)
        problem = _problem(mapping)
        if problem is not None:
            found.append(problem)
    return found


def _problem(mapping: ResourceMapping) -> dict[str, Any] | None:
    # Both ends, and the guide's names for them (its booking end is `a`).
    row = {"resource_mapping_id": mapping.id, "a": mapping.a.model_dump(),
           "b": mapping.b.model_dump(), "resource_id": mapping.a.calendar_id,
           "calendar_system": mapping.b.bridge, "calendar_resource_id": mapping.b.calendar_id}
    if mapping.missing_end is not None:
        missing = mapping.end(mapping.missing_end)
        return {**row, "reason": "calendar_missing", "end": mapping.missing_end.value,
                "bridge": missing.bridge, "calendar_id": missing.calendar_id,
                "error": mapping.verification_error}
    failure = mapping.last_failure
    if failure is not None and mapping.failed_runs >= REPEATED_FAILURES:
        return {**row, "reason": "failing", "end": failure.side.value,
                "bridge": failure.bridge, "calendar_id": failure.calendar_id,
                "error": failure.error, "failed_runs": mapping.failed_runs,
                "last_failed_at": failure.at}
    return None


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
    failing: list[dict[str, Any]] = []
    if storage_ok:
        try:
            by_status, _ = container.storage.links.counts()
            total = sum(by_status.values())
            gone = by_status[SyncStatus.CANCELLED.value] + by_status[SyncStatus.DELETED.value]
            mappings = {"total": total, "active": total - gone,
                        **{status.value: by_status[status.value] for status in SyncStatus}}
            mappings["errors"] = mappings.pop(SyncStatus.ERROR.value)
            mappings["conflicts"] = mappings.pop(SyncStatus.CONFLICT.value)
            resource_mappings = container.storage.mappings.count()
            failing = unsyncable(container, {bridge.name for bridge, health
                                             in zip(bridges, checks, strict=True)
                                             if health.status == "healthy"})
            resource_mappings["unsyncable"] = len(failing)
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
    for problem in failing:
        report_of = reports.get(problem["bridge"])
        if report_of is None:
            continue
        # The system answers, but a mapping's calendar in it cannot be synced.
        if report_of["status"] == "healthy":
            report_of["status"] = "degraded"
        report_of.setdefault("unsyncable_mappings", []).append(problem["resource_mapping_id"])
    holds = 0
    if storage_ok:
        try:
            holds = len(container.storage.holds.list(HoldStatus.HELD))
        except CalbridgeError:
            holds = 0
    healthy = (storage_ok and holds == 0 and not failing
               and all(h.status == "healthy" for h in checks))
    report = {
        "success": storage_ok,
        "status": "healthy" if healthy else ("degraded" if storage_ok else "unhealthy"),
        "bridges": reports,
        "storage": storage,
        "mappings": mappings,
        "resource_mappings": resource_mappings,
        # Mappings that cannot be synced, each with its end and what its system said.
        "unsyncable_mappings": failing,
        # Mass deletions waiting for an operator (GET /bridge/holds).
        "holds": holds,
        # Push subscriptions: total, expiring, failing (renewal timer status).
        "subscriptions": subscriptions,
    }
    return report, storage_ok
