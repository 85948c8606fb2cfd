"""A recurring Outlook meeting through the API as an operator sees it: the guide's sync
answers name each booking made as one occurrence of its series, and `/bridge/stats`
counts the series and its occurrences."""

from __future__ import annotations

from datetime import timedelta

from tests.fixtures.booking import BookingApi
from tests.fixtures.graph import GraphClient
from tests.fixtures.host import Api
from tests.fixtures.two_bridges import DAY, RESOURCE, ROOM


def test_a_weekly_meeting_is_reported_as_a_series_of_occurrences(
        mapped_host: Api, bookings: BookingApi, graph: GraphClient) -> None:
    first = DAY + timedelta(days=1)
    wall = "%Y-%m-%dT%H:%M:%S"
    made = graph.post(f"/users/{ROOM}/events", json={
        "subject": "Weekly review",
        "start": {"dateTime": first.strftime(wall), "timeZone": "UTC"},
        "end": {"dateTime": (first + timedelta(hours=1)).strftime(wall), "timeZone": "UTC"},
        "recurrence": {
            "pattern": {"type": "weekly", "interval": 1,
                        "daysOfWeek": [first.strftime("%A").lower()]},
            "range": {"type": "numbered", "numberOfOccurrences": 3,
                      "startDate": first.date().isoformat()}}})
    assert made.status_code == 201, made.text
    answer = mapped_host("POST", "/sync/from-outlook")
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert results["created"] == 3
    assert [(row["item_type"], row["action"]) for row in results["details"]] == [
        ("occurrence", "created")] * 3
    assert [op["item_type"] for op in results["operations"]] == ["occurrence"] * 3
    starts = sorted(b["start_time"] for b in bookings.list_all(resource_id=RESOURCE)
                    if b["active"])
    assert starts == [(first + timedelta(weeks=n)).strftime("%Y-%m-%dT%H:%M:%SZ")
                      for n in range(3)]
    stats = mapped_host("GET", "/bridge/stats").json()["statistics"]
    assert stats["by_type"] == {"occurrence": {"synced": 3}, "series": {"synced": 1}}
