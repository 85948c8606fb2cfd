"""The convergence property (tests/fixtures/convergence.py) over the in-memory stores:
random actions on both calendars, failures and lost answers on both sides, then both
calendars hold the same events, nothing is duplicated or lost, and a final sync is
quiet — with the booking system at end `a` of the mapping, with the ends swapped, with an
Outlook-like end that takes a run's creates, updates and deletes in batches (at either end of
the mapping), and with both ends taking batches (deletions from the Outlook-like end then
read their sources again in batches too)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calbridge.model import ConflictPolicy, End
from tests.fixtures.convergence import assert_converges, scripts
from tests.fixtures.sync import memory_world


@pytest.mark.parametrize(("booking_at", "batches", "booking_batches"),
                         [(End.A, False, False), (End.B, False, False), (End.A, True, False),
                          (End.B, True, False), (End.A, True, True)])
@settings(max_examples=150, deadline=None)
@given(scripts, st.sampled_from([ConflictPolicy.ORIGIN_WINS, ConflictPolicy.NEWEST_WINS]))
def test_both_sides_converge_without_duplicates(booking_at: End, batches: bool,
                                                booking_batches: bool, script: list[tuple],
                                                policy: ConflictPolicy) -> None:
    world = memory_world(booking_at=booking_at, batches=batches,
                         booking_batches=booking_batches)
    world.set_policy(policy)
    assert_converges(world, script)
