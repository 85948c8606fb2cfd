"""Two equal ends: any calendar with any other, through the API. Two Outlook rooms kept in
step both ways — through two named instances of the Outlook bridge and within one bridge —
with the same guarantees as booking ↔ Outlook (no echo, no duplicates, deletions follow,
conflicts under every policy), and a chain A ↔ B ↔ C that never loops."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from calbridge.host.azurite import Azurite
from examples.booking_system import BookingSystemServer
from tests.fixtures.booking import BookingApi
from tests.fixtures.graph import GraphClient
from tests.fixtures.host import Api, HostProcess, host_env
from tests.fixtures.two_bridges import book, outlook_settings, stamp

ROOM_A, ROOM_B, ROOM_C = ("room-a@rooms.example.org", "room-b@rooms.example.org",
                          "room-c@rooms.example.org")
IMMUTABLE = {"Prefer": 'IdType="ImmutableId"'}


@pytest.fixture
def host(azurite: Azurite, e2e_booking_system: BookingSystemServer, graph: GraphClient,
         tmp_path: Path) -> Iterator[Api]:
    """Three bridges: the booking system, `outlook`, and `outlook_eu` — a second instance
    of the Outlook bridge configured only through its own `OUTLOOK_EU__` settings."""
    e2e_booking_system.reset()
    outlook = outlook_settings(graph.emulator)
    env = host_env(azurite, e2e_booking_system,
                   CALBRIDGE_BRIDGES="booking_system,outlook,outlook_eu=outlook",
                   CALBRIDGE_TABLE_PREFIX="x" + uuid.uuid4().hex[:10], **outlook,
                   **{f"OUTLOOK_EU__{name}": value for name, value in outlook.items()})
    process = HostProcess(env, tmp_path / "host.log").start()
    yield Api(process.url)
    process.stop()


def map_ends(api: Api, a: tuple[str, str], b: tuple[str, str], **extra: Any) -> str:
    answer = api("POST", "/mappings/resources", json={
        "a": {"bridge": a[0], "calendar_id": a[1]}, "b": {"bridge": b[0], "calendar_id": b[1]},
        **extra})
    assert answer.status_code == 201, answer.text
    assert answer.json()["verified"] is True
    return str(answer.json()["id"])


def sync(api: Api, source: str, target: str) -> dict[str, Any]:
    answer = api("POST", f"/bridges/sync/{source}/{target}")
    assert answer.status_code == 200, answer.text
    return answer.json()["results"]


def events(graph: GraphClient, room: str) -> list[dict[str, Any]]:
    answer = graph.get(f"/users/{room}/calendarView", headers=IMMUTABLE, params={
        "startDateTime": stamp(-48), "endDateTime": stamp(24 * 30), "$top": "200"})
    assert answer.status_code == 200, answer.text
    return answer.json()["value"]


def subjects(graph: GraphClient, room: str) -> Counter[str]:
    return Counter(event["subject"] for event in events(graph, room))


def meet(graph: GraphClient, room: str, subject: str, hours: float = 0) -> dict[str, Any]:
    made = graph.post(f"/users/{room}/events", headers=IMMUTABLE, json={
        "subject": subject,
        "start": {"dateTime": stamp(hours)[:-1], "timeZone": "UTC"},
        "end": {"dateTime": stamp(hours + 1)[:-1], "timeZone": "UTC"}})
    assert made.status_code == 201, made.text
    return made.json()


def rename(graph: GraphClient, room: str, event_id: str, subject: str) -> None:
    answer = graph.patch(f"/users/{room}/events/{event_id}", json={"subject": subject})
    assert answer.status_code == 200, answer.text


def both_ways(api: Api, a: str, b: str) -> dict[str, int]:
    first, second = sync(api, a, b), sync(api, b, a)
    return {key: first[key] + second[key] for key in ("created", "updated", "deleted",
                                                      "conflicts", "errors", "processed")}


def test_two_outlook_rooms_through_two_instances(host: Api, graph: GraphClient) -> None:
    map_ends(host, ("outlook", ROOM_A), ("outlook_eu", ROOM_B))
    standup = meet(graph, ROOM_A, "Stand-up")
    review = meet(graph, ROOM_B, "Design review", hours=2)
    ran = both_ways(host, "outlook", "outlook_eu")
    assert (ran["created"], ran["errors"]) == (2, 0)
    assert subjects(graph, ROOM_A) == subjects(graph, ROOM_B) == Counter(
        {"Stand-up": 1, "Design review": 1})
    # Each copy comes back as an echo: quiet, however often it runs.
    for _ in range(2):
        assert both_ways(host, "outlook", "outlook_eu")["processed"] == 0

    # Edits flow either way.
    [copy] = [e for e in events(graph, ROOM_B) if e["subject"] == "Stand-up"]
    rename(graph, ROOM_B, copy["id"], "Stand-up (moved)")
    assert sync(host, "outlook_eu", "outlook")["updated"] == 1
    assert subjects(graph, ROOM_A)["Stand-up (moved)"] == 1
    assert both_ways(host, "outlook", "outlook_eu")["processed"] == 0

    # Deletions follow, both ways; so does a meeting its organizer cancels.
    party = meet(graph, ROOM_A, "Leaving party", hours=5)
    assert both_ways(host, "outlook", "outlook_eu")["created"] == 1
    assert graph.delete(f"/users/{ROOM_A}/events/{standup['id']}").status_code == 204
    assert graph.delete(f"/users/{ROOM_B}/events/{review['id']}").status_code == 204
    cancelled = graph.post(f"/users/{ROOM_A}/events/{party['id']}/cancel",
                           json={"comment": "Postponed"})
    assert cancelled.status_code == 202, cancelled.text
    ran = both_ways(host, "outlook", "outlook_eu")
    assert ran["deleted"] == 3
    assert events(graph, ROOM_A) == [] and events(graph, ROOM_B) == []
    assert both_ways(host, "outlook", "outlook_eu")["processed"] == 0


@pytest.mark.parametrize(("policy", "winner"), [
    ("origin_wins", "a"), ("a_wins", "a"), ("b_wins", "b"), ("newest_wins", "b"),
    ("manual", None)])
def test_a_conflict_between_two_rooms_under_each_policy(host: Api, graph: GraphClient,
                                                        policy: str, winner: str | None) -> None:
    map_ends(host, ("outlook", ROOM_A), ("outlook_eu", ROOM_B), conflict_policy=policy)
    original = meet(graph, ROOM_A, "Budget")
    both_ways(host, "outlook", "outlook_eu")
    [copy] = events(graph, ROOM_B)
    rename(graph, ROOM_A, original["id"], "Budget (A)")
    rename(graph, ROOM_B, copy["id"], "Budget (B)")  # the newer edit
    ran = both_ways(host, "outlook", "outlook_eu")
    assert ran["conflicts"] == 1
    both_ways(host, "outlook", "outlook_eu")
    titles = (events(graph, ROOM_A)[0]["subject"], events(graph, ROOM_B)[0]["subject"])
    if winner is None:
        assert titles == ("Budget (A)", "Budget (B)")  # nothing written until decided
        [waiting] = host("GET", "/bridge/conflicts").json()["conflicts"]
        resolved = host("POST", f"/bridge/conflicts/{waiting['id']}/resolve",
                        json={"winner": "b"})
        assert resolved.status_code == 200, resolved.text
        titles = (events(graph, ROOM_A)[0]["subject"], events(graph, ROOM_B)[0]["subject"])
        assert titles == ("Budget (B)", "Budget (B)")
    else:
        kept = f"Budget ({winner.upper()})"
        assert titles == (kept, kept)
        [logged] = host("GET", "/bridge/conflicts", params={"status": "resolved"}).json()[
            "conflicts"]
        assert logged["conflict"]["winner"] == winner
    assert both_ways(host, "outlook", "outlook_eu")["processed"] == 0
    assert len(events(graph, ROOM_A)) == len(events(graph, ROOM_B)) == 1


def test_two_rooms_of_one_bridge(host: Api, graph: GraphClient) -> None:
    map_ends(host, ("outlook", ROOM_A), ("outlook", ROOM_C))
    meet(graph, ROOM_A, "Board")
    meet(graph, ROOM_C, "Chess club", hours=3)
    # One call: source and target are the same bridge, so both ends are synced.
    ran = sync(host, "outlook", "outlook")
    assert (ran["created"], ran["errors"]) == (2, 0)
    assert subjects(graph, ROOM_A) == subjects(graph, ROOM_C)
    assert sync(host, "outlook", "outlook")["processed"] == 0


def test_a_chain_of_mappings_never_loops(host: Api, graph: GraphClient,
                                         bookings: BookingApi) -> None:
    # Room A ↔ room B, and room B ↔ a booking resource: B is an end of two mappings.
    map_ends(host, ("outlook", ROOM_A), ("outlook_eu", ROOM_B))
    answer = host("POST", "/mappings/resources", json={
        "booking_system_resource_id": "room_101", "calendar_system": "outlook_eu",
        "calendar_resource_id": ROOM_B})
    assert answer.status_code == 201, answer.text
    meet(graph, ROOM_A, "Born in A")
    meet(graph, ROOM_B, "Born in B", hours=2)
    book(bookings, "Born in C", hours=4)

    def round_trip() -> int:
        return sum(both_ways(host, first, second)["processed"]
                   for first, second in (("outlook", "outlook_eu"),
                                         ("booking_system", "outlook_eu")))

    assert round_trip() > 0
    for _ in range(2):
        assert round_trip() == 0  # no ping-pong, no copy of a copy
    live = Counter(b["title"] for b in bookings.list_all(resource_id="room_101", active="true"))
    # B's own event reaches both neighbours; a copy is never copied on.
    assert subjects(graph, ROOM_B) == Counter({"Born in A": 1, "Born in B": 1, "Born in C": 1})
    assert subjects(graph, ROOM_A) == Counter({"Born in A": 1, "Born in B": 1})
    assert live == Counter({"Born in B": 1, "Born in C": 1}), (
        bookings.list_all(resource_id="room_101"),
        host("GET", "/bridge/completed", params={"limit": 50}).json()["completed"])
