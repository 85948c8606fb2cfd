"""Deciding what a change at one end means for the other: pure functions over the
source's changes and the mapping's event links, producing an inspectable plan."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from calbridge.bridges.base import ChangeSet, TimeWindow
from calbridge.model import (
    ConflictPolicy,
    End,
    Event,
    EventField,
    EventLink,
    EventStatus,
    OperationKind,
    SyncStatus,
)
from calbridge.sync.fields import changed_since, differing
from calbridge.sync.fingerprint import fingerprint

GONE = (SyncStatus.CANCELLED, SyncStatus.DELETED)


@dataclass
class PlannedOperation:
    """One step of a plan: what to do on the target for one source event, and why (the
    reason names the ends `{source}` and `{target}`, filled in with their bridges)."""

    kind: OperationKind
    reason: str
    source: End
    source_id: str
    event: Event | None = None
    link: EventLink | None = None
    reenable: bool = False
    adopt: bool = False  # the source event is calbridge's own write whose id was never recorded
    reserved: bool = False  # `link` was stored for this run: no copy of it exists anywhere

    @property
    def target(self) -> End:
        return self.source.other

    @property
    def writes(self) -> bool:
        return self.kind is not OperationKind.SKIP


def instant(value: datetime | date) -> datetime:
    """An aware instant for either kind of event time (all-day dates at UTC midnight)."""
    if isinstance(value, datetime):
        return value
    return datetime.combine(value, time(0), tzinfo=UTC)


def overlaps(link: EventLink, window: TimeWindow) -> bool:
    """Whether a linked event lies in a window (unknown times count as inside)."""
    if link.starts_at is None or link.ends_at is None:
        return True
    return link.starts_at < window.end and link.ends_at > window.start


def plan_event(source: End, event: Event, link: EventLink | None,
               adopt: bool = False) -> PlannedOperation:
    """What one changed (or cancelled) source event means for the target."""
    assert event.id is not None
    target = source.other
    cancelled = event.status is EventStatus.CANCELLED

    def op(kind: OperationKind, reason: str, **extra: bool) -> PlannedOperation:
        return PlannedOperation(kind, reason, source, event.id or "", event, link, **extra)

    if link is None:
        if cancelled:
            return op(OperationKind.SKIP, "cancelled, and linked to no copy")
        return op(OperationKind.CREATE, "new in {source}")
    if adopt:
        return op(OperationKind.SKIP, "calbridge's own write, now recorded", adopt=True)
    if link.status in GONE:
        if cancelled:
            return op(OperationKind.SKIP, "already cancelled on both sides")
        if link.event_id(source) == event.id:
            return op(OperationKind.CREATE, "re-enabled in {source}", reenable=True)
        return op(OperationKind.SKIP, "link was closed")
    if cancelled:
        if link.event_id(target) is None:
            return op(OperationKind.SKIP, "cancelled before the copy was made")
        return op(OperationKind.DELETE, "cancelled in {source}")
    if link.status is SyncStatus.CONFLICT:
        return op(OperationKind.SKIP, "waiting for the conflict to be resolved")
    if link.event_id(target) is None:
        return op(OperationKind.CREATE, "no copy in {target} yet")
    if (link.status is SyncStatus.SYNCED
            and fingerprint(event) == link.end(source).fingerprint):
        return op(OperationKind.SKIP, "unchanged since calbridge last saw or wrote it")
    return op(OperationKind.UPDATE, "changed in {source}")


def is_copy_from(event: Event, system: str | None) -> bool:
    """Whether an event says it was copied from an event of bridge `system`."""
    return system is not None and event.origin is not None and event.origin.system == system


def plan_deletion(source: End, source_id: str, link: EventLink | None,
                  reason: str) -> PlannedOperation:
    """What the disappearance of a source event means for the target."""
    if link is None or link.status in GONE:
        return PlannedOperation(OperationKind.SKIP, "not linked, or already closed", source,
                                source_id, link=link)
    if link.event_id(source.other) is None:
        return PlannedOperation(OperationKind.SKIP, "no copy was ever made", source,
                                source_id, link=link)
    return PlannedOperation(OperationKind.DELETE, reason, source, source_id, link=link)


def plan_changes(source: End, changes: ChangeSet, links: list[EventLink],
                 window: TimeWindow, other_system: str | None = None,
                 systems: frozenset[str] = frozenset(),
                 listed: frozenset[str] = frozenset()) -> list[PlannedOperation]:
    """A plan for a mapping's changes on one side. Deletions are inferred from a
    listing only when it was complete, and only for linked events inside its window.
    `other_system` is the bridge at the mapping's other end: a source event that names an
    event there as its origin is a copy of it, never a new event. An unlinked event whose
    origin is an event of another configured bridge (`systems`) is a copy another mapping
    made, and is not copied on (as a marker of another mapping says for systems that keep
    markers). `listed` are ids an earlier part of the same complete listing named."""
    by_source_id = {sid: link for link in links if (sid := link.event_id(source))}
    by_target_id = {tid: link for link in links if (tid := link.event_id(source.other))}
    by_id = {link.id: link for link in links}
    plan: list[PlannedOperation] = []
    seen: set[str] = set()
    for unread, why in changes.unreadable.items():
        # Held by the calendar but not readable as events: left as it is (its copy too),
        # and said so.
        seen.add(unread)
        plan.append(PlannedOperation(OperationKind.SKIP, why, source, unread, None,
                                     by_source_id.get(unread)))
    for event in changes.changed:
        if event.id is None or event.id in seen:
            continue
        seen.add(event.id)
        link = by_source_id.get(event.id)
        adopt = False
        if link is None and (event.marker or is_copy_from(event, other_system)):
            marked = (by_id.get(event.marker) if event.marker
                      else by_target_id.get(event.origin.id if event.origin else ""))
            if marked is None or marked.event_id(source) not in (None, event.id):
                reason = ("a copy calbridge wrote for another link or mapping" if event.marker
                          else f"a copy of an event in {other_system}; linked when that "
                               "event is read")
                plan.append(PlannedOperation(OperationKind.SKIP, reason, source, event.id,
                                             event))
                continue
            link, adopt = marked, True
        elif (link is None and event.origin is not None and event.origin.system in systems
              and event.origin.system != other_system):
            plan.append(PlannedOperation(
                OperationKind.SKIP, f"a copy of an event in {event.origin.system}, made "
                "through another mapping", source, event.id, event))
            continue
        plan.append(plan_event(source, event, link, adopt))
    for deleted_id in changes.deleted:
        if deleted_id in seen:
            continue
        seen.add(deleted_id)
        plan.append(plan_deletion(source, deleted_id, by_source_id.get(deleted_id),
                                  "deleted in {source}"))
    if changes.complete:
        for source_id, link in by_source_id.items():
            # A series' master is never listed (calendar views list its occurrences):
            # whether a series kept as a series, or one of its occurrences, is gone is
            # decided from the master itself (`calbridge.sync.series`).
            if (source_id not in seen and source_id not in listed and overlaps(link, window)
                    and link.item_type != "series" and not link.series_link
                    and not (link.series_end is source
                             and link.series_id in changes.unreadable)):
                operation = plan_deletion(source, source_id, link,
                                          "no longer listed in {source}")
                if operation.writes:
                    plan.append(operation)
    return plan


@dataclass(frozen=True)
class FieldChange:
    """What an update writes: `send` goes from source to target; `owed` are the target's
    own changes that must flow back to the source afterwards; `conflicting` are fields
    changed on both sides (until a policy decides); `lost` the fields whose change lost."""

    send: frozenset[EventField]
    owed: frozenset[EventField]
    conflicting: frozenset[EventField] = frozenset()
    lost: frozenset[EventField] = frozenset()

    def decided(self, source_wins: bool) -> FieldChange:
        """The change once a policy picked a winner for the conflicting fields."""
        if source_wins:
            return FieldChange(self.send, self.owed - self.conflicting,
                               lost=self.conflicting)
        return FieldChange(self.send - self.conflicting, self.owed, lost=self.conflicting)


def plan_fields(link: EventLink, source: End, event: Event, current: Event, *,
                force: bool = False) -> FieldChange:
    """Which fields an update of `current` (the target) from `event` (the source) writes.

    Fields are compared with what each side held when last synced (the link's field
    hashes): a field changed only at the source is sent, one changed only at the target
    is owed back, and one changed on both sides to different values conflicts. Fields
    equal on both sides need nothing; fields that differ only because a system cannot
    carry them (an HTML body, a zone name) are left alone. `force` (an operator chose the
    source) sends every differing field. Links older than field tracking fall back to
    their fingerprints."""
    target = source.other
    differ = differing(event, current)
    if force:
        return FieldChange(send=differ, owed=frozenset())
    from_source = changed_since(event, link.end(source).fields)
    from_target = changed_since(current, link.end(target).fields)
    if from_source is None:
        from_source = differ
    if from_target is None:
        seen = link.end(target).fingerprint
        moved = seen is not None and fingerprint(current) != seen
        from_target = differ if moved else frozenset()
    from_source, from_target = from_source & differ, from_target & differ
    return FieldChange(send=from_source, owed=from_target,
                       conflicting=from_source & from_target)


def conflict_winner(policy: ConflictPolicy, origin: End, source: End,
                    source_modified: datetime | None,
                    target_modified: datetime | None) -> End | None:
    """Which end wins when both changed since the last sync; None: an operator decides."""
    if policy is ConflictPolicy.MANUAL:
        return None
    if policy is ConflictPolicy.A_WINS:
        return End.A
    if policy is ConflictPolicy.B_WINS:
        return End.B
    if policy is ConflictPolicy.NEWEST_WINS and source_modified and target_modified:
        if source_modified != target_modified:
            return source if source_modified > target_modified else source.other
    return origin


@dataclass(frozen=True)
class DeletionBaseline:
    """What a share of deletions from one side is measured against: the pairs that side
    already held when it was last read, and every active pair of the mapping. Pairs are
    counted as a person deletes them (`EventLink.unit`): the occurrences of one series
    are one, so deleting a weekly series is one deletion, not fifty-two."""

    synced: frozenset[str]
    active: int


def deletion_baseline(links: Iterable[EventLink], source: End, read_at: datetime,
                      recently_gone: frozenset[str] = frozenset()) -> DeletionBaseline:
    """The baseline for deletions from `source`: linked pairs created no later than
    `read_at` (when the source was last read), so pairs the other direction made since
    never dilute the share. `recently_gone` are pairs (link ids) already deleted by the
    same burst. `links` is read once, keeping only their units."""
    target = source.other
    synced: set[str] = set()
    active: set[str] = set()
    for link in links:
        if link.status in GONE and link.id not in recently_gone:
            continue
        active.add(link.unit)
        if link.created_at <= read_at and link.event_id(source) and link.event_id(target):
            synced.add(link.unit)
    return DeletionBaseline(synced=frozenset(synced), active=len(active))


def crosses_share(deleted: set[str], baseline: DeletionBaseline, share: float,
                  minimum: int) -> bool:
    """Whether deleting `deleted` (units, see `EventLink.unit`) removes an unusual share:
    of the pairs the source held when last read, or of every active pair (pairs synced
    since that read)."""
    if len(deleted) < minimum:
        return False
    of_synced = len(deleted & baseline.synced)
    return (of_synced > share * max(len(baseline.synced), 1)
            or len(deleted) > share * max(baseline.active, 1))


def deleting(plan: list[PlannedOperation]) -> set[str]:
    """What a plan deletes, as a person counts it (`EventLink.unit`)."""
    return {op.link.unit for op in plan if op.kind is OperationKind.DELETE and op.link}


def mass_deletion(plan: list[PlannedOperation], baseline: DeletionBaseline, share: float,
                  minimum: int) -> bool:
    """Whether a plan deletes an unusual share of a calendar's linked events."""
    return crosses_share(deleting(plan), baseline, share, minimum)
