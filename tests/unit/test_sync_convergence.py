"""The convergence property (tests/fixtures/convergence.py) over the in-memory stores:
random actions on both calendars, failures and lost answers on both sides, then both
calendars hold the same events, nothing is duplicated or lost, and a final sync is
quiet — with the booking system at end `a` of the mapping, with the ends swapped, and
with an Outlook-like end that takes new pairs' creates in batches."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from calbridge.model import ConflictPolicy, End
from tests.fixtures.convergence import assert_converges, scripts
from tests.fixtures.sync import memory_world


@pytest.mark.parametrize(("booking_at", "batches"),
                         [(End.A, False), (End.B, False), (End.A, True)])
@settings(max_examples=150, deadline=None)
@given(scripts, st.sampled_from([ConflictPolicy.ORIGIN_WINS, ConflictPolicy.NEWEST_WINS]))
def test_both_sides_converge_without_duplicates(booking_at: End, batches: bool,
                                                script: list[tuple],
                                                policy: ConflictPolicy) -> None:
    world = memory_world(booking_at=booking_at, batches=batches)
    world.set_policy(policy)
    assert_converges(world, script)
