"""In-memory mailboxes, calendars and events, guarded by one re-entrant lock.

Every change to an event bumps a store-wide sequence number; delta queries compare against
it and deleted events stay behind as tombstones so deltas can report them. A `StateWriter`
keeps the events in a file as they change, so a killed emulator restarts with them.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import logging
import secrets
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .api import GraphError

ChangeListener = Callable[[str, "EventRecord"], None]
StateWatcher = Callable[[int], None]
log = logging.getLogger(__name__)


@dataclass
class Calendar:
    """One calendar of a mailbox."""

    id: str
    name: str
    is_default: bool


@dataclass
class Mailbox:
    """A user or room mailbox with its calendars."""

    id: str
    upn: str
    display_name: str
    kind: str  # "room" or "user"
    attributes: dict[str, Any]
    calendars: dict[str, Calendar] = field(default_factory=dict)

    @property
    def default_calendar(self) -> Calendar:
        """The mailbox's default calendar."""
        return next(c for c in self.calendars.values() if c.is_default)


@dataclass
class EventRecord:
    """An event as stored; rendered to Graph JSON by the events module."""

    id: str
    immutable_id: str
    mailbox_id: str
    calendar_id: str
    fields: dict[str, Any]
    start: dt.datetime
    end: dt.datetime
    created: dt.datetime
    modified: dt.datetime
    change_key: str
    ical_uid: str
    ext_props: dict[str, dict[str, str]] = field(default_factory=dict)
    seq: int = 0
    created_seq: int = 0
    deleted: bool = False
    # Series masters only (see series.py). `series_seq` is the last change every occurrence
    # inherits; `exceptions` and `cancelled` are keyed by the occurrence's original local
    # date; `history` keeps the timings a series had before, so delta can name the
    # occurrences a change removed.
    series_seq: int = 0
    exceptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    cancelled: dict[str, int] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def is_series(self) -> bool:
        """True for a series master (an event with a recurrence)."""
        return bool(self.fields.get("recurrence"))


def _record_data(record: EventRecord) -> dict[str, Any]:
    return {
        "id": record.id, "immutable_id": record.immutable_id, "fields": record.fields,
        "start": record.start.isoformat(),
        "end": record.end.isoformat(), "created": record.created.isoformat(),
        "modified": record.modified.isoformat(), "change_key": record.change_key,
        "ical_uid": record.ical_uid, "ext_props": record.ext_props, "seq": record.seq,
        "created_seq": record.created_seq, "series_seq": record.series_seq,
        "exceptions": record.exceptions, "cancelled": record.cancelled,
        "history": record.history,
    }


def outlook_id(prefix: str) -> str:
    """An opaque Outlook-style item id (URL-safe base64, like Graph's)."""
    raw = b"\x00\x00" + uuid.uuid4().bytes + secrets.token_bytes(30)
    return prefix + base64.urlsafe_b64encode(raw).decode()


def new_change_key() -> str:
    """A fresh changeKey (Graph uses base64 strings)."""
    return base64.b64encode(secrets.token_bytes(15)).decode()


def _calendar_id(mailbox_id: str, name: str) -> str:
    digest = hashlib.sha256(f"{mailbox_id}/{name}".encode()).digest()
    return "AAMkAD" + base64.urlsafe_b64encode(digest + digest[:12]).decode()


class Store:
    """Thread-safe in-memory state of all mailboxes."""

    def __init__(self, seed: dict[str, Any]) -> None:
        self.lock = threading.RLock()
        self.seed = seed
        self.mailboxes: dict[str, Mailbox] = {}
        self.events: dict[str, EventRecord] = {}
        self.tombstones: dict[str, EventRecord] = {}
        self.by_immutable: dict[str, str] = {}
        self.seq = 0
        self.listeners: list[ChangeListener] = []
        # Told the new `version` after every change to the stored state (persistence).
        self.watchers: list[StateWatcher] = []
        self.version = 0
        # More state kept with the events (subscriptions): name → (save, load).
        self.kept: dict[str, tuple[Callable[[], Any], Callable[[Any], None]]] = {}
        self.reset()

    def reset(self) -> None:
        """Drop everything and rebuild the mailboxes from the seed."""
        with self.lock:
            self.mailboxes.clear()
            self.events.clear()
            self.tombstones.clear()
            self.by_immutable.clear()
            for spec in self.seed.get("mailboxes", []):
                mailbox_id = spec.get("id") or str(uuid.uuid4())
                mailbox = Mailbox(
                    id=mailbox_id,
                    upn=spec["userPrincipalName"],
                    display_name=spec.get("displayName", spec["userPrincipalName"]),
                    kind=spec.get("kind", "user"),
                    attributes=dict(spec),
                )
                names = spec.get("calendars") or ["Calendar"]
                for index, name in enumerate(names):
                    cal = Calendar(_calendar_id(mailbox_id, name), name, is_default=index == 0)
                    mailbox.calendars[cal.id] = cal
                self.mailboxes[mailbox_id] = mailbox
        self._changed()

    # mailboxes -------------------------------------------------------------------------

    def find_mailbox(self, key: str) -> Mailbox | None:
        """A mailbox by id or user principal name (case-insensitive), or None."""
        lowered = key.lower()
        with self.lock:
            for mailbox in self.mailboxes.values():
                if mailbox.id.lower() == lowered or mailbox.upn.lower() == lowered:
                    return mailbox
        return None

    def mailbox(self, key: str) -> Mailbox:
        """A mailbox by id or UPN; Graph's 404 for an unknown user otherwise."""
        mailbox = self.find_mailbox(key)
        if mailbox is None:
            raise GraphError(404, "ErrorInvalidUser", f"The requested user '{key}' is invalid.")
        return mailbox

    def calendar(self, mailbox: Mailbox, calendar_id: str | None) -> Calendar:
        """A calendar of ``mailbox`` (the default one for None)."""
        if calendar_id is None:
            return mailbox.default_calendar
        cal = mailbox.calendars.get(calendar_id)
        if cal is None:
            raise GraphError(404, "ErrorItemNotFound", "The specified object was not found.")
        return cal

    # events ------------------------------------------------------------------------------

    def next_seq(self) -> int:
        """Advance and return the change sequence (caller holds the lock)."""
        self.seq += 1
        return self.seq

    def event(self, mailbox: Mailbox, event_id: str) -> EventRecord:
        """A live event of ``mailbox`` by rest or immutable id; 404 ErrorItemNotFound otherwise."""
        with self.lock:
            real_id = self.by_immutable.get(event_id, event_id)
            record = self.events.get(real_id)
            if record is None or record.mailbox_id != mailbox.id:
                raise GraphError(
                    404, "ErrorItemNotFound", "The specified object was not found in the store."
                )
            return record

    def add(self, record: EventRecord) -> None:
        """Store a new event and tell the listeners."""
        with self.lock:
            record.seq = record.created_seq = record.series_seq = self.next_seq()
            self.events[record.id] = record
            self.by_immutable[record.immutable_id] = record.id
        self._notify("created", record)

    def touch(self, record: EventRecord, whole_series: bool = True) -> None:
        """Mark an event as modified (new changeKey, sequence) and tell the listeners.

        ``whole_series`` is False for a change to one occurrence of a series (an exception
        or a cancellation): it is kept in the master, but the other occurrences are
        unchanged."""
        with self.lock:
            record.change_key = new_change_key()
            record.modified = dt.datetime.now(dt.UTC)
            record.seq = self.next_seq()
            if whole_series:
                record.series_seq = record.seq
        self._notify("updated", record)

    def remove(self, record: EventRecord) -> None:
        """Delete an event, keeping a tombstone for delta queries."""
        with self.lock:
            self.events.pop(record.id, None)
            record.deleted = True
            record.seq = self.next_seq()
            self.tombstones[record.id] = record
        self._notify("deleted", record)

    def mailbox_events(self, mailbox: Mailbox, calendar_id: str | None = None) -> list[EventRecord]:
        """Live events of a mailbox (optionally one calendar), oldest start first."""
        with self.lock:
            found = [
                e
                for e in self.events.values()
                if e.mailbox_id == mailbox.id
                and (calendar_id is None or e.calendar_id == calendar_id)
            ]
        return sorted(found, key=lambda e: (e.start, e.created_seq))

    def changed_since(
        self, mailbox: Mailbox, calendar_id: str, after: int, upto: int
    ) -> list[EventRecord]:
        """Live events and tombstones of a calendar changed in (after, upto], by sequence."""
        with self.lock:
            pool = list(self.events.values()) + list(self.tombstones.values())
        found = [
            e
            for e in pool
            if e.mailbox_id == mailbox.id and e.calendar_id == calendar_id and after < e.seq <= upto
        ]
        return sorted(found, key=lambda e: e.seq)

    # persistence (for `make serve`: a restart keeps the calendars) -------------------------

    def snapshot(self) -> dict[str, Any]:
        """Events, tombstones and the change sequence as JSON-ready data. Mailboxes come
        from the seed and are matched again by user principal name."""
        with self.lock:
            records = [(r, False) for r in self.events.values()]
            records += [(r, True) for r in self.tombstones.values()]
            saved = []
            for record, dead in records:
                mailbox = self.mailboxes.get(record.mailbox_id)
                calendar = mailbox.calendars.get(record.calendar_id) if mailbox else None
                if mailbox is None or calendar is None:
                    continue
                saved.append({**_record_data(record), "mailbox_upn": mailbox.upn,
                              "calendar_name": calendar.name, "tombstone": dead})
            return {"seq": self.seq, "events": saved,
                    **{name: save() for name, (save, _) in self.kept.items()}}

    def restore(self, data: dict[str, Any]) -> None:
        """Replace the events with what `snapshot` wrote (events of unknown mailboxes are
        dropped)."""
        with self.lock:
            self.events.clear()
            self.tombstones.clear()
            self.by_immutable.clear()
            for item in data.get("events", []):
                mailbox = self.find_mailbox(item.get("mailbox_upn") or "")
                if mailbox is None:
                    continue
                calendar = next((c for c in mailbox.calendars.values()
                                 if c.name == item.get("calendar_name")),
                                mailbox.default_calendar)
                record = EventRecord(
                    id=item["id"], immutable_id=item["immutable_id"], mailbox_id=mailbox.id,
                    calendar_id=calendar.id, fields=item["fields"],
                    start=dt.datetime.fromisoformat(item["start"]),
                    end=dt.datetime.fromisoformat(item["end"]),
                    created=dt.datetime.fromisoformat(item["created"]),
                    modified=dt.datetime.fromisoformat(item["modified"]),
                    change_key=item["change_key"], ical_uid=item["ical_uid"],
                    ext_props=item.get("ext_props", {}), seq=item["seq"],
                    created_seq=item["created_seq"], deleted=item["tombstone"],
                    series_seq=item.get("series_seq", 0),
                    exceptions=item.get("exceptions", {}), cancelled=item.get("cancelled", {}),
                    history=item.get("history", []))
                (self.tombstones if record.deleted else self.events)[record.id] = record
                self.by_immutable[record.immutable_id] = record.id
            self.seq = max(self.seq, int(data.get("seq", 0)))
            for name, (_, load) in self.kept.items():
                if name in data:
                    load(data[name])

    def _notify(self, change_type: str, record: EventRecord) -> None:
        self._changed()
        for listener in list(self.listeners):
            listener(change_type, record)

    def state_changed(self) -> None:
        """Something kept with the events (`kept`) changed: it is saved with them."""
        self._changed()

    def _changed(self) -> None:
        with self.lock:
            self.version += 1
            version = self.version
        for watcher in list(self.watchers):
            watcher(version)
