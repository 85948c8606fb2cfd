"""Calendars, events and push channels in memory, guarded by one re-entrant lock.

Every change bumps a store-wide `version`; an event remembers the version of its last
change (`seq`), which is what sync tokens compare against. Deleted events stay as
`status: cancelled` (Google: "Deleted events are only guaranteed to have the id field
populated", and incremental sync reports them). `epoch` changes when every sync token is
expired. `snapshot()`/`restore()` keep all of it in a state file.
"""

from __future__ import annotations

import copy
import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from .api import utc_now

ChangeListener = Callable[[str, str], None]  # (calendar id, "exists" | "not_exists")


@dataclass
class CalendarRecord:
    """One calendar and who may reach it ({principal e-mail: accessRole})."""

    id: str
    summary: str
    description: str
    time_zone: str
    access: dict[str, str]
    deleted: bool = False
    # Whether it shows in the calendar list of those with access: a room calendar nobody
    # subscribed to is reachable by id but listed by no one.
    listed: bool = True
    # A Workspace calendar resource (a room): its Directory API fields.
    resource: dict[str, Any] | None = None


@dataclass
class EventRecord:
    """An event as stored: a single event, a series master, or an exception of a series
    (`recurring_event_id` set; `original_start` is its instance's original start as
    Google's `originalStartTime` JSON)."""

    calendar_id: str
    id: str
    fields: dict[str, Any]  # the event's writable properties, normalised
    created: str
    updated: str
    seq: int
    order: int
    creator: str
    ical_uid: str
    sequence: int = 0
    recurring_event_id: str | None = None
    original_start: dict[str, str] | None = None

    @property
    def status(self) -> str:
        """confirmed, tentative or cancelled."""
        return str(self.fields.get("status", "confirmed"))

    @property
    def etag(self) -> str:
        """Google's etags are quoted decimal numbers; this one changes with every change."""
        return f'"{3_000_000_000_000_000 + self.seq * 1000 + self.order % 1000}"'


@dataclass
class Channel:
    """A push notification channel on one calendar's events."""

    id: str
    resource_id: str
    calendar_id: str
    address: str
    token: str | None
    expiration_ms: int
    messages: int = 0
    stopped: bool = False

    def expired(self, now: dt.datetime | None = None) -> bool:
        """True once the channel's expiration has passed."""
        moment = now or utc_now()
        return self.expiration_ms <= int(moment.timestamp() * 1000)


class Store:
    """The emulator's state."""

    def __init__(self, seed: dict[str, Any]) -> None:
        self.seed = seed
        self.lock = threading.RLock()
        self.watchers: list[Callable[[int], None]] = []
        self.listeners: list[ChangeListener] = []
        self.version = 0
        self.epoch = 1
        self.order = 0
        self.calendars: dict[str, CalendarRecord] = {}
        self.events: dict[tuple[str, str], EventRecord] = {}
        self.channels: dict[str, Channel] = {}
        self.reset()

    def reset(self) -> None:
        """Back to the seed's calendars, with no events and no channels. Sync tokens issued
        before stop working (the epoch moves on)."""
        with self.lock:
            self.calendars = {
                c["id"].lower(): CalendarRecord(
                    id=c["id"], summary=c.get("summary", c["id"]),
                    description=c.get("description", ""),
                    time_zone=c.get("timeZone", "UTC"),
                    access={k.lower(): v for k, v in c.get("access", {}).items()},
                    listed=bool(c.get("listed", True)),
                    resource=copy.deepcopy(c.get("resource")))
                for c in self.seed.get("calendars", [])
            }
            self.events.clear()
            self.channels.clear()
            self.epoch += 1
        self.changed()

    # look-ups --------------------------------------------------------------------------

    def calendar(self, calendar_id: str) -> CalendarRecord | None:
        """A calendar by id (case-insensitive), deleted ones included."""
        return self.calendars.get(calendar_id.lower())

    def event(self, calendar_id: str, event_id: str) -> EventRecord | None:
        """A stored event (single, master or exception) by id."""
        return self.events.get((calendar_id.lower(), event_id))

    def calendar_events(self, calendar_id: str) -> list[EventRecord]:
        """Every stored event of a calendar, in creation order."""
        key = calendar_id.lower()
        return sorted((e for (c, _), e in self.events.items() if c == key),
                      key=lambda e: e.order)

    def exceptions(self, calendar_id: str, master_id: str) -> list[EventRecord]:
        """A series' exceptions (changed or cancelled instances)."""
        return [e for e in self.calendar_events(calendar_id)
                if e.recurring_event_id == master_id]

    # changes ---------------------------------------------------------------------------

    def next_seq(self) -> int:
        """The version a change about to be made will carry."""
        with self.lock:
            self.version += 1
            return self.version

    def put(self, record: EventRecord, *, new: bool = False) -> EventRecord:
        """Store a created or changed event (stamping `seq` and `updated`)."""
        with self.lock:
            record.seq = self.next_seq()
            record.updated = _stamp()
            if new:
                self.order += 1
                record.order = self.order
                record.created = record.updated
            self.events[(record.calendar_id.lower(), record.id)] = record
        self.changed()
        self.notify(record.calendar_id, "exists")
        return record

    def changed(self) -> None:
        """Tell the state writer a change happened."""
        with self.lock:
            self.version += 1
            version = self.version
        for watcher in list(self.watchers):
            watcher(version)

    def notify(self, calendar_id: str, state: str) -> None:
        """Tell push channels a calendar's events changed (or the calendar is gone)."""
        for listener in list(self.listeners):
            listener(calendar_id, state)

    def expire_sync_tokens(self) -> int:
        """Make every sync token issued so far answer 410; returns the new epoch."""
        with self.lock:
            self.epoch += 1
            epoch = self.epoch
        self.changed()
        return epoch

    def delete_calendar(self, calendar_id: str) -> bool:
        """Remove a calendar (as its owner deleting it would); channels hear `not_exists`."""
        with self.lock:
            calendar = self.calendar(calendar_id)
            if calendar is None or calendar.deleted:
                return False
            calendar.deleted = True
        self.changed()
        self.notify(calendar.id, "not_exists")
        return True

    # persistence -----------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Everything as JSON-able data."""
        with self.lock:
            return {
                "format": "google-calendar-emulator",
                "version": self.version,
                "epoch": self.epoch,
                "order": self.order,
                "deleted_calendars": sorted(c.id for c in self.calendars.values() if c.deleted),
                "events": [asdict(e) for e in self.events.values()],
                "channels": [asdict(c) for c in self.channels.values()],
            }

    def restore(self, data: dict[str, Any]) -> None:
        """Load a snapshot over the seed's calendars (events, channels, sync state)."""
        with self.lock:
            self.version = int(data.get("version", 0))
            self.epoch = int(data.get("epoch", 1))
            self.order = int(data.get("order", 0))
            for calendar_id in data.get("deleted_calendars", []):
                calendar = self.calendar(calendar_id)
                if calendar is not None:
                    calendar.deleted = True
            self.events = {}
            for item in data.get("events", []):
                record = EventRecord(**copy.deepcopy(item))
                if self.calendar(record.calendar_id) is not None:
                    self.events[(record.calendar_id.lower(), record.id)] = record
            self.channels = {c["id"]: Channel(**c) for c in data.get("channels", [])}


def _stamp() -> str:
    now = utc_now()
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


