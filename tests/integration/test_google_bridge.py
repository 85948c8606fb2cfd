"""The Google Calendar bridge against the Google Calendar emulator: what a production
sync meets — lost answers, stale etags, expired sync tokens, rate limits, channel
rotation and recurring series with exceptions and cancellations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests

from calbridge import push_secrets
from calbridge.bootstrap import Container
from calbridge.bridges.base import TimeWindow
from calbridge.bridges.google_calendar import GoogleCalendarBridge
from calbridge.config import Settings
from calbridge.errors import AuthError, EtagConflict, SyncStateExpired, UpstreamThrottled
from calbridge.model import Event, EventKind, Recurrence, Subscription, new_id, utcnow
from calbridge.services import subscriptions
from calbridge.store.memory import MemoryStorage
from emulators.google_calendar import GoogleCalendarEmulator
from tests.fixtures.google import ROOM, google_env

START = datetime(2031, 3, 10, 9, 0, tzinfo=UTC)
WINDOW = TimeWindow(start=START - timedelta(days=7), end=START + timedelta(days=60))


@pytest.fixture
def emulator(google_emulator: GoogleCalendarEmulator) -> GoogleCalendarEmulator:
    return google_emulator


@pytest.fixture
def bridge(emulator: GoogleCalendarEmulator) -> GoogleCalendarBridge:
    emulator.reset()
    built = GoogleCalendarBridge.from_settings("google_calendar",
                                               Settings.from_env(google_env(emulator)))
    built.api.http._sleep = lambda _: None  # backoff waits are counted, not slept
    return built


def meeting(title: str = "Board meeting", hours: int = 0) -> Event:
    start = START + timedelta(hours=hours)
    return Event(title=title, start=start, end=start + timedelta(hours=1),
                 timezone="Europe/Oslo", marker=new_id())


def statuses(emulator: GoogleCalendarEmulator) -> dict[str, int]:
    return {str(k): v for k, v in emulator.request_counts()["by_status"].items()}


def test_a_retried_insert_after_a_lost_answer_returns_the_same_event(
        bridge: GoogleCalendarBridge, emulator: GoogleCalendarEmulator) -> None:
    written = meeting()
    first = bridge.create(ROOM, written, idempotency_key="link-1:0")
    # The answer was lost: the engine sends the same insert again.
    again = bridge.create(ROOM, written, idempotency_key="link-1:0")
    assert again.id == first.id
    assert statuses(emulator).get("409") == 1
    assert [e.id for e in bridge.list_events(ROOM, WINDOW)] == [first.id]


def test_a_stale_etag_is_an_etag_conflict(bridge: GoogleCalendarBridge) -> None:
    written = meeting()
    created = bridge.create(ROOM, written, idempotency_key=written.marker or "")
    bridge.update(ROOM, created.id or "", written.model_copy(update={"title": "Someone else"}))
    with pytest.raises(EtagConflict):
        bridge.update(ROOM, created.id or "", written.model_copy(update={"title": "Mine"}),
                      etag=created.etag)
    current = bridge.get_event(ROOM, created.id or "")
    assert current is not None and current.title == "Someone else"


def test_an_expired_sync_token_asks_for_a_complete_listing(
        bridge: GoogleCalendarBridge, emulator: GoogleCalendarEmulator) -> None:
    kept, dropped = meeting("Kept"), meeting("Dropped", hours=2)
    kept_id = bridge.create(ROOM, kept, idempotency_key="kept").id
    dropped_id = bridge.create(ROOM, dropped, idempotency_key="dropped").id
    initial = bridge.changes(ROOM, None, WINDOW)
    bridge.delete(ROOM, dropped_id or "")
    emulator.expire_sync_tokens()
    with pytest.raises(SyncStateExpired):
        bridge.changes(ROOM, initial.cursor, WINDOW)
    fresh = bridge.changes(ROOM, None, WINDOW)
    # Only a complete listing may tell a deletion by absence.
    assert fresh.complete is True and fresh.cursor
    assert [e.id for e in fresh.changed] == [kept_id]


def test_google_rate_limits_are_waited_out_and_real_refusals_are_not(
        bridge: GoogleCalendarBridge, emulator: GoogleCalendarEmulator) -> None:
    bridge.create(ROOM, meeting(), idempotency_key="one")
    waits: list[float] = []
    bridge.api.http._sleep = waits.append
    emulator.request_counts()  # counts since reset
    emulator.add_fault({"match": {"method": "GET", "path_regex": "/events$"}, "status": 403,
                        "code": "userRateLimitExceeded", "times": 2})
    before = statuses(emulator).get("403", 0)
    assert len(list(bridge.list_events(ROOM, WINDOW))) == 1
    assert statuses(emulator).get("403", 0) - before == 2 and len(waits) == 2
    emulator.add_fault({"match": {"method": "GET", "path_regex": "/events$"}, "status": 403,
                        "code": "forbidden", "message": "Forbidden", "times": 1})
    with pytest.raises(AuthError):
        list(bridge.list_events(ROOM, WINDOW))
    assert len(waits) == 2  # refused at once, not retried


@pytest.mark.parametrize("reason", ["quotaExceeded", "dailyLimitExceeded"])
def test_a_used_up_quota_is_throttling_reported_at_once_not_retried(
        bridge: GoogleCalendarBridge, emulator: GoogleCalendarEmulator, reason: str) -> None:
    waits: list[float] = []
    bridge.api.http._sleep = waits.append
    emulator.add_fault({"match": {"method": "GET", "path_regex": "/events$"}, "status": 403,
                        "code": reason, "times": 5})
    before = statuses(emulator).get("403", 0)
    with pytest.raises(UpstreamThrottled) as raised:
        list(bridge.list_events(ROOM, WINDOW))
    assert not isinstance(raised.value, AuthError)
    assert statuses(emulator).get("403", 0) - before == 1 and waits == []
    if reason == "dailyLimitExceeded":  # until the quota day ends, at most a day away
        assert raised.value.retry_after is not None and 0 < raised.value.retry_after <= 86400


def test_a_used_up_quota_leaves_health_authenticated(
        bridge: GoogleCalendarBridge, emulator: GoogleCalendarEmulator) -> None:
    emulator.add_fault({"match": {"method": "GET", "path_regex": "/calendarList$"},
                        "status": 403, "code": "quotaExceeded", "times": 1})
    health = bridge.health()
    assert (health.status, health.authenticated) == ("degraded", True)
    assert "quotaExceeded" in (health.error or "")


def test_a_channel_is_asked_for_at_most_a_week(
        bridge: GoogleCalendarBridge, emulator: GoogleCalendarEmulator) -> None:
    asked_at = utcnow()
    opened = bridge.subscribe(ROOM, "https://calbridge.example.org/bridges/webhook/google",
                              "state-1", asked_at + timedelta(days=30))
    # A week from the moment of asking (milliseconds on the wire), not the 30 days wanted.
    week = timedelta(days=7)
    assert asked_at + week - timedelta(milliseconds=1) <= opened.expires_at <= utcnow() + week
    bridge.unsubscribe(opened.id, opened.resource)


def test_a_series_reads_as_occurrences_exceptions_and_cancellations(
        bridge: GoogleCalendarBridge) -> None:
    series = meeting("Weekly sync").model_copy(update={
        "kind": EventKind.SERIES, "recurrence": Recurrence(rrule="FREQ=WEEKLY;COUNT=4")})
    master = bridge.create(ROOM, series, idempotency_key="series")
    assert master.kind is EventKind.SERIES and master.recurrence is not None
    listed = {e.original_start: e for e in bridge.list_events(ROOM, WINDOW)}
    assert len(listed) == 4 and all(e.series_id == master.id for e in listed.values())
    second, third = START + timedelta(weeks=1), START + timedelta(weeks=2)
    moved = listed[second].model_copy(update={"start": second + timedelta(hours=2),
                                              "end": second + timedelta(hours=3)})
    bridge.update(ROOM, listed[second].id or "", moved)
    bridge.delete(ROOM, listed[third].id or "")
    window = TimeWindow(start=START - timedelta(days=1), end=START + timedelta(weeks=5))
    kinds = {e.original_start: e.kind for e in bridge.instances(ROOM, master.id or "", window)}
    # 10:00 in Oslo every week: after the DST change on 30 March that is 08:00 UTC.
    fourth = START + timedelta(weeks=3, hours=-1)
    assert kinds == {START: EventKind.OCCURRENCE, second: EventKind.EXCEPTION,
                     fourth: EventKind.OCCURRENCE}
    changes = bridge.changes(ROOM, None, WINDOW)
    assert listed[third].id in changes.deleted
    assert {e.kind for e in changes.changed} == {EventKind.OCCURRENCE, EventKind.EXCEPTION}


def test_a_channel_is_replaced_by_a_new_one_before_it_is_stopped(
        bridge: GoogleCalendarBridge, emulator: GoogleCalendarEmulator) -> None:
    url = "https://calbridge.example.org/bridges/webhook/google_calendar"
    settings = Settings.from_env({**google_env(emulator), "WEBHOOK_BASE_URL":
                                  "https://calbridge.example.org"})
    storage = MemoryStorage()
    storage.ensure()
    container = Container(settings=settings, storage=storage,
                          bridges={"google_calendar": bridge})
    opened = bridge.subscribe(ROOM, url, "state-1", utcnow() + timedelta(days=1))
    old = storage.subscriptions.add(Subscription(
        id=opened.id, bridge="google_calendar", calendar_id=ROOM, resource=opened.resource,
        expires_at=opened.expires_at,
        client_state_hash=push_secrets.digest(settings.push_key, "state-1")))
    renewed = subscriptions.renew(container, old)
    assert renewed.id != old.id and renewed.resource
    assert [s.id for s in storage.subscriptions.list("google_calendar")] == [renewed.id]
    state = requests.get(f"{emulator.base_url}/_admin/state", verify=emulator.ca_path,
                         timeout=10).json()
    channels = {c["id"]: c for c in state["channels"]}
    assert channels[old.id]["stopped"] is True
    assert channels[renewed.id]["stopped"] is False


# ------------------------------------------------------------------ Workspace rooms


def rooms_bridge(emulator: GoogleCalendarEmulator, **extra: str) -> GoogleCalendarBridge:
    env = google_env(emulator, GOOGLE_CALENDAR_LIST_ROOMS="true", **extra)
    return GoogleCalendarBridge.from_settings("google_calendar", Settings.from_env(env))


def directory_reads(emulator: GoogleCalendarEmulator) -> int:
    routes = emulator.request_counts()["by_route"]
    return int(routes.get("GET /customer/{customer}/resources/calendars", 0))


def test_without_the_setting_only_the_calendar_list_is_listed(
        bridge: GoogleCalendarBridge, emulator: GoogleCalendarEmulator) -> None:
    calendars = {c.id: c for c in bridge.list_calendars()}
    assert set(calendars) == {"alex@example.org", ROOM, "room-b@rooms.example.org",
                              "room-c@rooms.example.org"}
    assert directory_reads(emulator) == 0


def test_with_the_setting_the_workspace_rooms_are_listed_once_each(
        emulator: GoogleCalendarEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    emulator.reset()
    monkeypatch.setattr("calbridge.bridges.google_calendar.adapter.DIRECTORY_PAGE_SIZE", 2)
    listed = rooms_bridge(emulator).list_calendars()
    assert directory_reads(emulator) == 3  # five resources, two a page
    ids = [c.id for c in listed]
    assert len(ids) == len(set(ids)) == 6
    calendars = {c.id: c for c in listed}
    assert calendars["alex@example.org"].kind == "calendar"
    # In alex's calendar list and in the Directory: once, as a room with its capacity.
    assert (calendars[ROOM].kind, calendars[ROOM].capacity) == ("room", 8)
    # In no calendar list: found through the Directory only.
    studio = calendars["room-d@rooms.example.org"]
    assert (studio.name, studio.kind, studio.capacity, studio.email) == (
        "Studio D", "room", 4, "room-d@rooms.example.org")
    assert calendars["projector-1@rooms.example.org"].kind == "resource"


def test_rooms_for_a_user_who_is_not_an_administrator_are_refused_by_name(
        emulator: GoogleCalendarEmulator) -> None:
    emulator.reset()
    bridge = rooms_bridge(emulator, GOOGLE_CALENDAR_SUBJECT="sam@example.org")
    with pytest.raises(AuthError, match="GOOGLE_CALENDAR_LIST_ROOMS"):
        bridge.list_calendars()
    # The calendars themselves are still checked and read.
    assert bridge.calendar_exists("room-c@rooms.example.org")
    health = bridge.health()
    assert (health.status, health.authenticated) == ("degraded", False)
