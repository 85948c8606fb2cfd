"""Mass-deletion holds (`BridgeHolds`): deletions waiting for an operator's decision."""

from __future__ import annotations

from azure.core import MatchConditions
from azure.data.tables import TableClient, UpdateMode

from calbridge.errors import NotFound
from calbridge.model import DeletionHold, HoldStatus
from calbridge.store.entities import from_entity, is_generated_id, storage_errors, to_entity

TABLE = "BridgeHolds"
PARTITION = "hold"


class HoldRepository:
    def __init__(self, table: TableClient) -> None:
        self.table = table

    def add(self, hold: DeletionHold) -> DeletionHold:
        with storage_errors(f"deletion hold {hold.id!r}"):
            self.table.create_entity(to_entity(hold, PARTITION, hold.id))
        return self.get(hold.id)

    def get(self, hold_id: str) -> DeletionHold:
        """Raises `NotFound`."""
        if not is_generated_id(hold_id):
            raise NotFound(f"deletion hold {hold_id!r} not found")
        with storage_errors(f"deletion hold {hold_id!r}"):
            return from_entity(DeletionHold, self.table.get_entity(PARTITION, hold_id))

    def list(self, status: HoldStatus | None = None) -> list[DeletionHold]:
        query, params = "PartitionKey eq @pk", {"pk": PARTITION}
        if status is not None:
            query += " and status eq @status"
            params["status"] = status.value
        with storage_errors("deletion holds"):
            rows = list(self.table.query_entities(query, parameters=params))
        return sorted((from_entity(DeletionHold, row) for row in rows),
                      key=lambda h: h.created_at)

    def update(self, hold: DeletionHold) -> DeletionHold:
        """Replace; `EtagConflict` when someone decided meanwhile."""
        with storage_errors(f"deletion hold {hold.id!r}"):
            self.table.update_entity(to_entity(hold, PARTITION, hold.id),
                                     mode=UpdateMode.REPLACE, etag=hold.etag,
                                     match_condition=MatchConditions.IfNotModified)
        return self.get(hold.id)
