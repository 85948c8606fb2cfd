"""Change-tracking cursors (`BridgeCursors`): one row per mapping and end (bridge +
calendar + mapping: a calendar that is an end of two mappings is read by each at its own
pace). Rows of versions that kept one cursor per calendar have no mapping id; a mapping
without a cursor of its own starts from such a row."""

from __future__ import annotations

from azure.core import MatchConditions
from azure.data.tables import TableClient, UpdateMode

from calbridge.model import Cursor
from calbridge.store.entities import from_entity, key_hash, storage_errors, to_entity

TABLE = "BridgeCursors"


class CursorRepository:
    def __init__(self, table: TableClient) -> None:
        self.table = table

    def get(self, bridge: str, calendar_id: str, mapping_id: str | None = None
            ) -> Cursor | None:
        """A mapping's cursor for one of its ends (with `mapping_id`), else the calendar's
        cursor from before cursors were per mapping."""
        with storage_errors("cursor"):
            rows = list(self.table.query_entities(
                "PartitionKey eq @pk and RowKey eq @rk",
                parameters={"pk": bridge, "rk": _row_key(calendar_id, mapping_id)}))
        return from_entity(Cursor, rows[0]) if rows else None

    def for_end(self, bridge: str, calendar_id: str, mapping_id: str) -> Cursor | None:
        """The mapping's own cursor, or the calendar's older shared one to start from."""
        return self.get(bridge, calendar_id, mapping_id) or self.get(bridge, calendar_id)

    def save(self, cursor: Cursor) -> Cursor:
        """Create or replace; a cursor read earlier must not have changed (`EtagConflict`)."""
        entity = to_entity(cursor, cursor.bridge, _row_key(cursor.calendar_id,
                                                           cursor.mapping_id))
        with storage_errors(f"cursor of {cursor.bridge}"):
            if cursor.etag:
                self.table.update_entity(entity, mode=UpdateMode.REPLACE, etag=cursor.etag,
                                         match_condition=MatchConditions.IfNotModified)
            else:
                self.table.upsert_entity(entity, mode=UpdateMode.REPLACE)
        return self.get(cursor.bridge, cursor.calendar_id, cursor.mapping_id) or cursor

    def list(self, bridge: str | None = None) -> list[Cursor]:
        query, params = ("PartitionKey eq @pk", {"pk": bridge}) if bridge else ("", {})
        with storage_errors("cursors"):
            rows = list(self.table.query_entities(query, parameters=params) if query
                        else self.table.list_entities())
        return [from_entity(Cursor, row) for row in rows]


def _row_key(calendar_id: str, mapping_id: str | None) -> str:
    return key_hash(calendar_id, mapping_id) if mapping_id else key_hash(calendar_id)
