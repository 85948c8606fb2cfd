"""The sync engine's rules, one scenario each, over Azurite and in-memory calendars."""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta

import pytest

from calbridge.bridges.base import Capabilities
from calbridge.errors import StorageUnavailable
from calbridge.functions.results import deletion_results, results_block, run_results
from calbridge.model import (
    ConflictPolicy,
    End,
    EventField,
    EventLink,
    EventStatus,
    HoldStatus,
    Person,
    SyncStatus,
    SyncWork,
)
from calbridge.services import decisions, guide, sync
from calbridge.store.queues import MAX_MESSAGE_BYTES
from calbridge.sync.engine import OVER_BUDGET
from calbridge.sync.plan import plan_deletion, plan_event
from tests.fixtures.sync import (
    CALENDAR,
    ROOM,
    SyncWorld,
    dies_after_the_pending_links,
    make_world,
    queued_work,
)


def statuses(outcomes: list) -> list[tuple[str, str]]:
    return [(o.operation.value, o.status) for o in outcomes if o.status != "skipped"]


def only_link(world: SyncWorld):
    links = world.storage.links.list(world.mapping.id)
    assert len(links) == 1
    return links[0]


def test_a_booking_reaches_outlook_once(world: SyncWorld) -> None:
    booking = world.booking.user_create(ROOM, "Council meeting")
    assert statuses(world.to_outlook()) == [("create", "completed")]
    [copy] = world.outlook.live(CALENDAR)
    assert copy.title == "Council meeting" and copy.start == booking.start
    link = only_link(world)
    assert (link.status, link.a.event_id, link.b.event_id) == (
        SyncStatus.SYNCED, booking.id, copy.id)
    assert copy.marker == link.id
    assert statuses(world.to_outlook()) == []
    assert statuses(world.to_booking()) == []  # the copy comes back as an echo
    assert len(world.booking.live(ROOM)) == 1


def test_an_outlook_edit_flows_back_without_ping_pong(world: SyncWorld) -> None:
    booking = world.booking.user_create(ROOM, "Choir practice")
    world.both()
    [copy] = world.outlook.live(CALENDAR)
    world.outlook.user_edit(CALENDAR, copy.id, "Choir practice (moved)")
    assert statuses(world.to_booking()) == [("update", "completed")]
    assert world.booking.events[ROOM][booking.id].title == "Choir practice (moved)"
    writes = (world.booking.writes, world.outlook.writes)
    for _ in range(3):
        assert statuses(world.both()) == []
    assert (world.booking.writes, world.outlook.writes) == writes


def test_an_outlook_born_event_becomes_one_booking(world: SyncWorld) -> None:
    event = world.outlook.user_create(CALENDAR, "Walk-in meeting")
    assert statuses(world.to_booking()) == [("create", "completed")]
    [booking] = world.booking.live(ROOM)
    assert booking.title == "Walk-in meeting" and booking.marker == only_link(world).id
    assert only_link(world).origin is End.B
    assert statuses(world.both()) == []
    assert [e.id for e in world.outlook.live(CALENDAR)] == [event.id]


def test_cancel_then_reenable_makes_a_fresh_outlook_event(world: SyncWorld) -> None:
    booking = world.booking.user_create(ROOM, "Yoga")
    world.both()
    [first_copy] = world.outlook.live(CALENDAR)
    world.booking.user_delete(ROOM, booking.id)  # active = false
    assert statuses(world.to_outlook()) == [("delete", "completed")]
    assert world.outlook.live(CALENDAR) == []
    assert only_link(world).status is SyncStatus.CANCELLED
    assert statuses(world.both()) == []

    world.booking.user_reenable(ROOM, booking.id)
    assert statuses(world.to_outlook()) == [("create", "completed")]
    [second_copy] = world.outlook.live(CALENDAR)
    assert second_copy.id != first_copy.id
    link = only_link(world)
    assert (link.status, link.b.event_id) == (SyncStatus.SYNCED, second_copy.id)
    assert statuses(world.both()) == []


def test_deleting_the_outlook_copy_cancels_the_booking(world: SyncWorld) -> None:
    booking = world.booking.user_create(ROOM, "Book club")
    world.both()
    [copy] = world.outlook.live(CALENDAR)
    world.outlook.user_delete(CALENDAR, copy.id)
    assert statuses(world.to_booking()) == [("delete", "completed")]
    assert world.booking.events[ROOM][booking.id].status is EventStatus.CANCELLED
    assert statuses(world.both()) == []


def test_a_create_whose_answer_was_lost_is_not_duplicated(world: SyncWorld) -> None:
    world.booking.user_create(ROOM, "Retried")
    world.outlook.lose_next = 1
    assert statuses(world.to_outlook()) == [("create", "failed")]
    link = only_link(world)
    assert link.status is SyncStatus.ERROR
    # The copy that was made shows up in Outlook carrying the link's marker: it is
    # adopted, not copied back.
    assert statuses(world.both()) == []
    assert only_link(world).b.event_id == world.outlook.live(CALENDAR)[0].id
    outcomes = sync.process_pending(world.container,
                                    now=link.next_attempt_at + timedelta(seconds=1))
    assert statuses(outcomes) == [("update", "completed")]
    assert [e.title for e in world.outlook.live(CALENDAR)] == ["Retried"]
    assert only_link(world).status is SyncStatus.SYNCED


def test_a_lost_create_retried_before_the_copy_is_seen_looks_it_up(world: SyncWorld) -> None:
    world.booking.user_create(ROOM, "Retried")
    world.outlook.lose_next = 1
    world.to_outlook()
    link = only_link(world)
    outcomes = sync.process_pending(world.container,
                                    now=link.next_attempt_at + timedelta(seconds=1))
    assert statuses(outcomes) == [("create", "completed")]
    assert [e.title for e in world.outlook.live(CALENDAR)] == ["Retried"]
    assert world.outlook.writes == 2  # the create, then an update of the same event


def failed_once(azurite) -> tuple[SyncWorld, EventLink]:
    """A world whose only booking failed to reach Outlook once (2 attempts allowed)."""
    world = make_world(azurite, CALBRIDGE_MAX_ATTEMPTS="2")
    world.booking.user_create(ROOM, "Unlucky")
    world.outlook.fail_next = 100
    world.to_outlook()
    link = only_link(world)
    return world, link


def test_retries_not_begun_within_the_time_budget_stay_due_for_the_next_run(azurite) -> None:
    world, _ = failed_once(azurite)
    world.outlook.fail_next = 0
    late = sync.process_pending(world.container, manual=True, deadline=time.monotonic())
    assert statuses(late) == [("skip", "waiting")]
    assert late[0].reason == "the run's time budget is spent: retried by the next run"
    assert world.outlook.live(CALENDAR) == []
    assert only_link(world).status is SyncStatus.ERROR  # still due, nothing given up
    assert statuses(sync.process_pending(world.container, manual=True,
                                         deadline=time.monotonic() + 60)) == [
        ("create", "completed")]
    assert [e.title for e in world.outlook.live(CALENDAR)] == ["Unlucky"]


def test_a_guide_re_run_retries_only_within_its_time_budget(azurite, monkeypatch) -> None:
    """`POST /sync/to-outlook` retries failed items after its run: those not begun within
    the request's budget stay due for the next run, as `/bridge/process-pending` leaves
    them."""
    world = make_world(azurite, CALBRIDGE_MAX_ATTEMPTS="5")
    world.booking.capabilities = Capabilities(delta=True, bookings=True)  # the guide's end
    for title in ("First", "Second"):
        world.booking.user_create(ROOM, title)
    world.outlook.fail_next = 100
    world.to_outlook()
    world.outlook.fail_next = 0
    checks = iter([True])  # the budget allows one retry to begin, then is spent
    monkeypatch.setattr(sync, "within_budget", lambda deadline: next(checks, False))
    report = guide.sync_to_calendar(world.container, world.outlook.type_name)
    assert sorted(statuses(report.runs.results)) == [("create", "completed"),
                                                     ("skip", "waiting")]
    assert len(world.outlook.live(CALENDAR)) == 1
    monkeypatch.undo()
    assert statuses(guide.sync_to_calendar(world.container,
                                           world.outlook.type_name).runs.results) == [
        ("create", "completed")]
    assert len(world.outlook.live(CALENDAR)) == 2


def test_a_bridge_sync_after_a_crash_makes_the_copies_a_dead_worker_left(
        azurite, monkeypatch) -> None:
    """A worker dies after storing the pending links of its queued batch, before making
    the copies (its message comes back only after the queue's visibility timeout). The
    run's cursor is past those bookings, so an operator's `POST /bridges/sync/...` right
    after the restart must retry the mapping's pending links itself: it makes the
    missing copies at once and says so, with no booking twice."""
    world = make_world(azurite, CALBRIDGE_INLINE_OPERATIONS="4")
    for n in range(10):
        world.booking.user_create(ROOM, f"Booking {n} (Übung)", hours=n)
    run = sync.sync_bridges(world.container, "booking_system", "outlook", sync.SyncRequest())
    assert Counter(o.status for o in run.results) == {"completed": 4, "queued": 6}
    [work] = queued_work(world.storage, world.mapping.id)
    dies_after_the_pending_links(world.storage, monkeypatch)
    with pytest.raises(StorageUnavailable):
        sync.process_work(world.container, work)
    monkeypatch.undo()
    assert len(world.outlook.live(CALENDAR)) == 10  # the copies, made before the death
    pending = [link.id for link in world.storage.links.list(world.mapping.id)
               if link.status is SyncStatus.PENDING]
    assert len(pending) == 6
    dry = sync.sync_bridges(world.container, "booking_system", "outlook",
                            sync.SyncRequest(dry_run=True))
    assert statuses(dry.results) == []  # a dry run retries nothing
    assert sorted(link.id for link in world.storage.links.list(world.mapping.id)
                  if link.status is SyncStatus.PENDING) == sorted(pending)

    again = sync.sync_bridges(world.container, "booking_system", "outlook", sync.SyncRequest())
    assert Counter(o.status for o in again.results) == {"completed": 6}
    assert run_results(again)["processed"] == 6
    titles = Counter(e.title for e in world.outlook.live(CALENDAR))
    assert titles == Counter(f"Booking {n} (Übung)" for n in range(10))
    assert all(link.status is SyncStatus.SYNCED
               for link in world.storage.links.list(world.mapping.id))
    assert statuses(sync.sync_bridges(world.container, "booking_system", "outlook",
                                      sync.SyncRequest()).results) == []


def test_failures_are_recorded_retried_with_backoff_and_given_up(azurite) -> None:
    world, link = failed_once(azurite)
    assert (link.status, link.attempts) == (SyncStatus.ERROR, 1)
    assert "down" in link.last_error and link.next_attempt_at is not None
    # The timer keeps the backoff: the retry is reported as waiting, with its time.
    waiting = sync.process_pending(world.container)
    assert statuses(waiting) == [("skip", "waiting")]
    assert waiting[0].next_attempt_at == link.next_attempt_at
    block = results_block(waiting)
    assert (block["processed"], block["waiting"], block["success_rate"]) == (0, 1, None)
    # An operator's call retries at once.
    assert statuses(sync.process_pending(world.container, manual=True)) == [
        ("create", "failed")]
    world.outlook.fail_next = 100
    link = only_link(world)
    assert link.attempts == 2 and link.next_attempt_at is None  # gave up
    assert statuses(sync.process_pending(world.container, manual=True)) == [
        ("skip", "waiting")]
    assert "gave up" in sync.process_pending(world.container, manual=True)[0].reason
    assert statuses(sync.process_pending(world.container, manual=True, force=True)) == [
        ("create", "failed")]


def test_the_timer_retries_when_the_backoff_is_over(azurite) -> None:
    world, link = failed_once(azurite)
    later = link.next_attempt_at + timedelta(seconds=1)
    assert [m for m, _, _ in sync.due_links(world.container, now=later)]
    assert statuses(sync.process_pending(world.container, now=later)) == [("create", "failed")]
    link = only_link(world)
    assert (link.status, link.attempts, link.next_attempt_at) == (SyncStatus.ERROR, 2, None)
    assert list(sync.due_links(world.container, now=later + timedelta(days=1))) == []
    pending = sync.pending_items(world.container)
    assert pending[0]["gave_up"] is True
    world.outlook.fail_next = 0
    # Nothing is silently dropped: a fresh change to the booking still syncs.
    world.booking.user_edit(ROOM, link.a.event_id, "Lucky")
    assert statuses(world.to_outlook()) == [("create", "completed")]


def test_origin_wins_by_default(world: SyncWorld) -> None:
    booking = world.booking.user_create(ROOM, "Original")
    world.both()
    [copy] = world.outlook.live(CALENDAR)
    world.booking.user_edit(ROOM, booking.id, "Booking edit")
    world.outlook.user_edit(CALENDAR, copy.id, "Outlook edit")
    block = results_block(world.both() + world.both())
    assert world.booking.events[ROOM][booking.id].title == "Booking edit"
    assert world.outlook.events[CALENDAR][copy.id].title == "Booking edit"
    assert statuses(world.both()) == []
    # Decided by policy, but still a conflict: counted, and the losing edit is on record.
    assert block["conflicts"] == 1
    [decided] = [op for op in block["operations"] if "conflict" in op]
    assert decided["conflict"]["winner"] == "a"
    assert decided["conflict"]["fields"] == {"title": {"kept": "Booking edit",
                                                       "lost": "Outlook edit"}}
    [logged] = decisions.resolved_conflicts(world.container)
    assert logged["conflict"]["fields"]["title"]["lost"] == "Outlook edit"
    assert logged["conflict"]["losing_system"] == "outlook"


def test_an_update_writes_only_the_fields_that_changed(world: SyncWorld) -> None:
    booking = world.booking.user_create(ROOM, "Budget")
    world.both()
    [copy] = world.outlook.live(CALENDAR)
    # What the calendar holds that the booking does not carry stays: its own zone name
    # and organizer, and a description the booking system flattened.
    world.outlook._store(CALENDAR, copy.model_copy(update={
        "timezone": "Europe/Berlin", "native_zone": "W. Europe Standard Time",
        "organizer": Person(name="Ann Booker", email="ann@example.org")}))
    world.both()
    world.booking.user_edit(ROOM, booking.id, "Budget (final)")
    assert statuses(world.to_outlook()) == [("update", "completed")]
    assert world.outlook.updated_fields[-1] == {EventField.TITLE}
    after = world.outlook.events[CALENDAR][copy.id]
    assert after.title == "Budget (final)"
    assert (after.native_zone, after.organizer.name) == ("W. Europe Standard Time", "Ann Booker")
    assert statuses(world.both()) == []


def test_changes_to_different_fields_on_both_sides_are_merged(world: SyncWorld) -> None:
    booking = world.booking.user_create(ROOM, "Board")
    world.both()
    [copy] = world.outlook.live(CALENDAR)
    world.booking.user_edit(ROOM, booking.id, "Board (moved)",
                            start=booking.start + timedelta(hours=1),
                            end=booking.end + timedelta(hours=1))
    world.outlook.user_edit(CALENDAR, copy.id, location="Annex, room 3")
    block = results_block(world.both() + world.both())
    assert block["conflicts"] == 0
    for event in (world.booking.events[ROOM][booking.id], world.outlook.events[CALENDAR][copy.id]):
        assert (event.title, event.location) == ("Board (moved)", "Annex, room 3")
        assert event.start == booking.start + timedelta(hours=1)
    assert only_link(world).status is SyncStatus.SYNCED
    writes = (world.booking.writes, world.outlook.writes)
    assert statuses(world.both()) == []
    assert (world.booking.writes, world.outlook.writes) == writes


def test_newest_wins(world: SyncWorld) -> None:
    world.set_policy(ConflictPolicy.NEWEST_WINS)
    booking = world.booking.user_create(ROOM, "Original")
    world.both()
    [copy] = world.outlook.live(CALENDAR)
    world.booking.user_edit(ROOM, booking.id, "Older edit")
    world.outlook.clock = world.booking.clock + timedelta(minutes=5)
    world.outlook.user_edit(CALENDAR, copy.id, "Newer edit")
    world.both()
    world.both()
    assert world.booking.events[ROOM][booking.id].title == "Newer edit"
    assert world.outlook.events[CALENDAR][copy.id].title == "Newer edit"


def test_manual_conflicts_wait_for_a_decision(world: SyncWorld) -> None:
    world.set_policy(ConflictPolicy.MANUAL)
    booking = world.booking.user_create(ROOM, "Original")
    world.both()
    [copy] = world.outlook.live(CALENDAR)
    world.booking.user_edit(ROOM, booking.id, "Booking edit")
    world.outlook.user_edit(CALENDAR, copy.id, "Outlook edit")
    assert statuses(world.to_outlook()) == [("update", "conflict")]
    assert statuses(world.both()) == []
    [conflict] = decisions.list_conflicts(world.container)
    assert conflict["versions"]["a"]["title"] == "Booking edit"
    assert conflict["versions"]["b"]["title"] == "Outlook edit"
    outcome = decisions.resolve_conflict(world.container, conflict["id"], End.B)
    assert outcome.status == "completed"
    assert world.booking.events[ROOM][booking.id].title == "Outlook edit"
    assert only_link(world).status is SyncStatus.SYNCED
    assert statuses(world.both()) == []


def test_dry_run_plans_without_writing(world: SyncWorld) -> None:
    world.booking.user_create(ROOM, "Planned")
    outcomes = world.to_outlook(dry_run=True)
    assert statuses(outcomes) == [("create", "planned")]
    assert world.outlook.live(CALENDAR) == [] and world.storage.links.list() == []
    assert statuses(world.to_outlook()) == [("create", "completed")]


def _many(world: SyncWorld, count: int) -> None:
    for n in range(count):
        world.outlook.user_create(CALENDAR, f"Event {n}", hours=n)
    world.both()
    assert len(world.booking.live(ROOM)) == count


def test_mass_deletion_is_held_then_confirmed(world: SyncWorld) -> None:
    _many(world, 12)
    for event in world.outlook.live(CALENDAR)[:11]:
        world.outlook.user_delete(CALENDAR, event.id)
    outcomes = world.to_booking()
    assert [o.status for o in outcomes if o.operation.value == "delete"] == ["held"] * 11
    assert len(world.booking.live(ROOM)) == 12
    [hold] = decisions.list_holds(world.container)
    assert len(hold.link_ids) == 11 and "11 of 12" in hold.reason
    assert statuses(sync.sync_deletions(world.container).results) == []
    assert len(decisions.list_holds(world.container)) == 1  # not held twice
    hold, results = decisions.confirm_hold(world.container, hold.id)
    assert hold.status is HoldStatus.CONFIRMED
    assert [o.status for o in results] == ["completed"] * 11
    assert len(world.booking.live(ROOM)) == 1


def test_mass_deletion_rejected_restores_the_events(world: SyncWorld) -> None:
    _many(world, 12)
    for event in world.outlook.live(CALENDAR):
        world.outlook.user_delete(CALENDAR, event.id)
    world.to_booking()
    [hold] = decisions.list_holds(world.container)
    hold, results = decisions.reject_hold(world.container, hold.id)
    assert [o.status for o in results] == ["completed"] * 12
    assert len(world.outlook.live(CALENDAR)) == 12 and len(world.booking.live(ROOM)) == 12
    assert statuses(world.both()) == []


def test_a_listing_infers_deletions_only_when_complete(azurite) -> None:
    world = make_world(azurite)
    booking = world.booking.user_create(ROOM, "Purged later")
    world.both()
    # The booking system purges the row: no tombstone, no change reported.
    del world.booking.events[ROOM][booking.id]
    assert statuses(world.to_outlook()) == []
    results = deletion_results(sync.sync_deletions(world.container), world.container.bridges)
    assert results["processed_deletions"] == 1 and results["summary"]["outlook_deletions"] == 1
    assert world.outlook.live(CALENDAR) == []


def test_cleanup_removes_links_gone_on_both_sides(world: SyncWorld) -> None:
    booking = world.booking.user_create(ROOM, "Short-lived")
    world.both()
    world.booking.user_delete(ROOM, booking.id)
    world.both()
    removed = sync.cleanup_orphaned(world.container)
    assert removed["removed"] == 1 and world.storage.links.list() == []
    assert statuses(world.both()) == []


def test_the_timer_syncs_both_directions_of_every_mapping(world: SyncWorld) -> None:
    world.booking.user_create(ROOM, "From the booking system")
    world.outlook.user_create(CALENDAR, "From Outlook", hours=5)
    results = run_results(sync.sync_everything(world.container))
    assert (results["created"], results["errors"]) == (2, 0)
    assert {e.title for e in world.booking.live(ROOM)} == {e.title for e in
                                                           world.outlook.live(CALENDAR)}
    assert run_results(sync.sync_everything(world.container))["processed"] == 0


def test_the_timer_works_to_the_time_budget_and_queues_the_rest(azurite) -> None:
    """A timer invocation has a time limit (host.json's functionTimeout): with its budget
    spent the timer's runs write nothing themselves and hand the writes to the queue, which
    makes every copy once."""
    world = make_world(azurite, CALBRIDGE_SYNC_BUDGET_SECONDS="0")
    for n in range(3):
        world.booking.user_create(ROOM, f"Booking {n}", hours=n)
    world.outlook.user_create(CALENDAR, "From Outlook", hours=9)
    results = run_results(sync.sync_everything(world.container))
    assert (results["created"], results["queued"], results["errors"]) == (0, 4, 0)
    assert world.outlook.live(CALENDAR)[0].title == "From Outlook"
    assert len(world.outlook.live(CALENDAR)) == 1
    for work in queued_work(world.storage, world.mapping.id):
        sync.process_work(world.container, work)
    assert sorted(e.title for e in world.outlook.live(CALENDAR)) == [
        "Booking 0", "Booking 1", "Booking 2", "From Outlook"]
    assert sorted(e.title for e in world.booking.live(ROOM)) == [
        "Booking 0", "Booking 1", "Booking 2", "From Outlook"]
    assert statuses(world.both()) == []


def test_large_runs_fan_out_to_the_queue(azurite) -> None:
    world = make_world(azurite, CALBRIDGE_INLINE_OPERATIONS="2")
    for n in range(5):
        world.booking.user_create(ROOM, f"Booking {n}", hours=n)
    outcomes = world.to_outlook()
    assert [o.status for o in outcomes].count("completed") == 2
    assert [o.status for o in outcomes].count("queued") == 3
    queue = world.storage.queue("sync-work").client
    messages = [m for m in queue.receive_messages(max_messages=32)]
    done = []
    for message in messages:
        work = SyncWork.model_validate_json(message.content)
        if work.mapping_id != world.mapping.id:
            continue  # another test's work
        done += [o.status for o in sync.process_work(world.container, work)]
        # Delivered twice: still one event each.
        assert {o.status for o in sync.process_work(world.container, work)} == {"skipped"}
        queue.delete_message(message)
    assert done == ["completed"] * 3
    assert len(world.outlook.live(CALENDAR)) == 5
    assert statuses(world.both()) == []



def test_bookings_with_long_descriptions_fan_out_in_messages_the_queue_takes(azurite) -> None:
    """A run queues new bookings with the ids of their new pairs; with descriptions long
    enough to fill a message those ids once pushed it over Storage Queues' size limit,
    and the run (and the timer running every mapping) failed. Every booking is queued in
    messages under the limit, and each arrives once."""
    world = make_world(azurite, CALBRIDGE_INLINE_OPERATIONS="1")
    for n in range(120):
        made = world.booking.user_create(ROOM, f"Booking {n} (Übung)", hours=n)
        world.booking.user_edit(ROOM, made.id, description="<p>HTML <b>body</b> & more</p>" * 30)
    results = run_results(sync.sync_everything(world.container))
    assert (results["errors"], results["failed_mappings"]) == (0, [])
    messages = queued_work(world.storage, world.mapping.id)
    assert all(len(work.model_dump_json().encode()) <= MAX_MESSAGE_BYTES for work in messages)
    for work in messages:
        sync.process_work(world.container, work)
    assert sorted(e.title for e in world.outlook.live(CALENDAR)) == sorted(
        f"Booking {n} (Übung)" for n in range(120))
    assert statuses(world.both()) == []

def test_a_chunk_whose_links_were_stored_ahead_is_done_when_the_budget_runs_out(
        azurite) -> None:
    """The links of a run's next hundred new pairs are stored while the current hundred's
    copies are made. When the time budget runs out during a chunk, the next one (its links
    already stored) is still made; the rest goes to the queue; each booking arrives
    once."""
    world = make_world(azurite, CALBRIDGE_INLINE_OPERATIONS="1000")
    for n in range(250):
        world.booking.user_create(ROOM, f"Booking {n}", hours=n)
    create, calls = world.outlook.create, []

    def slow_first_chunk(calendar_id, event, idempotency_key):
        calls.append(idempotency_key)
        if len(calls) == 100:
            time.sleep(0.5)  # the first chunk outlasts the budget
        return create(calendar_id, event, idempotency_key)

    world.outlook.create = slow_first_chunk  # type: ignore[method-assign]
    outcomes = world.to_outlook(deadline=time.monotonic() + 0.3)
    assert [o.status for o in outcomes].count("completed") == 200
    queued = [o.reason for o in outcomes if o.status != "completed"]
    assert len(queued) == 50 and all(OVER_BUDGET in reason for reason in queued)
    assert len(world.outlook.live(CALENDAR)) == 200
    pending = [link for link in world.storage.links.list(world.mapping.id)
               if link.status is not SyncStatus.SYNCED]
    assert pending == []  # the queued pairs' links are made when their work is done
    for work in queued_work(world.storage, world.mapping.id):
        sync.process_work(world.container, work)
    assert sorted(e.title for e in world.outlook.live(CALENDAR)) == sorted(
        f"Booking {n}" for n in range(250))
    assert statuses(world.both()) == []


def test_a_tombstone_for_an_event_that_still_exists_deletes_nothing(world: SyncWorld) -> None:
    # Graph's windowed delta reports an event moved out of its window as removed.
    event = world.outlook.user_create(CALENDAR, "Moved far ahead")
    world.both()
    world.outlook.user_edit(CALENDAR, event.id, "Moved far ahead (new time)")
    link = only_link(world)
    engine = world.engine
    outcome = engine.apply(engine.ends(world.fresh_mapping()),
                           plan_deletion(End.B, event.id, link, "deleted in calendar"))
    assert (outcome.operation.value, outcome.status) == ("update", "completed")
    [booking] = world.booking.live(ROOM)
    assert booking.title == "Moved far ahead (new time)"


def test_a_quiet_calendar_keeps_its_cursor_until_it_is_an_hour_old(world: SyncWorld) -> None:
    world.booking.user_create(ROOM, "Once")
    world.to_outlook()
    mapping_id = world.mapping.id
    first = world.storage.cursors.get("booking_system", ROOM, mapping_id)
    world.to_outlook()
    assert world.storage.cursors.get("booking_system", ROOM, mapping_id).etag == first.etag
    engine = world.engine
    engine.clock = lambda: first.last_poll_at + timedelta(hours=2)
    engine.run(world.fresh_mapping(), End.A)
    refreshed = world.storage.cursors.get("booking_system", ROOM, mapping_id)
    assert refreshed.last_poll_at == first.last_poll_at + timedelta(hours=2)


def test_two_runs_of_one_mapping_at_once_both_succeed_and_lose_nothing(
        world: SyncWorld) -> None:
    """An operator's sync overlapping the timer's: both read the calendar and apply what
    they read; the one that stores its cursor second finds it moved by the other. That is
    no failure of the mapping (both runs' changes are applied; the next run reads on
    from the cursor stored), and nothing is lost or made twice."""
    world.booking.user_create(ROOM, "Before")
    world.to_outlook()
    world.booking.user_create(ROOM, "During")
    changes, inner = world.booking.changes, []

    def another_run_meanwhile(*args, **kwargs):
        found = changes(*args, **kwargs)
        if not inner:
            world.booking.changes = changes  # type: ignore[method-assign]
            inner.append(sync.sync_bridges(world.container, "booking_system", "outlook",
                                           sync.SyncRequest()))
        return found

    world.booking.changes = another_run_meanwhile  # type: ignore[method-assign]
    outer = sync.sync_bridges(world.container, "booking_system", "outlook", sync.SyncRequest())
    assert [run.failed_mappings() for run in (*inner, outer)] == [[], []]
    assert sorted(e.title for e in world.outlook.live(CALENDAR)) == ["Before", "During"]
    world.booking.user_create(ROOM, "After")
    assert statuses(world.to_outlook()) == [("create", "completed")]
    assert sorted(e.title for e in world.outlook.live(CALENDAR)) == ["After", "Before",
                                                                      "During"]
    assert statuses(world.both()) == []


def second_edit_everywhere(world: SyncWorld, copy_id: str, booking_id: str) -> None:
    """Both sides end at the booking's last edit, with no conflict and nothing left."""
    assert world.outlook.events[CALENDAR][copy_id].title == "Second edit"
    assert world.booking.events[ROOM][booking_id].title == "Second edit"
    assert decisions.resolved_conflicts(world.container) == []
    assert statuses(world.both()) == []


def test_a_pair_another_worker_wrote_meanwhile_is_no_conflict(world: SyncWorld) -> None:
    """Two webhooks for one booking a moment apart: the second worker read the pair's link
    before the first stored its write. The copy's new title is calbridge's own write, not
    an Outlook edit, so the booking's last edit wins even where Outlook's side would win a
    real conflict (the event was made in Outlook)."""
    made = world.outlook.user_create(CALENDAR, "Made in Outlook")
    world.both()
    read_early = only_link(world)  # the second worker's view of the pair
    [booking] = world.booking.live(ROOM)
    world.booking.user_edit(ROOM, booking.id, "First edit")
    assert statuses(world.to_outlook()) == [("update", "completed")]  # the first worker
    second = world.booking.user_edit(ROOM, booking.id, "Second edit")
    engine = world.engine
    outcome = engine.apply(engine.ends(world.fresh_mapping()),
                           plan_event(world.booking_end, second, read_early))
    assert outcome.status == "completed"
    second_edit_everywhere(world, made.id, booking.id)


def test_a_pair_whose_other_worker_stores_its_link_seconds_late_is_no_conflict(
        world: SyncWorld) -> None:
    """The same two webhooks on a busy host: the first worker has written the copy but
    stores the pair's link only three seconds later. The second worker keeps looking for
    that link while the copy's change is recent, and the booking's last edit still wins."""
    made = world.outlook.user_create(CALENDAR, "Made in Outlook")
    world.both()
    before = only_link(world)
    [booking] = world.booking.live(ROOM)
    world.booking.user_edit(ROOM, booking.id, "First edit")
    assert statuses(world.to_outlook()) == [("update", "completed")]  # the first worker
    first_worker = only_link(world)
    # Its link as it was before the first worker stored it: that store is still to come.
    not_yet = world.storage.links.update(
        before.model_copy(update={"etag": first_worker.etag}), first_worker)
    second = world.booking.user_edit(ROOM, booking.id, "Second edit")
    engine = world.engine
    pauses: list[float] = []

    def busy_host(seconds: float) -> None:
        pauses.append(seconds)
        if len(pauses) == 3:  # the first worker's link arrives now
            world.storage.links.update(
                first_worker.model_copy(update={"etag": None}), only_link(world))

    engine.pause = busy_host
    engine.clock = lambda: world.outlook.clock  # the copy was written a moment ago
    outcome = engine.apply(engine.ends(world.fresh_mapping()),
                           plan_event(world.booking_end, second, not_yet))
    assert outcome.status == "completed"
    second_edit_everywhere(world, made.id, booking.id)


def test_an_older_read_of_the_copy_does_not_undo_the_booking_s_last_edit(
        world: SyncWorld) -> None:
    """Outlook's webhook for calbridge's write of a first edit is read on a busy host:
    the copy is read with the first edit, and only then is it planned, after the second
    edit has been written and its link stored. That read is older than what calbridge
    recorded of the copy; the copy is read again, and the booking keeps its last edit."""
    made = world.outlook.user_create(CALENDAR, "Made in Outlook")
    world.both()
    [booking] = world.booking.live(ROOM)
    world.booking.user_edit(ROOM, booking.id, "First edit")
    assert statuses(world.to_outlook()) == [("update", "completed")]
    read_early = world.outlook.events[CALENDAR][made.id].model_copy(deep=True)
    world.booking.user_edit(ROOM, booking.id, "Second edit")
    assert statuses(world.to_outlook()) == [("update", "completed")]
    engine = world.engine
    outcome = engine.apply(engine.ends(world.fresh_mapping()),
                           plan_event(world.booking_end.other, read_early, only_link(world)))
    assert outcome.status == "skipped"
    second_edit_everywhere(world, made.id, booking.id)
    # The copy read again is calbridge's own write: nothing to do on the next round either.
    assert statuses(world.both()) == []


def test_an_edit_meeting_a_cancelled_copy_reaches_it_when_it_is_made_active_again(
        world: SyncWorld) -> None:
    """A booking is cancelled, its Outlook event is edited before that cancellation has
    synced, and the booking is made active again: the Outlook edit, seen once while the
    booking was cancelled, is owed to it and arrives with the next retry."""
    made = world.outlook.user_create(CALENDAR, "Council")
    world.both()
    [booking] = world.booking.live(ROOM)
    world.booking.user_delete(ROOM, booking.id)
    world.outlook.user_edit(CALENDAR, made.id, "Choir")
    [outcome] = world.to_booking()
    assert (outcome.status, outcome.reason) == (
        "skipped", "the copy is gone from booking_system; the deletion follows from there")
    world.booking.user_reenable(ROOM, booking.id)
    retried = sync.process_pending(world.container, manual=True)
    assert [(o.title, o.status) for o in retried] == [("Choir", "completed")]
    assert [e.title for e in world.booking.live(ROOM)] == ["Choir"]
    assert statuses(world.both()) == []


def test_an_edit_meeting_a_cancelled_copy_waits_and_the_cancellation_then_follows(
        world: SyncWorld) -> None:
    """The same edit when the booking stays cancelled: the cancellation follows to
    Outlook as before, and nothing is left waiting."""
    made = world.outlook.user_create(CALENDAR, "Council")
    world.both()
    [booking] = world.booking.live(ROOM)
    world.booking.user_delete(ROOM, booking.id)
    world.outlook.user_edit(CALENDAR, made.id, "Choir")
    world.to_booking()
    assert statuses(world.to_outlook()) == [("delete", "completed")]
    assert world.outlook.live(CALENDAR) == []
    assert sync.process_pending(world.container, manual=True) == []


def test_a_stale_read_planned_after_another_worker_decided_a_conflict_writes_nothing(
        world: SyncWorld) -> None:
    """A booking's new room is read; before it is planned, Outlook's organizer moves the
    meeting too and retitles it, and another worker decides that conflict (Outlook, the
    origin, wins) and writes the booking. The read, now stale, meets the conflict, finds
    the pair's link moved on, and is read again: Outlook keeps its edit."""
    made = world.outlook.user_create(CALENDAR, "Made in Outlook")
    world.both()
    before = only_link(world)
    [booking] = world.booking.live(ROOM)
    read_early = world.booking.user_edit(ROOM, booking.id, location="Room 2 (booking)")
    world.outlook.user_edit(CALENDAR, made.id, "Outlook's title", location="Room 3 (Outlook)")
    assert statuses(world.to_booking()) == [("update", "completed")]  # the other worker
    engine = world.engine
    outcome = engine.apply(engine.ends(world.fresh_mapping()),
                           plan_event(world.booking_end, read_early, before))
    assert outcome.status == "skipped"
    copy = world.outlook.events[CALENDAR][made.id]
    assert (copy.title, copy.location) == ("Outlook's title", "Room 3 (Outlook)")
    [booking] = world.booking.live(ROOM)
    assert (booking.title, booking.location) == ("Outlook's title", "Room 3 (Outlook)")
    assert statuses(world.both()) == []
