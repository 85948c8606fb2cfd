"""What operators decide: conflicts (which end wins) and mass-deletion holds
(confirm the deletions, or reject them and restore the copies)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from calbridge.bootstrap import Container
from calbridge.errors import AlreadyExists, CalbridgeError, NotFound
from calbridge.model import (
    DeletionHold,
    End,
    EventLink,
    EventStatus,
    HoldStatus,
    OperationKind,
    ResourceMapping,
    SyncStatus,
    utcnow,
)
from calbridge.sync.engine import SyncEngine
from calbridge.sync.outcome import Outcome
from calbridge.sync.plan import PlannedOperation, plan_deletion


class ConflictResolution(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # `a` or `b` (the guide's `booking` and `calendar` name ends `a` and `b`).
    winner: End


def _conflict(engine: SyncEngine, mapping: ResourceMapping | None, link: EventLink) -> dict:
    """A link in conflict with both ends' current versions (as each system has it now)."""
    versions: dict[str, object] = {}
    if mapping is not None:
        ends = engine.ends(mapping)
        for end in End:
            event_id = link.event_id(end)
            try:
                event = (ends.bridges[end].get_event(ends.calendar(end), event_id)
                         if event_id else None)
            except CalbridgeError as exc:
                versions[end.value] = {"error": exc.message}
                continue
            versions[end.value] = None if event is None else {
                "system": ends.system(end), "id": event.id, "title": event.title,
                "start": event.start, "end": event.end, "location": event.location,
                "last_modified": event.last_modified}
    return {"id": link.id, "resource_mapping_id": link.mapping_id,
            "origin": link.origin.value, "title": link.title,
            "fields": link.last_error, "detected_at": link.updated_at,
            "versions": versions}


def list_conflicts(container: Container) -> list[dict]:
    """Links changed at both ends under the `manual` policy, with both versions."""
    engine = SyncEngine.for_container(container)
    mappings = {m.id: m for m in container.storage.mappings.list()}
    return [_conflict(engine, mappings.get(link.mapping_id), link)
            for link in container.storage.links.list(status=SyncStatus.CONFLICT)]


def get_conflict(container: Container, link_id: str) -> dict:
    """One open conflict with both versions; `NotFound` when the link is not in conflict."""
    link = container.storage.links.find_by_id(link_id)
    if link.status is not SyncStatus.CONFLICT:
        raise NotFound(f"event link {link_id!r} is not in conflict "
                       f"(status {link.status.value})")
    mapping = container.storage.mappings.get(link.mapping_id)
    return _conflict(SyncEngine.for_container(container), mapping, link)


def resolved_conflicts(container: Container, limit: int = 200) -> list[dict]:
    """Conflicts the mapping's policy decided, newest first: which fields, the value kept
    and the value that lost, so a losing edit can be found and made again."""
    found, token = [], None
    while len(found) < limit:
        page, token = container.storage.operations.page(
            operation=OperationKind.CONFLICT.value, limit=min(100, limit - len(found)),
            continuation=token)
        found += [{"id": op.link_id, "resource_mapping_id": op.mapping_id,
                   "status": "resolved", "decided_at": op.at,
                   "external_id": op.external_id, "internal_id": op.internal_id,
                   "conflict": op.conflict.model_dump(mode="json") if op.conflict else None}
                  for op in page]
        if not token:
            break
    return found


def resolve_conflict(container: Container, link_id: str, winner: End) -> Outcome:
    """Write the winning end's current version over the other end."""
    link = container.storage.links.find_by_id(link_id)
    if link.status is not SyncStatus.CONFLICT:
        raise AlreadyExists(f"event link {link_id!r} is not in conflict "
                            f"(status {link.status.value})")
    engine = SyncEngine.for_container(container)
    mapping = container.storage.mappings.get(link.mapping_id)
    ends = engine.ends(mapping)
    source_id = link.event_id(winner) or ""
    reason = f"conflict resolved: {ends.system(winner)} ({winner.value}) wins"
    event = ends.bridges[winner].get_event(ends.calendar(winner), source_id)
    if event is None or event.status is EventStatus.CANCELLED:
        link.status = SyncStatus.SYNCED  # lets the deletion plan proceed
        op = plan_deletion(winner, source_id, link, reason)
    elif link.event_id(winner.other) is None:
        op = PlannedOperation(OperationKind.CREATE, reason, winner, source_id, event, link)
    else:
        op = PlannedOperation(OperationKind.UPDATE, reason, winner, source_id, event, link)
    return engine.apply(ends, op, force=True)


def list_holds(container: Container, status: HoldStatus | None = HoldStatus.HELD
               ) -> list[DeletionHold]:
    return container.storage.holds.list(status)


def _decide(container: Container, hold_id: str, status: HoldStatus) -> DeletionHold:
    hold = container.storage.holds.get(hold_id)
    if hold.status is not HoldStatus.HELD:
        raise AlreadyExists(f"deletion hold {hold_id!r} was already {hold.status.value}")
    hold.status, hold.decided_at = status, utcnow()
    return container.storage.holds.update(hold)  # EtagConflict if decided concurrently


def confirm_hold(container: Container, hold_id: str) -> tuple[DeletionHold, list[Outcome]]:
    """Carry out the held deletions (each re-checked against the source first)."""
    hold = _decide(container, hold_id, HoldStatus.CONFIRMED)
    engine = SyncEngine.for_container(container)
    mapping = container.storage.mappings.get(hold.mapping_id)
    outcomes = []
    for link_id in hold.link_ids:
        try:
            link = container.storage.links.get(mapping.id, link_id)
        except CalbridgeError:
            continue
        outcomes.append(engine.sync_event(mapping, hold.source,
                                          link.event_id(hold.source) or "",
                                          "confirmed mass deletion", guard=False))
    return hold, outcomes


def reject_hold(container: Container, hold_id: str) -> tuple[DeletionHold, list[Outcome]]:
    """The deletions were a mistake: re-create the missing events from the copies."""
    hold = _decide(container, hold_id, HoldStatus.REJECTED)
    engine = SyncEngine.for_container(container)
    mapping = container.storage.mappings.get(hold.mapping_id)
    survivor = hold.source.other
    outcomes = []
    for link_id in hold.link_ids:
        try:
            link = container.storage.links.get(mapping.id, link_id)
            link.set_event_id(hold.source, None)
            link.end(hold.source).fingerprint = link.end(hold.source).fields = None
            link.status, link.pending_end = SyncStatus.PENDING, survivor
            # A fresh copy needs a fresh idempotency key: the first one may still name
            # the deleted (cancelled) event.
            link.generation += 1
            link = container.storage.links.update(link)
            if link.item_type == "series":
                # The restored series gets occurrences of its own: they pair up afresh.
                for pair in container.storage.links.list(mapping.id):
                    if pair.series_link == link.id:
                        container.storage.links.delete(pair)
            outcomes += engine.sync_item(mapping, survivor, link.event_id(survivor) or "",
                                         "restored after a rejected mass deletion")
        except CalbridgeError:
            continue
    return hold, outcomes
