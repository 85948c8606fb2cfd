"""The polling fallback: every mapped calendar read through its cursor (Graph delta
links, the booking system's change cursor) and synced by the engine.

Calendars with a healthy push subscription are polled only for reconciliation (every
`CALBRIDGE_RECONCILE_MINUTES`); the others on every poll. A calendar whose bridge
declares a poll schedule of its own (`CalendarBridge.poll_schedule`: CalDAV, which has
no push) is read by that timer only, never by the shared `POLL_SCHEDULE` one; each end of
a mapping is read on its own bridge's schedule. A poll of an unchanged
calendar reads its cursor and asks for changes once (one Graph delta call); the engine
writes the cursor only when it moved or work was done (Graph's delta link moves every
round, the booking system's cursor only with a change). When each calendar was last
polled is remembered in the process, so deciding what is due writes nothing either.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from calbridge.bootstrap import Container
from calbridge.model import Cursor, End, ResourceMapping, utcnow
from calbridge.ncrontab import Schedule
from calbridge.services import subscriptions
from calbridge.services.sync import MappingRuns, RunReport, each_mapping
from calbridge.sync.engine import SyncEngine
from calbridge.sync.outcome import Outcome

_lock = threading.Lock()
_last_polled: dict[tuple[str, str, str], datetime] = {}


def _remember(calendar: PolledCalendar, moment: datetime) -> None:
    with _lock:
        _last_polled[calendar.key] = moment


def _remembered(calendar: PolledCalendar) -> datetime | None:
    with _lock:
        return _last_polled.get(calendar.key)


@dataclass(frozen=True)
class PolledCalendar:
    """One end of one active mapping: a calendar polling reads."""

    mapping: ResourceMapping
    end: End

    @property
    def bridge(self) -> str:
        return self.mapping.end(self.end).bridge

    @property
    def calendar_id(self) -> str:
        return self.mapping.end(self.end).calendar_id

    def schedule_setting(self, container: Container) -> str | None:
        """The setting holding the schedule of the timer that polls this calendar: its
        bridge's own, or None for the shared poll timer."""
        declared = type(container.bridges[self.bridge]).poll_schedule
        return declared.name if declared is not None else None

    def schedule(self, container: Container) -> str:
        """The NCRONTAB schedule this calendar is polled on."""
        declared = type(container.bridges[self.bridge]).poll_schedule
        if declared is None:
            return container.settings.poll_schedule
        return container.settings.env.get(declared.name) or str(declared.default)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.bridge, self.calendar_id.casefold(), self.mapping.id)

    def cursor(self, cursors: dict[tuple[str, str, str | None], Cursor]) -> Cursor | None:
        """This end's cursor among `cursors` (see `cursor_index`): its own, or the
        calendar's older shared one."""
        own = cursors.get((self.bridge, self.calendar_id, self.mapping.id))
        return own or cursors.get((self.bridge, self.calendar_id, None))


def cursor_index(container: Container) -> dict[tuple[str, str, str | None], Cursor]:
    return {(c.bridge, c.calendar_id, c.mapping_id): c for c in container.storage.cursors.list()}


def polled_calendars(container: Container) -> list[PolledCalendar]:
    """Both ends of every active mapping whose bridges are configured, as directions allow."""
    found = []
    for mapping in container.storage.mappings.list(active=True):
        if not (mapping.a.bridge in container.bridges and mapping.b.bridge in container.bridges):
            continue
        for end in (End.B, End.A):
            if mapping.allows(end):
                found.append(PolledCalendar(mapping, end))
    return found


def _healthy_subscriptions(container: Container, now: datetime) -> set[tuple[str, str]]:
    return {(s.bridge, s.calendar_id.casefold())
            for s in container.storage.subscriptions.list()
            if subscriptions.status_of(container, s, now) in ("healthy", "expiring")}


def _last_poll(container: Container, calendar: PolledCalendar,
               cursors: dict[tuple[str, str, str | None], Cursor]) -> datetime | None:
    stored = calendar.cursor(cursors)
    times = [t for t in (_remembered(calendar), stored.last_poll_at if stored else None)
             if t is not None]
    return max(times) if times else None


def _poll(container: Container, engine: SyncEngine, calendars: list[PolledCalendar],
          **kwargs: Any) -> MappingRuns[Outcome]:
    """Each calendar through the engine, mapping by mapping (a failing one is reported,
    the others are polled)."""

    def poll(mapping: ResourceMapping, end: End) -> list[Outcome]:
        calendar = PolledCalendar(mapping, end)
        outcomes = engine.run(mapping, end, **kwargs)
        _remember(calendar, engine.clock())
        return outcomes

    return each_mapping(container, [(c.mapping, c.end) for c in calendars], poll)


@dataclass
class PollReport:
    """A poll: the calendars read (bridge, calendar, mapping), how many were skipped
    (subscribed and reconciled recently), and the run."""

    runs: RunReport
    polled: list[PolledCalendar]
    skipped: int = 0


@dataclass
class InitReport:
    """Polling set up: calendars that got a cursor (and whether one was stored), those
    that had one, and the run that listed them."""

    runs: RunReport
    initialized: list[tuple[PolledCalendar, bool]]
    existing: list[PolledCalendar]


def poll_changes(container: Container, *, due_only: bool = False,
                 now: datetime | None = None, deadline: float | None = None,
                 schedule_setting: str | None = None) -> PollReport:
    """Read every mapped calendar's changes and sync them (`POST /bridges/poll-changes`).
    The poll timers pass `due_only`, skipping subscribed calendars between
    reconciliations, and read only the calendars polled on their schedule
    (`schedule_setting`: a bridge's own timer; None: the shared one). Writes not begun
    by `deadline` are queued."""
    moment = now or utcnow()
    engine = SyncEngine.for_container(container, clock=utcnow if now is None else lambda: now)
    calendars = polled_calendars(container)
    if due_only:
        calendars = [c for c in calendars if c.schedule_setting(container) == schedule_setting]
    subscribed = _healthy_subscriptions(container, moment) if due_only else set()
    cursors = cursor_index(container) if due_only else {}
    every = timedelta(minutes=container.settings.reconcile_minutes)
    due: list[PolledCalendar] = []
    skipped = 0
    for calendar in calendars:
        if due_only and (calendar.bridge, calendar.calendar_id.casefold()) in subscribed:
            last = _last_poll(container, calendar, cursors)
            if last is not None and moment - last < every:
                skipped += 1
                continue
        due.append(calendar)
    return PollReport(_poll(container, engine, due, deadline=deadline), due, skipped)


def initialize(container: Container, *, force: bool = False,
               deadline: float | None = None) -> InitReport:
    """Store a cursor for every mapped calendar that has none (`POST /polling/initialize`):
    a complete listing through the engine, which also syncs what it finds (writes not
    begun by `deadline` are queued). `force` lists again even where a cursor exists."""
    engine = SyncEngine.for_container(container)
    existing, todo = [], []
    for calendar in polled_calendars(container):
        stored = container.storage.cursors.for_end(calendar.bridge, calendar.calendar_id,
                                                   calendar.mapping.id)
        if stored is not None and stored.cursor and not force:
            existing.append(calendar)
        else:
            todo.append(calendar)
    runs = _poll(container, engine, todo, full=force, deadline=deadline)
    initialized = []
    for calendar in todo:
        after = container.storage.cursors.get(calendar.bridge, calendar.calendar_id,
                                              calendar.mapping.id)
        initialized.append((calendar, bool(after and after.cursor)))
    return InitReport(runs, initialized, existing)


def stats(container: Container, *, now: datetime | None = None) -> dict[str, Any]:
    """Per calendar: last poll, last change, subscription health, next poll due."""
    moment = now or utcnow()
    cursors = cursor_index(container)
    subscribed = _healthy_subscriptions(container, moment)
    every = timedelta(minutes=container.settings.reconcile_minutes)
    rows, seen = [], set()
    for calendar in polled_calendars(container):
        if calendar.key in seen:
            continue
        seen.add(calendar.key)
        stored = calendar.cursor(cursors)
        last = _last_poll(container, calendar, cursors)
        push = (calendar.bridge, calendar.calendar_id.casefold()) in subscribed
        earliest = max(moment, last + every) if (push and last) else moment
        rows.append({
            "bridge": calendar.bridge, "calendar_id": calendar.calendar_id,
            "end": calendar.end.value, "mapping_id": calendar.mapping.id,
            "initialized": bool(stored and stored.cursor),
            "last_poll": last, "last_change": stored.last_change_at if stored else None,
            "has_healthy_subscription": push,
            "mode": "webhook + reconciliation" if push else "polling",
            "poll_schedule": calendar.schedule(container),
            "next_poll_due": _next_tick(_schedule(calendar.schedule(container)), earliest),
        })
    return {
        "calendars": rows, "total": len(rows),
        "polling_only": sum(not r["has_healthy_subscription"] for r in rows),
        "with_subscription": sum(r["has_healthy_subscription"] for r in rows),
        "poll_schedule": container.settings.poll_schedule,
        "reconcile_minutes": container.settings.reconcile_minutes,
    }


def _schedule(expression: str) -> Schedule | None:
    try:
        return Schedule.parse(expression)
    except ValueError:
        return None


def _next_tick(schedule: Schedule | None, earliest: datetime) -> datetime | None:
    """The first run of a poll timer at or after `earliest`."""
    if schedule is None:
        return None
    return schedule.next_after(earliest - timedelta(seconds=1))
