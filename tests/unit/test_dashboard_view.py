"""The status page's data without HTTP: the last day's operations per hour, and the
mapping table's filter and sort."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from calbridge.model import Operation, OperationKind, StoredEnd
from calbridge.services.dashboard import MappingRow, MappingSort, activity, select_mappings
from tests.fixtures.sync import memory_world

NOW = datetime(2026, 12, 3, 15, 30, tzinfo=UTC)


def operation(at: datetime, status: str = "completed") -> Operation:
    return Operation(source_system="booking_system", target_system="outlook",
                     operation=OperationKind.CREATE, status=status, at=at)


def test_operations_and_failures_fall_into_their_hours() -> None:
    world = memory_world()
    for at, status in ((NOW - timedelta(minutes=10), "completed"),
                       (NOW - timedelta(minutes=20), "failed"),
                       (NOW - timedelta(hours=5), "completed"),
                       (NOW - timedelta(hours=23, minutes=29), "failed"),
                       (NOW - timedelta(hours=30), "failed")):  # older than the plot
        world.storage.operations.record(operation(at, status))
    hours = activity(world.container, NOW)
    assert len(hours) == 24 and hours[-1].start == datetime(2026, 12, 3, 15, tzinfo=UTC)
    assert (hours[-1].operations, hours[-1].failed) == (2, 1)
    assert (hours[-6].operations, hours[-6].failed) == (1, 0)
    assert (hours[0].operations, hours[0].failed) == (1, 1)
    assert sum(h.operations for h in hours) == 4


def row(a: str, b: str, *, errors: int = 0, problem: str | None = None) -> MappingRow:
    return MappingRow(id=a, a=StoredEnd(bridge="booking_system", calendar_id=a),
                      b=StoredEnd(bridge="outlook", calendar_id=b, name=b.split("@")[0]),
                      active=True, direction="both", conflict_policy="origin_wins",
                      errors=errors, problem=problem)


def test_mappings_are_filtered_on_any_end_and_sorted_problems_first() -> None:
    rows = [row("room_101", "hall@x.org", errors=1), row("gym_1", "gym@x.org", errors=5),
            row("room_123", "ghost@x.org", problem="calendar missing at end a")]
    assert [r.id for r in select_mappings(rows, text="GYM", sort=MappingSort.NAME)] == ["gym_1"]
    assert [r.id for r in select_mappings(rows, text="missing", sort=MappingSort.NAME)] == [
        "room_123"]
    assert [r.id for r in select_mappings(rows, sort=MappingSort.NAME)] == [
        "room_123", "gym_1", "room_101"]
    assert [r.id for r in select_mappings(rows, sort=MappingSort.ERRORS, descending=True)] == [
        "gym_1", "room_101", "room_123"]
