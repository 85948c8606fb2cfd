"""Signed webhook deliveries already accepted (`BridgeWebhookDeliveries`): one row per
bridge + delivery id, kept until a replay of it would be refused by its signature's
timestamp anyway. Claiming inserts the row, so of two workers given the same delivery
exactly one wins."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from azure.core import MatchConditions
from azure.data.tables import TableClient, UpdateMode
from pydantic import BaseModel, Field

from calbridge.errors import AlreadyExists, EtagConflict, NotFound
from calbridge.model import utcnow
from calbridge.store.entities import from_entity, key_hash, storage_errors, to_entity

TABLE = "BridgeWebhookDeliveries"


class DeliveryRecord(BaseModel):
    """One accepted delivery."""

    bridge: str
    delivery_id: str
    received_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    etag: str | None = Field(default=None, exclude=True)


class DeliveryRepository:
    def __init__(self, table: TableClient) -> None:
        self.table = table

    def claim(self, record: DeliveryRecord) -> bool:
        """True when this delivery is new (or its earlier claim has expired) and is now
        taken; False when it was already accepted within its window."""
        key = key_hash(record.delivery_id)
        entity = to_entity(record, record.bridge, key)
        try:
            with storage_errors("webhook delivery"):
                self.table.create_entity(entity)
            return True
        except AlreadyExists:
            pass
        try:
            with storage_errors("webhook delivery"):
                earlier = from_entity(DeliveryRecord, self.table.get_entity(record.bridge, key))
        except NotFound:
            return self._create_once_more(entity)  # forgotten in between
        if earlier.expires_at > record.received_at:
            return False
        try:
            with storage_errors("webhook delivery"):
                self.table.update_entity(entity, mode=UpdateMode.REPLACE, etag=earlier.etag,
                                         match_condition=MatchConditions.IfNotModified)
            return True
        except (EtagConflict, NotFound):
            return False  # another worker took the expired claim first

    def _create_once_more(self, entity: dict[str, Any]) -> bool:
        try:
            with storage_errors("webhook delivery"):
                self.table.create_entity(entity)
            return True
        except AlreadyExists:
            return False

    def release(self, bridge: str, delivery_id: str) -> None:
        """Forget a claim whose delivery could not be queued, so the sender's retry is
        accepted."""
        try:
            with storage_errors("webhook delivery"):
                self.table.delete_entity(bridge, key_hash(delivery_id))
        except NotFound:
            pass

    def forget_expired(self, now: datetime | None = None) -> int:
        """Delete claims past their window; returns how many."""
        with storage_errors("webhook deliveries"):
            rows = list(self.table.query_entities(
                "expires_at lt @now", parameters={"now": now or utcnow()},
                select=["PartitionKey", "RowKey"]))
        for row in rows:
            try:
                with storage_errors("webhook delivery"):
                    self.table.delete_entity(row["PartitionKey"], row["RowKey"])
            except NotFound:
                pass
        return len(rows)
