"""Recurring series from Outlook into a booking system that has no recurrence: one booking
per occurrence inside a rolling horizon, each linked to its series, against the Graph
emulator and the example booking system, with the engine's clock moved to let days pass."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.fixtures.real_bridges import IMMUTABLE, Bridged
from tests.fixtures.two_bridges import ROOM


def graph_time(moment: datetime) -> dict[str, str]:
    return {"dateTime": moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}


def meeting(bridged: Bridged, subject: str, start: datetime, **extra: Any) -> dict[str, Any]:
    made = bridged.graph.post(f"/users/{ROOM}/events", headers=IMMUTABLE, json={
        "subject": subject, "start": graph_time(start),
        "end": graph_time(start + timedelta(hours=1)), **extra})
    assert made.status_code == 201, made.text
    return made.json()


def test_the_window_rolls_forward_so_events_far_ahead_arrive_when_their_time_comes(
        bridged: Bridged) -> None:
    # A meeting 400 days ahead is outside the year calbridge looks ahead; a delta link
    # keeps the window it was opened with, so without rolling it would never be read.
    far = (bridged.now() + timedelta(days=400)).replace(hour=9, minute=0, second=0,
                                                        microsecond=0)
    meeting(bridged, "Annual general meeting", far)
    bridged.to_booking()
    assert bridged.live_bookings() == []
    bridged.days_pass(40)
    bridged.to_booking()
    assert [b["title"] for b in bridged.live_bookings()] == ["Annual general meeting"]
    assert not [o for o in bridged.to_booking() if o.written]  # and only once
