"""The convergence property (tests/fixtures/convergence.py) over Table Storage on Azurite,
with the booking system at either end of the mapping. The same property runs over the
in-memory stores in tests/unit/test_sync_convergence.py with many more examples; here a
few confirm the real repositories behave the same."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from calbridge.host.azurite import Azurite
from calbridge.model import ConflictPolicy, End
from tests.fixtures.convergence import assert_converges, scripts
from tests.fixtures.sync import make_world

EXAMPLES = int(os.environ.get("CALBRIDGE_PROPERTY_EXAMPLES", "8"))


@pytest.mark.parametrize("booking_at", [End.A, End.B])
@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(scripts, st.sampled_from([ConflictPolicy.ORIGIN_WINS, ConflictPolicy.NEWEST_WINS]))
def test_both_sides_converge_without_duplicates(azurite: Azurite, booking_at: End,
                                                script: list[tuple],
                                                policy: ConflictPolicy) -> None:
    world = make_world(azurite, booking_at=booking_at)
    world.set_policy(policy)
    assert_converges(world, script)
