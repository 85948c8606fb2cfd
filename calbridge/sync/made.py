"""Copies made where a change feed may not say they were deleted.

A CalDAV server answering a `sync-collection` REPORT may leave out a member made and
deleted since the token (RFC 6578 3.8): a copy calbridge makes in a calendar and a person
deletes there before that calendar's next read would not be seen gone until a complete
listing (the deletion sync's). So the copies made in such a calendar (its bridge declares
`Capabilities.omits_short_lived`) are noted on the cursor of the mapping's end there, and
the next read from that cursor looks up those its answer does not name: one that is gone
is a deletion like any other. Past `MADE_KEPT` noted copies the cursor is dropped instead:
the next read is a complete listing, which sees everything."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from calbridge.bridges.base import CalendarBridge, ChangeSet
from calbridge.errors import CalbridgeError, EtagConflict
from calbridge.store.protocols import CursorStore

log = logging.getLogger(__name__)

# Copies noted on one cursor at most (they go in its row) before a complete listing is
# asked for instead.
MADE_KEPT = 200
_ATTEMPTS = 3


class MadeCopies:
    """The copies a run made, per (bridge, calendar, mapping), until they are noted."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._made: dict[tuple[str, str, str], list[str]] = {}

    def add(self, bridge: str, calendar_id: str, mapping_id: str, event_id: str) -> None:
        with self._lock:
            self._made.setdefault((bridge, calendar_id, mapping_id), []).append(event_id)

    def note(self, cursors: CursorStore) -> None:
        """Note what was made on the cursors (a cursor changed meanwhile is read again);
        nothing for an end not read yet (its first read lists everything)."""
        with self._lock:
            made, self._made = self._made, {}
        for (bridge, calendar_id, mapping_id), event_ids in made.items():
            try:
                _note(cursors, bridge, calendar_id, mapping_id, event_ids)
            except CalbridgeError as exc:
                # The deletion sync's complete listings remain: a deletion is late, not lost.
                log.warning("copies made could not be noted on their calendar's cursor",
                            extra={"bridge": bridge, "mapping_id": mapping_id,
                                   "code": exc.code})


def _note(cursors: CursorStore, bridge: str, calendar_id: str, mapping_id: str,
          event_ids: list[str]) -> None:
    for attempt in range(_ATTEMPTS):
        cursor = cursors.get(bridge, calendar_id, mapping_id)
        if cursor is None or not cursor.cursor:
            return
        made = list(dict.fromkeys([*cursor.made, *event_ids]))
        if len(made) > MADE_KEPT:
            cursor.cursor, made = None, []
        cursor.made = made
        try:
            cursors.save(cursor)
            return
        except EtagConflict:
            if attempt == _ATTEMPTS - 1:
                raise


def gone_since(bridge: CalendarBridge, calendar_id: str, changes: ChangeSet,
               made: Sequence[str]) -> ChangeSet:
    """`changes` (an answer to a cursor) with the copies noted on that cursor that it does
    not name and that are gone added to its deletions."""
    named = set(changes.deleted) | set(changes.unreadable)
    for event in changes.changed:
        named.update(each for each in (event.id, event.series_id) if each)
    unnamed = [event_id for event_id in made if event_id not in named]
    if not unnamed:
        return changes
    gone = [read.event_id for read in bridge.get_events(calendar_id, unnamed)
            if read.error is None and read.current() is None]
    if not gone:
        return changes
    log.info("copies made since the last read are gone", extra={
        "bridge": bridge.name, "calendar_id": calendar_id, "copies": len(gone)})
    return changes.model_copy(update={"deleted": [*changes.deleted, *gone]})
