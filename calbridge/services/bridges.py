"""What bridges exist and what calendars they offer."""

from __future__ import annotations

from typing import Any

from calbridge.bootstrap import Container


def list_bridges(container: Container) -> list[dict[str, Any]]:
    return [bridge.describe() for bridge in container.bridges.values()]


def list_bridge_calendars(container: Container, name: str) -> list[dict[str, Any]]:
    """Calendars of one bridge; `NotFound` for an unknown bridge."""
    bridge = container.bridge(name)
    return [calendar.model_dump() for calendar in bridge.list_calendars()]
