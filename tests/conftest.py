"""Shared fixtures: each module under tests/fixtures starts one real part."""

from __future__ import annotations

pytest_plugins = [
    "tests.fixtures.storage",
    "tests.fixtures.booking",
    "tests.fixtures.graph",
    "tests.fixtures.google",
    "tests.fixtures.host",
    "tests.fixtures.sync",
    "tests.fixtures.two_bridges",
    "tests.fixtures.served",
    "tests.fixtures.toy_bridge",
    "tests.fixtures.real_bridges",
    "tests.fixtures.caldav_servers",
    "tests.fixtures.browser",
]
