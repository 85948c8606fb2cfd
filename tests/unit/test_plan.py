"""The planner's decisions, without any I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from calbridge.bridges.base import ChangeSet, TimeWindow
from calbridge.model import (
    ConflictPolicy,
    End,
    Event,
    EventField,
    EventLink,
    EventOrigin,
    EventStatus,
    OperationKind,
    SyncStatus,
)
from calbridge.sync.fields import changed_since, field_hashes, merged_hashes
from calbridge.sync.fingerprint import fingerprint
from calbridge.sync.plan import (
    FieldChange,
    conflict_winner,
    deletion_baseline,
    mass_deletion,
    plan_changes,
    plan_event,
    plan_fields,
)

START = datetime(2031, 3, 10, 9, tzinfo=UTC)
WINDOW = TimeWindow(start=START - timedelta(days=30), end=START + timedelta(days=30))


def event(event_id: str = "b1", title: str = "Meeting", **fields: object) -> Event:
    return Event(id=event_id, title=title, start=START, end=START + timedelta(hours=1),
                 **fields)


def synced_link(source_event: Event, **fields: object) -> EventLink:
    """A synced link from end `a` (given in the stored, per-role form)."""
    values = {"mapping_id": "m", "origin": End.A, "booking_id": source_event.id,
              "calendar_event_id": "c1", "status": SyncStatus.SYNCED,
              "booking_fingerprint": fingerprint(source_event),
              "starts_at": START, "ends_at": START + timedelta(hours=1)}
    return EventLink.model_validate({**values, **fields})


def kinds(plan: list) -> list[tuple[str, str]]:
    return [(op.kind.value, op.source_id) for op in plan]


def test_new_unchanged_changed_cancelled() -> None:
    new = event()
    assert plan_event(End.A, new, None).kind is OperationKind.CREATE
    assert plan_event(End.A, new, synced_link(new)).kind is OperationKind.SKIP
    edited = event(title="Meeting, moved")
    assert plan_event(End.A, edited, synced_link(new)).kind is OperationKind.UPDATE
    cancelled = event(status=EventStatus.CANCELLED)
    assert plan_event(End.A, cancelled, synced_link(new)).kind is OperationKind.DELETE
    assert plan_event(End.A, cancelled, None).kind is OperationKind.SKIP


def test_reenable_and_retry() -> None:
    original = event()
    closed = synced_link(original, status=SyncStatus.CANCELLED)
    op = plan_event(End.A, original, closed)
    assert (op.kind, op.reenable) == (OperationKind.CREATE, True)
    failed = synced_link(original, status=SyncStatus.ERROR)
    assert plan_event(End.A, original, failed).kind is OperationKind.UPDATE
    no_copy = synced_link(original, calendar_event_id=None, status=SyncStatus.PENDING)
    assert plan_event(End.A, original, no_copy).kind is OperationKind.CREATE
    waiting = synced_link(original, status=SyncStatus.CONFLICT)
    assert plan_event(End.A, event(title="x"), waiting).kind is OperationKind.SKIP


def test_markers_adopt_our_own_writes_and_skip_foreign_copies() -> None:
    link = EventLink(mapping_id="m", origin=End.B, calendar_event_id="c9",
                     status=SyncStatus.PENDING)
    ours = event("b7", marker=link.id)
    foreign = event("b8", marker="0" * 32)
    plan = plan_changes(End.A, ChangeSet(changed=[ours, foreign]), [link], WINDOW)
    assert [(op.kind.value, op.adopt) for op in plan] == [("skip", True), ("skip", False)]


def test_deletions_from_listings_need_a_complete_listing_inside_the_window() -> None:
    here = synced_link(event("b1"))
    far = synced_link(event("b2"), starts_at=START + timedelta(days=90),
                      ends_at=START + timedelta(days=90, hours=1), calendar_event_id="c2")
    partial = ChangeSet(changed=[], complete=False)
    assert plan_changes(End.A, partial, [here, far], WINDOW) == []
    complete = ChangeSet(changed=[], complete=True)
    assert kinds(plan_changes(End.A, complete, [here, far], WINDOW)) == [
        ("delete", "b1")]
    tombstone = ChangeSet(deleted=["b2"])
    assert kinds(plan_changes(End.A, tombstone, [here, far], WINDOW)) == [
        ("delete", "b2")]


@pytest.mark.parametrize(("policy", "source_newer", "winner"), [
    (ConflictPolicy.ORIGIN_WINS, True, End.B),
    (ConflictPolicy.ORIGIN_WINS, False, End.B),
    (ConflictPolicy.NEWEST_WINS, True, End.A),
    (ConflictPolicy.NEWEST_WINS, False, End.B),
    (ConflictPolicy.MANUAL, True, None),
])
def test_conflict_winner(policy: ConflictPolicy, source_newer: bool, winner: End | None) -> None:
    older, newer = START, START + timedelta(minutes=5)
    source_time, target_time = (newer, older) if source_newer else (older, newer)
    assert conflict_winner(policy, End.B, End.A, source_time,
                           target_time) is winner


def synced_pairs(count: int, created: datetime) -> list[EventLink]:
    return [EventLink(mapping_id="m", origin=End.A, booking_id=f"b{n}",
                      calendar_event_id=f"c{n}", status=SyncStatus.SYNCED, created_at=created)
            for n in range(count)]


def deleting(links: list[EventLink]) -> list:
    return [plan_event(End.A, event(link.a.event_id or "", status=EventStatus.CANCELLED),
                       link) for link in links]


def test_mass_deletion_needs_both_a_count_and_a_share() -> None:
    def held(deletions: int, links: int) -> bool:
        pairs = synced_pairs(links, START)
        baseline = deletion_baseline(pairs, End.A, START)
        return mass_deletion(deleting(pairs[:deletions]), baseline, share=0.2, minimum=10)

    assert held(10, 40) is True
    assert held(9, 10) is False
    assert held(10, 100) is False


def test_pairs_made_after_the_last_read_do_not_dilute_the_share() -> None:
    before = synced_pairs(30, START)
    after = [EventLink.model_validate({**link.model_dump(), "id": f"new{n}",
                                       "a": {"event_id": f"nb{n}"},
                                       "created_at": START + timedelta(minutes=1)})
             for n, link in enumerate(synced_pairs(300, START))]
    baseline = deletion_baseline(before + after, End.A, START)
    assert (len(baseline.synced), baseline.active) == (30, 330)
    assert mass_deletion(deleting(before[:10]), baseline, share=0.2, minimum=10) is True
    assert mass_deletion(deleting(before[:6]), baseline, share=0.2, minimum=1) is False
    # Pairs made since the read still count against every active link (as before).
    assert mass_deletion(deleting(after[:70]), baseline, share=0.2, minimum=10) is True
    assert mass_deletion(deleting(after[:60]), baseline, share=0.2, minimum=10) is False


def test_the_baseline_counts_only_pairs_with_both_ends() -> None:
    pairs = synced_pairs(4, START)
    pairs[0].b.event_id = None
    pairs[1].status = SyncStatus.CANCELLED
    baseline = deletion_baseline(pairs, End.A, START)
    assert baseline.synced == {pairs[2].id, pairs[3].id} and baseline.active == 3
    burst = deletion_baseline(pairs, End.A, START, recently_gone=frozenset({pairs[1].id}))
    assert burst.synced == {pairs[1].id, pairs[2].id, pairs[3].id} and burst.active == 4


# ------------------------------------------------------------------ field by field


def in_step(booking: Event, calendar: Event) -> EventLink:
    """A link recording both sides as they were when last synced."""
    return synced_link(booking, calendar_fingerprint=fingerprint(calendar),
                       booking_fields=field_hashes(booking),
                       calendar_fields=field_hashes(calendar))


def test_only_the_fields_changed_at_the_source_are_sent() -> None:
    before = event(description="Agenda")
    # The copy's description reads differently (an HTML body flattened): never resent.
    copy = event("c1", description="Agenda\n\nsent from Outlook")
    link = in_step(before, copy)
    renamed = before.model_copy(update={"title": "Meeting (moved)",
                                        "start": START + timedelta(hours=1),
                                        "end": START + timedelta(hours=2)})
    change = plan_fields(link, End.A, renamed, copy)
    assert change.send == {EventField.TITLE, EventField.WHEN}
    assert (change.owed, change.conflicting) == (frozenset(), frozenset())


def test_target_changes_are_owed_back_and_same_field_edits_conflict() -> None:
    before, copy = event(), event("c1")
    link = in_step(before, copy)
    source = before.model_copy(update={"title": "Booking title", "location": "Hall"})
    target = copy.model_copy(update={"title": "Outlook title", "description": "Notes"})
    change = plan_fields(link, End.A, source, target)
    assert change.send == {EventField.TITLE, EventField.LOCATION}
    assert change.owed == {EventField.TITLE, EventField.DESCRIPTION}
    assert change.conflicting == {EventField.TITLE}
    source_wins = change.decided(source_wins=True)
    assert (source_wins.send, source_wins.owed, source_wins.lost) == (
        {EventField.TITLE, EventField.LOCATION}, {EventField.DESCRIPTION}, {EventField.TITLE})
    target_wins = change.decided(source_wins=False)
    assert (target_wins.send, target_wins.owed, target_wins.lost) == (
        {EventField.LOCATION}, {EventField.TITLE, EventField.DESCRIPTION}, {EventField.TITLE})


def test_the_same_edit_on_both_sides_is_no_conflict() -> None:
    before, copy = event(), event("c1")
    link = in_step(before, copy)
    same = {"title": "Renamed on both sides"}
    change = plan_fields(link, End.A, before.model_copy(update=same),
                         copy.model_copy(update=same))
    assert change == FieldChange(send=frozenset(), owed=frozenset())


def test_links_without_field_hashes_fall_back_to_fingerprints() -> None:
    before, copy = event(), event("c1")
    link = synced_link(before, calendar_fingerprint=fingerprint(copy))
    renamed = before.model_copy(update={"title": "New"})
    assert plan_fields(link, End.A, renamed, copy).send == {EventField.TITLE}
    edited = copy.model_copy(update={"title": "Other"})
    assert plan_fields(link, End.A, renamed, edited).conflicting == {EventField.TITLE}
    # An operator's choice sends every differing field.
    assert plan_fields(link, End.A, renamed, edited, force=True).send == {
        EventField.TITLE}


@given(st.sets(st.sampled_from(list(EventField)), max_size=3),
       st.sets(st.sampled_from(list(EventField)), max_size=3))
def test_merged_hashes_keep_owed_changes_visible(sent: set[EventField],
                                                owed: set[EventField]) -> None:
    before = event(title="A", location="L", description="D")
    written = event(title="B", location="M", description="E")
    stored = merged_hashes(field_hashes(before), written, sent, owed)
    still_changed = changed_since(written, stored) or frozenset()
    visible = {f for f in owed - sent if field_hashes(before)[f] != field_hashes(written)[f]}
    assert still_changed == visible


def test_a_copy_another_mapping_made_is_never_copied_on() -> None:
    # A booking calbridge made from a Google event (its origin), read by the booking ↔
    # Outlook mapping: Google reaches Outlook through its own mapping, not through this one.
    from_google = event("b7", origin=EventOrigin(system="google_calendar", id="g1"))
    from_elsewhere = event("b8", origin=EventOrigin(system="front-desk", id="42"))
    plan = plan_changes(End.A, ChangeSet(changed=[from_google, from_elsewhere]), [], WINDOW,
                        "outlook", frozenset({"booking_system", "outlook", "google_calendar"}))
    assert kinds(plan) == [("skip", "b7"), ("create", "b8")]
    assert "another mapping" in plan[0].reason


def test_an_occurrence_is_known_by_its_original_instant_whatever_zone_names_it() -> None:
    from zoneinfo import ZoneInfo

    from calbridge.model import EventKind
    from calbridge.sync.series import occurrence_key
    oslo = START.astimezone(ZoneInfo("Europe/Oslo"))
    ours = event("o1", kind=EventKind.OCCURRENCE, series_id="s", original_start=START)
    theirs = event("o2", kind=EventKind.OCCURRENCE, series_id="t", original_start=oslo)
    assert occurrence_key(ours) == occurrence_key(theirs)
