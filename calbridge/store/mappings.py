"""Resource mappings (`BridgeResourceMappings`): a calendar ↔ a calendar.

Each mapping row has a companion "pair" row in the same partition, written in one
entity-group transaction, so two mappings of the same pair can never both exist.
"""

from __future__ import annotations

from azure.core import MatchConditions
from azure.data.tables import TableClient, UpdateMode

from calbridge.errors import NotFound
from calbridge.model import ResourceMapping, utcnow
from calbridge.store.entities import (
    from_entity,
    is_generated_id,
    key_hash,
    storage_errors,
    to_entity,
)
from calbridge.store.transactions import submit

PARTITION = "mapping"
TABLE = "BridgeResourceMappings"


def _pair_row(mapping: ResourceMapping) -> dict[str, str]:
    return {"PartitionKey": PARTITION, "RowKey": "pair-" + key_hash(*mapping.pair_key()),
            "kind": "pair", "mapping_id": mapping.id}


class MappingRepository:
    def __init__(self, table: TableClient) -> None:
        self.table = table

    def add(self, mapping: ResourceMapping) -> ResourceMapping:
        """Store a new mapping. Raises `AlreadyExists` when its pair is mapped already."""
        entity = to_entity(mapping, PARTITION, mapping.id, kind="mapping")
        with storage_errors(f"mapping of {mapping.a.bridge}:{mapping.a.calendar_id!r} to "
                            f"{mapping.b.bridge}:{mapping.b.calendar_id!r}"):
            submit(self.table, [("create", _pair_row(mapping)), ("create", entity)])
        return self.get(mapping.id)

    def get(self, mapping_id: str) -> ResourceMapping:
        """Raises `NotFound`."""
        if not is_generated_id(mapping_id):
            raise NotFound(f"resource mapping {mapping_id!r} not found")
        with storage_errors(f"resource mapping {mapping_id!r}"):
            entity = self.table.get_entity(PARTITION, mapping_id)
        if entity.get("kind") != "mapping":
            raise NotFound(f"resource mapping {mapping_id!r} not found")
        return from_entity(ResourceMapping, entity)

    def find_pair(self, mapping: ResourceMapping) -> ResourceMapping | None:
        """The stored mapping of the same two calendars, if any."""
        key = key_hash(*mapping.pair_key())
        with storage_errors("resource mapping"):
            rows = list(self.table.query_entities(
                "PartitionKey eq @pk and RowKey eq @rk",
                parameters={"pk": PARTITION, "rk": "pair-" + key}))
        return self.get(rows[0]["mapping_id"]) if rows else None

    def list(self, *, active: bool | None = None, calendar_id: str | None = None,
             bridge: str | None = None) -> list[ResourceMapping]:
        """Mappings in creation order, optionally only active ones, or only those with an
        end on a calendar id or a bridge (either end)."""
        query, params = "PartitionKey eq @pk and kind eq @kind", {"pk": PARTITION,
                                                                  "kind": "mapping"}
        if active is not None:
            query += " and active eq @active"
            params["active"] = active
        with storage_errors("resource mappings"):
            rows = list(self.table.query_entities(query, parameters=params))
        mappings = [from_entity(ResourceMapping, row) for row in rows]
        if calendar_id is not None:
            mappings = [m for m in mappings if calendar_id in (m.a.calendar_id, m.b.calendar_id)]
        if bridge is not None:
            mappings = [m for m in mappings if bridge in (m.a.bridge, m.b.bridge)]
        return sorted(mappings, key=lambda m: (m.created_at, m.id))

    def update(self, mapping: ResourceMapping, previous: ResourceMapping) -> ResourceMapping:
        """Replace a mapping read earlier (its ETag must still match: else `EtagConflict`);
        moves the pair row when the pair changed (`AlreadyExists` if the new pair is taken)."""
        mapping.updated_at = utcnow()
        entity = to_entity(mapping, PARTITION, mapping.id, kind="mapping")
        operations: list[tuple] = [("update", entity, {
            "mode": UpdateMode.REPLACE, "etag": previous.etag,
            "match_condition": MatchConditions.IfNotModified})]
        if mapping.pair_key() != previous.pair_key():
            operations += [("delete", _pair_row(previous)), ("create", _pair_row(mapping))]
        with storage_errors(f"resource mapping {mapping.id!r}"):
            submit(self.table, operations)
        return self.get(mapping.id)

    def save_state(self, mapping: ResourceMapping) -> ResourceMapping:
        """Store what calbridge learnt about a mapping read earlier (its check, its runs)
        without moving `updated_at`; `EtagConflict` when it changed since."""
        entity = to_entity(mapping, PARTITION, mapping.id, kind="mapping")
        with storage_errors(f"resource mapping {mapping.id!r}"):
            written = self.table.update_entity(entity, mode=UpdateMode.REPLACE,
                                               etag=mapping.etag,
                                               match_condition=MatchConditions.IfNotModified)
        return mapping.model_copy(update={"etag": written.get("etag")})

    def delete(self, mapping: ResourceMapping) -> None:
        """Remove a mapping and its pair row (`EtagConflict` if it changed since read)."""
        with storage_errors(f"resource mapping {mapping.id!r}"):
            submit(self.table, [
                ("delete", {"PartitionKey": PARTITION, "RowKey": mapping.id},
                 {"etag": mapping.etag, "match_condition": MatchConditions.IfNotModified}),
                ("delete", _pair_row(mapping)),
            ])

    def count(self) -> dict[str, int]:
        mappings = self.list()
        return {"total": len(mappings), "active": sum(m.active for m in mappings)}
