"""Change-tracking cursors (`BridgeCursors`): one row per bridge + calendar."""

from __future__ import annotations

from azure.core import MatchConditions
from azure.data.tables import TableClient, UpdateMode

from calbridge.model import Cursor
from calbridge.store.entities import from_entity, key_hash, storage_errors, to_entity

TABLE = "BridgeCursors"


class CursorRepository:
    def __init__(self, table: TableClient) -> None:
        self.table = table

    def get(self, bridge: str, calendar_id: str) -> Cursor | None:
        with storage_errors("cursor"):
            rows = list(self.table.query_entities(
                "PartitionKey eq @pk and RowKey eq @rk",
                parameters={"pk": bridge, "rk": key_hash(calendar_id)}))
        return from_entity(Cursor, rows[0]) if rows else None

    def save(self, cursor: Cursor) -> Cursor:
        """Create or replace; a cursor read earlier must not have changed (`EtagConflict`)."""
        entity = to_entity(cursor, cursor.bridge, key_hash(cursor.calendar_id))
        with storage_errors(f"cursor of {cursor.bridge}"):
            if cursor.etag:
                self.table.update_entity(entity, mode=UpdateMode.REPLACE, etag=cursor.etag,
                                         match_condition=MatchConditions.IfNotModified)
            else:
                self.table.upsert_entity(entity, mode=UpdateMode.REPLACE)
        return self.get(cursor.bridge, cursor.calendar_id) or cursor

    def list(self, bridge: str | None = None) -> list[Cursor]:
        query, params = ("PartitionKey eq @pk", {"pk": bridge}) if bridge else ("", {})
        with storage_errors("cursors"):
            rows = list(self.table.query_entities(query, parameters=params) if query
                        else self.table.list_entities())
        return [from_entity(Cursor, row) for row in rows]

    def delete(self, bridge: str, calendar_id: str) -> None:
        with storage_errors("cursor"):
            self.table.delete_entity(bridge, key_hash(calendar_id))
