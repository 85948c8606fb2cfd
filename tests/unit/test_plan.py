"""The planner's decisions, without any I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from calbridge.bridges.base import ChangeSet, TimeWindow
from calbridge.model import (
    ConflictPolicy,
    Event,
    EventLink,
    EventStatus,
    OperationKind,
    Side,
    SyncStatus,
)
from calbridge.sync.fingerprint import fingerprint
from calbridge.sync.plan import conflict_winner, mass_deletion, plan_changes, plan_event

START = datetime(2031, 3, 10, 9, tzinfo=UTC)
WINDOW = TimeWindow(start=START - timedelta(days=30), end=START + timedelta(days=30))


def event(event_id: str = "b1", title: str = "Meeting", **fields: object) -> Event:
    return Event(id=event_id, title=title, start=START, end=START + timedelta(hours=1),
                 **fields)


def synced_link(source_event: Event, **fields: object) -> EventLink:
    link = EventLink(mapping_id="m", origin=Side.BOOKING, booking_id=source_event.id,
                     calendar_event_id="c1", status=SyncStatus.SYNCED,
                     booking_fingerprint=fingerprint(source_event),
                     starts_at=START, ends_at=START + timedelta(hours=1))
    return link.model_copy(update=fields)


def kinds(plan: list) -> list[tuple[str, str]]:
    return [(op.kind.value, op.source_id) for op in plan]


def test_new_unchanged_changed_cancelled() -> None:
    new = event()
    assert plan_event(Side.BOOKING, new, None).kind is OperationKind.CREATE
    assert plan_event(Side.BOOKING, new, synced_link(new)).kind is OperationKind.SKIP
    edited = event(title="Meeting, moved")
    assert plan_event(Side.BOOKING, edited, synced_link(new)).kind is OperationKind.UPDATE
    cancelled = event(status=EventStatus.CANCELLED)
    assert plan_event(Side.BOOKING, cancelled, synced_link(new)).kind is OperationKind.DELETE
    assert plan_event(Side.BOOKING, cancelled, None).kind is OperationKind.SKIP


def test_reenable_and_retry() -> None:
    original = event()
    closed = synced_link(original, status=SyncStatus.CANCELLED)
    op = plan_event(Side.BOOKING, original, closed)
    assert (op.kind, op.reenable) == (OperationKind.CREATE, True)
    failed = synced_link(original, status=SyncStatus.ERROR)
    assert plan_event(Side.BOOKING, original, failed).kind is OperationKind.UPDATE
    no_copy = synced_link(original, calendar_event_id=None, status=SyncStatus.PENDING)
    assert plan_event(Side.BOOKING, original, no_copy).kind is OperationKind.CREATE
    waiting = synced_link(original, status=SyncStatus.CONFLICT)
    assert plan_event(Side.BOOKING, event(title="x"), waiting).kind is OperationKind.SKIP


def test_markers_adopt_our_own_writes_and_skip_foreign_copies() -> None:
    link = EventLink(mapping_id="m", origin=Side.CALENDAR, calendar_event_id="c9",
                     status=SyncStatus.PENDING)
    ours = event("b7", marker=link.id)
    foreign = event("b8", marker="0" * 32)
    plan = plan_changes(Side.BOOKING, ChangeSet(changed=[ours, foreign]), [link], WINDOW)
    assert [(op.kind.value, op.adopt) for op in plan] == [("skip", True), ("skip", False)]


def test_deletions_from_listings_need_a_complete_listing_inside_the_window() -> None:
    here = synced_link(event("b1"))
    far = synced_link(event("b2"), starts_at=START + timedelta(days=90),
                      ends_at=START + timedelta(days=90, hours=1), calendar_event_id="c2")
    partial = ChangeSet(changed=[], complete=False)
    assert plan_changes(Side.BOOKING, partial, [here, far], WINDOW) == []
    complete = ChangeSet(changed=[], complete=True)
    assert kinds(plan_changes(Side.BOOKING, complete, [here, far], WINDOW)) == [
        ("delete", "b1")]
    tombstone = ChangeSet(deleted=["b2"])
    assert kinds(plan_changes(Side.BOOKING, tombstone, [here, far], WINDOW)) == [
        ("delete", "b2")]


@pytest.mark.parametrize(("policy", "source_newer", "winner"), [
    (ConflictPolicy.ORIGIN_WINS, True, Side.CALENDAR),
    (ConflictPolicy.ORIGIN_WINS, False, Side.CALENDAR),
    (ConflictPolicy.NEWEST_WINS, True, Side.BOOKING),
    (ConflictPolicy.NEWEST_WINS, False, Side.CALENDAR),
    (ConflictPolicy.MANUAL, True, None),
])
def test_conflict_winner(policy: ConflictPolicy, source_newer: bool, winner: Side | None) -> None:
    older, newer = START, START + timedelta(minutes=5)
    source_time, target_time = (newer, older) if source_newer else (older, newer)
    assert conflict_winner(policy, Side.CALENDAR, Side.BOOKING, source_time,
                           target_time) is winner


def test_mass_deletion_needs_both_a_count_and_a_share() -> None:
    def plan_of(deletions: int) -> list:
        source = event()
        return [plan_event(Side.BOOKING, event(status=EventStatus.CANCELLED),
                           synced_link(source))] * deletions

    assert mass_deletion(plan_of(10), active_links=40, share=0.2, minimum=10) is True
    assert mass_deletion(plan_of(9), active_links=10, share=0.2, minimum=10) is False
    assert mass_deletion(plan_of(10), active_links=100, share=0.2, minimum=10) is False
