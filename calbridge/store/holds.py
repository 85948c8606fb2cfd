"""Mass-deletion holds (`BridgeHolds`): deletions waiting for an operator's decision."""

from __future__ import annotations

from typing import Any

from azure.core import MatchConditions
from azure.data.tables import TableClient, TableEntity, UpdateMode

from calbridge.errors import NotFound
from calbridge.model import DeletionHold, HoldStatus
from calbridge.store.entities import from_entity, is_generated_id, storage_errors, to_entity

TABLE = "BridgeHolds"
PARTITION = "hold"
# A string property holds at most 64 KiB (32 K UTF-16 characters): the link ids of a hold
# of thousands of deletions (a room emptied at once) are kept over several properties,
# `link_ids_0`, `link_ids_1` …, in the entity's 1 MiB (some 25,000 ids).
_PIECE = 30_000
_PIECES = "link_ids_"


def _to_entity(hold: DeletionHold) -> dict[str, Any]:
    entity = to_entity(hold, PARTITION, hold.id)
    text = entity.pop("link_ids")
    entity.update({f"{_PIECES}{n}": text[start:start + _PIECE]
                   for n, start in enumerate(range(0, len(text), _PIECE))})
    return entity


def _from_entity(entity: TableEntity) -> DeletionHold:
    pieces = sorted((int(name[len(_PIECES):]), name) for name in entity
                    if name.startswith(_PIECES))
    if pieces:  # rows written before the split keep `link_ids` whole
        entity["link_ids"] = "".join(entity.pop(name) for _, name in pieces)
    return from_entity(DeletionHold, entity)


class HoldRepository:
    def __init__(self, table: TableClient) -> None:
        self.table = table

    def add(self, hold: DeletionHold) -> DeletionHold:
        with storage_errors(f"deletion hold {hold.id!r}"):
            self.table.create_entity(_to_entity(hold))
        return self.get(hold.id)

    def get(self, hold_id: str) -> DeletionHold:
        """Raises `NotFound`."""
        if not is_generated_id(hold_id):
            raise NotFound(f"deletion hold {hold_id!r} not found")
        with storage_errors(f"deletion hold {hold_id!r}"):
            return _from_entity(self.table.get_entity(PARTITION, hold_id))

    def list(self, status: HoldStatus | None = None) -> list[DeletionHold]:
        query, params = "PartitionKey eq @pk", {"pk": PARTITION}
        if status is not None:
            query += " and status eq @status"
            params["status"] = status.value
        with storage_errors("deletion holds"):
            rows = list(self.table.query_entities(query, parameters=params))
        return sorted((_from_entity(row) for row in rows),
                      key=lambda h: h.created_at)

    def update(self, hold: DeletionHold) -> DeletionHold:
        """Replace; `EtagConflict` when someone decided meanwhile."""
        with storage_errors(f"deletion hold {hold.id!r}"):
            self.table.update_entity(_to_entity(hold),
                                     mode=UpdateMode.REPLACE, etag=hold.etag,
                                     match_condition=MatchConditions.IfNotModified)
        return self.get(hold.id)
