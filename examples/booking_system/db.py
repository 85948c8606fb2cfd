"""SQLite storage of resources and bookings: schema and every query the app runs."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import Conflict
from .timestamps import now_stamp

SCHEMA = """
CREATE TABLE IF NOT EXISTS resources (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    location    TEXT,
    created_at  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    external_id    TEXT,
    source_system  TEXT,
    resource_id    TEXT NOT NULL REFERENCES resources(id),
    title          TEXT NOT NULL,
    description    TEXT,
    start_time     TEXT NOT NULL,
    end_time       TEXT NOT NULL,
    start_utc      TEXT NOT NULL,
    end_utc        TEXT NOT NULL,
    all_day        INTEGER NOT NULL DEFAULT 0,
    timezone       TEXT,
    location       TEXT,
    organizer      TEXT,
    active         INTEGER NOT NULL DEFAULT 1,
    version        INTEGER NOT NULL DEFAULT 1,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);
DROP INDEX IF EXISTS events_by_origin;
CREATE UNIQUE INDEX IF NOT EXISTS events_by_origin_in_resource
    ON events (COALESCE(source_system, ''), external_id, resource_id)
    WHERE external_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS events_by_change ON events (updated_at, id);
CREATE INDEX IF NOT EXISTS events_by_resource ON events (resource_id, start_utc);
"""

DEFAULT_RESOURCES = (
    {"id": "room_101", "name": "Meeting room 101", "location": "Town hall, 1st floor"},
    {"id": "room_102", "name": "Council chamber", "location": "Town hall, 2nd floor"},
    {"id": "gym_1", "name": "Sports hall", "location": "Community centre"},
)

# The resources the usage guide's examples name, as written there (`room_123` in its
# mapping example, `123` in its bridge walkthrough). `make serve` and `make demo` add them
# beside the seeded ones; tests keep the seed.
GUIDE_RESOURCES = (
    {"id": "room_123", "name": "Room 123", "location": "Headquarters, 1st floor"},
    {"id": "123", "name": "Resource 123", "location": "Headquarters, 1st floor"},
)

# Columns a listing may filter on by equality (the names are fixed here, values are bound).
LIST_FILTERS = ("resource_id", "external_id", "source_system", "active")

_EVENT_COLUMNS = (
    "external_id", "source_system", "resource_id", "title", "description", "start_time",
    "end_time", "start_utc", "end_utc", "all_day", "timezone", "location", "organizer",
    "active", "version", "created_at", "updated_at",
)


def event_from_row(row: sqlite3.Row) -> dict[str, Any]:
    """The API shape of a stored event (string id, booleans, organizer object)."""
    return {
        "id": str(row["id"]),
        "external_id": row["external_id"],
        "source_system": row["source_system"],
        "resource_id": row["resource_id"],
        "title": row["title"],
        "description": row["description"],
        "start_time": row["start_time"],
        "end_time": row["end_time"],
        "all_day": bool(row["all_day"]),
        "timezone": row["timezone"],
        "location": row["location"],
        "organizer": json.loads(row["organizer"]) if row["organizer"] else None,
        "active": bool(row["active"]),
        "version": row["version"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def _row_values(event: dict[str, Any]) -> list[Any]:
    values = []
    for column in _EVENT_COLUMNS:
        value = event.get(column)
        if column == "organizer":
            value = json.dumps(value, separators=(",", ":")) if value else None
        elif column in ("all_day", "active"):
            value = int(bool(value))
        values.append(value)
    return values


class BookingStore:
    """One SQLite connection shared by all request threads, guarded by a lock.

    ``clock`` gives change times (``now_stamp`` unless a test pins it).
    """

    def __init__(self, path: str = ":memory:", clock: Callable[[], str] = now_stamp):
        self.clock = clock
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._last_stamp = ""
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA foreign_keys = ON")
        if path != ":memory:":
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = NORMAL")
        self._conn.executescript(SCHEMA)
        self._in_transaction = 0
        # A reopened file keeps change times moving forward even if the clock stepped back.
        latest = self._conn.execute("SELECT MAX(updated_at) FROM events").fetchone()[0]
        self._last_stamp = latest or ""

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[BookingStore]:
        """Hold the lock and commit everything inside as one transaction (nesting joins it)."""
        with self._lock:
            if self._in_transaction:
                self._in_transaction += 1
                try:
                    yield self
                finally:
                    self._in_transaction -= 1
                return
            self._conn.execute("BEGIN IMMEDIATE")
            self._in_transaction = 1
            try:
                yield self
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")
            finally:
                self._in_transaction = 0

    def next_stamp(self) -> str:
        """A change time that never goes backwards, so ``since`` never skips a later write."""
        with self._lock:
            self._last_stamp = max(self.clock(), self._last_stamp)
            return self._last_stamp

    # Resources

    def reset(self, *, seed: bool) -> None:
        """Remove every booking and resource (ids are never reused), then reseed if asked.
        With no bookings left, change times may start again from the clock."""
        with self.transaction():
            self._last_stamp = ""
            self._conn.execute("DELETE FROM events")
            self._conn.execute("DELETE FROM resources")
            if seed:
                for resource in DEFAULT_RESOURCES:
                    self.add_resource(dict(resource))

    def list_resources(self) -> list[dict[str, Any]]:
        """Every resource, by id."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, name, location FROM resources ORDER BY id"
            ).fetchall()
        return [dict(row) for row in rows]

    def get_resource(self, resource_id: str) -> dict[str, Any] | None:
        """One resource, or None."""
        with self._lock:
            row = self._conn.execute(
                "SELECT id, name, location FROM resources WHERE id = ?", (resource_id,)
            ).fetchone()
        return dict(row) if row else None

    def add_resource(self, resource: dict[str, Any]) -> dict[str, Any]:
        """Insert a resource; an id of None gets the next free ``res_<n>``."""
        with self.transaction():
            if resource.get("id") is None:
                count = self._conn.execute("SELECT COUNT(*) FROM resources").fetchone()[0]
                while self.get_resource(f"res_{count + 1}") is not None:
                    count += 1
                resource["id"] = f"res_{count + 1}"
            elif self.get_resource(resource["id"]) is not None:
                raise Conflict(f"resource {resource['id']!r} already exists")
            self._conn.execute(
                "INSERT INTO resources (id, name, location, created_at) VALUES (?, ?, ?, ?)",
                (resource["id"], resource["name"], resource.get("location"), now_stamp()),
            )
        return {
            "id": resource["id"], "name": resource["name"], "location": resource.get("location")
        }

    # Events

    def get_event(self, event_id: int) -> dict[str, Any] | None:
        """One event (active or cancelled), or None."""
        with self._lock:
            row = self._conn.execute("SELECT * FROM events WHERE id = ?", (event_id,)).fetchone()
        return event_from_row(row) if row else None

    def get_event_row(self, event_id: int) -> dict[str, Any] | None:
        """One event with its stored sort keys, for merging an update into it."""
        with self._lock:
            row = self._conn.execute("SELECT * FROM events WHERE id = ?", (event_id,)).fetchone()
        if row is None:
            return None
        stored = event_from_row(row)
        stored["start_utc"], stored["end_utc"] = row["start_utc"], row["end_utc"]
        return stored

    def find_by_origin(
        self, source_system: str | None, external_id: str, resource_id: str
    ) -> dict[str, Any] | None:
        """The event of a resource created from ``(source_system, external_id)``, if any."""
        with self._lock:
            row = self._conn.execute(
                "SELECT * FROM events WHERE COALESCE(source_system, '') = ? AND external_id = ?"
                " AND resource_id = ?",
                (source_system or "", external_id, resource_id),
            ).fetchone()
        return event_from_row(row) if row else None

    def insert_event(self, event: dict[str, Any]) -> dict[str, Any]:
        """Insert a settled event (see ``payloads.settle_times``) as version 1."""
        with self.transaction():
            event = {**event, "version": 1}
            event["created_at"] = event["updated_at"] = self.next_stamp()
            placeholders = ", ".join("?" for _ in _EVENT_COLUMNS)
            try:
                cursor = self._conn.execute(
                    f"INSERT INTO events ({', '.join(_EVENT_COLUMNS)}) VALUES ({placeholders})",
                    _row_values(event),
                )
            except sqlite3.IntegrityError as exc:
                raise Conflict(f"event conflicts with an existing one: {exc}") from None
            stored = self.get_event(int(cursor.lastrowid or 0))
        assert stored is not None
        return stored

    def replace_event(self, event_id: int, event: dict[str, Any]) -> dict[str, Any]:
        """Write a settled event over the stored one, bumping ``version`` and ``updated_at``."""
        with self.transaction():
            event = {**event, "version": int(event["version"]) + 1}
            event["updated_at"] = self.next_stamp()
            assignments = ", ".join(f"{column} = ?" for column in _EVENT_COLUMNS)
            try:
                self._conn.execute(
                    f"UPDATE events SET {assignments} WHERE id = ?",
                    [*_row_values(event), event_id],
                )
            except sqlite3.IntegrityError as exc:
                raise Conflict(f"event conflicts with an existing one: {exc}") from None
            stored = self.get_event(event_id)
        assert stored is not None
        return stored

    def delete_event(self, event_id: int) -> None:
        """Remove the row for good."""
        with self.transaction():
            self._conn.execute("DELETE FROM events WHERE id = ?", (event_id,))

    def list_events(
        self,
        *,
        filters: dict[str, Any],
        since: str | None = None,
        after: tuple[str, int] | None = None,
        starts_before: str | None = None,
        ends_after: str | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Events ordered by ``(updated_at, id)``, cancelled ones included.

        ``since`` keeps ``updated_at >= since``; ``after`` continues strictly after a
        ``(updated_at, id)`` position; ``starts_before``/``ends_after`` select a time window.
        """
        clauses: list[str] = []
        params: list[Any] = []
        for column in LIST_FILTERS:
            if filters.get(column) is not None:
                clauses.append(f"{column} = ?")
                params.append(int(filters[column]) if column == "active" else filters[column])
        if since is not None:
            clauses.append("updated_at >= ?")
            params.append(since)
        if after is not None:
            clauses.append("(updated_at > ? OR (updated_at = ? AND id > ?))")
            params.extend([after[0], after[0], after[1]])
        if starts_before is not None:
            clauses.append("start_utc < ?")
            params.append(starts_before)
        if ends_after is not None:
            clauses.append("end_utc > ?")
            params.append(ends_after)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        with self._lock:
            rows = self._conn.execute(
                f"SELECT * FROM events {where} ORDER BY updated_at, id LIMIT ?",
                [*params, limit],
            ).fetchall()
        return [event_from_row(row) for row in rows]

    def events_by_start(self, resource_id: str, limit: int = 200) -> list[dict[str, Any]]:
        """A resource's bookings in start order, for the web page."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT * FROM events WHERE resource_id = ? ORDER BY start_utc, id LIMIT ?",
                (resource_id, limit),
            ).fetchall()
        return [event_from_row(row) for row in rows]
