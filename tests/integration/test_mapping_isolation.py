"""Mapping by mapping over Table Storage: a calendar that disappears after its mapping was
checked, or one that keeps failing, is reported and recorded on its mapping while the
mapping beside it syncs — and nothing synced into the missing calendar is cancelled."""

from __future__ import annotations

import pytest

from calbridge.functions.results import run_results
from calbridge.model import End, EventStatus, ResourceMapping
from calbridge.services import health, sync
from calbridge.services.health import REPEATED_FAILURES
from calbridge.services.sync import MappingRuns
from tests.fixtures.sync import ROOM, SyncWorld

OTHER_ROOM, OTHER_CALENDAR = "room_2", "room-b@example.org"


@pytest.fixture
def two(world: SyncWorld) -> tuple[SyncWorld, ResourceMapping]:
    """The world's mapping, and a second one beside it (room_2 ↔ room B)."""
    world.booking.events[OTHER_ROOM] = {}
    world.outlook.events[OTHER_CALENDAR] = {}
    other = world.storage.mappings.add(ResourceMapping(
        booking_system_resource_id=OTHER_ROOM, calendar_system="outlook",
        calendar_resource_id=OTHER_CALENDAR))
    return world, other


def failed(results: dict | MappingRuns) -> dict[str, dict]:
    rows = (results.failed_mappings() if isinstance(results, MappingRuns)
            else results["failed_mappings"])
    return {row["resource_mapping_id"]: row for row in rows}


def everything(world: SyncWorld) -> dict:
    """The sync timer's run, as its results block."""
    return run_results(sync.sync_everything(world.container))


def test_a_calendar_gone_after_checking_is_reported_and_its_bookings_kept(
        two: tuple[SyncWorld, ResourceMapping]) -> None:
    world, other = two
    world.booking.user_create(ROOM, "Council meeting")
    kept = world.booking.user_create(OTHER_ROOM, "Chess club")
    first = everything(world)
    assert (first["created"], first["errors"], first["failed_mappings"]) == (2, 0, [])
    assert world.storage.mappings.get(other.id).verified is True

    # Room B's mailbox is removed; a new booking arrives for each room.
    del world.outlook.events[OTHER_CALENDAR]
    world.booking.user_create(ROOM, "Choir practice", hours=2)
    world.booking.user_create(OTHER_ROOM, "Yoga", hours=2)
    results = everything(world)
    row = failed(results)[other.id]
    assert (row["end"], row["bridge"], row["calendar_id"], row["code"]) == (
        "b", "outlook", OTHER_CALENDAR, "calendar_not_found")
    assert world.mapping.id not in failed(results)
    assert {e.title for e in world.outlook.live("room-a@example.org")} == {
        "Council meeting", "Choir practice"}
    stored = world.storage.mappings.get(other.id)
    assert (stored.verified, stored.missing_end) == (False, End.B)
    assert OTHER_CALENDAR in (stored.verification_error or "")

    # Nothing the missing calendar held is taken for deleted: no booking is cancelled,
    # by the deletion runs or the clean-up, and the links stay.
    links_before = len(world.storage.links.list(other.id))
    for run in (sync.sync_deletions, sync.cleanup_orphaned):
        assert other.id in failed(run(world.container)), run.__name__
    sync.process_deletion_queue(world.container)  # the failed create waits for its backoff
    assert world.booking.events[OTHER_ROOM][kept.id].status is EventStatus.CONFIRMED
    assert len(world.storage.links.list(other.id)) == links_before

    report, _ = health.bridge_health(world.container)
    assert report["status"] == "degraded"
    assert [p["resource_mapping_id"] for p in report["unsyncable_mappings"]] == [other.id]
    assert report["bridges"]["outlook"]["unsyncable_mappings"] == [other.id]

    # The mailbox comes back: the next run checks again, and an operator's re-run carries
    # over the booking whose copy failed meanwhile.
    world.outlook.events[OTHER_CALENDAR] = {}
    assert everything(world)["failed_mappings"] == []
    retried = sync.process_pending(world.container, manual=True)
    assert [(o.title, o.status) for o in retried] == [("Yoga", "completed")]
    assert {e.title for e in world.outlook.live(OTHER_CALENDAR)} == {"Yoga"}
    assert world.storage.mappings.get(other.id).verified is True
    assert health.bridge_health(world.container)[0]["unsyncable_mappings"] == []


def test_a_mapping_failing_again_and_again_degrades_health(
        two: tuple[SyncWorld, ResourceMapping]) -> None:
    world, other = two
    everything(world)  # both checked and synced once
    world.outlook.down.add(OTHER_CALENDAR)
    world.booking.user_create(ROOM, "Council meeting")

    for run in range(1, REPEATED_FAILURES + 1):
        results = everything(world)
        assert results["created"] == (1 if run == 1 else 0)  # the good mapping's booking
        row = failed(results)[other.id]
        assert (row["bridge"], row["code"]) == ("outlook", "upstream_unavailable")
        stored = world.storage.mappings.get(other.id)
        assert stored.failed_runs == run and stored.last_failure is not None
        report, _ = health.bridge_health(world.container)
        # One failed run may be a blip; failing again is reported.
        assert bool(report["unsyncable_mappings"]) is (run >= REPEATED_FAILURES)
    [problem] = report["unsyncable_mappings"]
    assert (problem["resource_mapping_id"], problem["reason"]) == (other.id, "failing")
    assert problem["failed_runs"] == REPEATED_FAILURES
    assert report["status"] == "degraded"
    assert report["bridges"]["outlook"]["status"] == "degraded"

    world.outlook.down.clear()
    assert everything(world)["failed_mappings"] == []
    assert world.storage.mappings.get(other.id).failed_runs == 0
    assert health.bridge_health(world.container)[0]["status"] == "healthy"


def test_a_quiet_run_of_good_mappings_writes_no_mapping(
        two: tuple[SyncWorld, ResourceMapping]) -> None:
    world, _ = two
    everything(world)
    before = {m.id: m.etag for m in world.storage.mappings.list()}
    everything(world)
    assert {m.id: m.etag for m in world.storage.mappings.list()} == before


def test_a_mapping_whose_run_meets_a_fault_of_calbridge_s_own_is_reported_and_others_sync(
        two: tuple[SyncWorld, ResourceMapping], monkeypatch: pytest.MonkeyPatch) -> None:
    """A run that raises something no calendar said (a fault in calbridge itself, as a
    queue message over its size limit once was) is that mapping's failure, reported as
    `internal_error` without its text; the timer goes on with every other mapping."""
    world, other = two
    everything(world)
    read = world.booking.changes

    def faulty(calendar_id: str, *args: object, **kwargs: object):
        if calendar_id == OTHER_ROOM:
            raise ValueError("booking 'Secret board meeting' broke the parser")
        return read(calendar_id, *args, **kwargs)

    monkeypatch.setattr(world.booking, "changes", faulty)
    world.booking.user_create(ROOM, "Council meeting")
    world.booking.user_create(OTHER_ROOM, "Chess club")
    results = everything(world)
    row = failed(results)[other.id]
    assert (row["bridge"], row["calendar_id"], row["code"]) == (
        "booking_system", OTHER_ROOM, "internal_error")
    assert "Secret board meeting" not in row["error"]
    assert world.mapping.id not in failed(results)
    assert [e.title for e in world.outlook.live("room-a@example.org")] == ["Council meeting"]
    assert world.storage.mappings.get(other.id).failed_runs == 1
