"""Push subscriptions (`BridgeSubscriptions`): one row per bridge + subscription id."""

from __future__ import annotations

from azure.core import MatchConditions
from azure.data.tables import TableClient, UpdateMode

from calbridge.model import Subscription
from calbridge.store.entities import from_entity, key_hash, storage_errors, to_entity

TABLE = "BridgeSubscriptions"


class SubscriptionRepository:
    def __init__(self, table: TableClient) -> None:
        self.table = table

    def add(self, subscription: Subscription) -> Subscription:
        entity = to_entity(subscription, subscription.bridge, key_hash(subscription.id))
        with storage_errors(f"subscription {subscription.id!r}"):
            self.table.create_entity(entity)
        return self.get(subscription.bridge, subscription.id)

    def get(self, bridge: str, subscription_id: str) -> Subscription:
        """Raises `NotFound`."""
        with storage_errors(f"subscription {subscription_id!r}"):
            entity = self.table.get_entity(bridge, key_hash(subscription_id))
        return from_entity(Subscription, entity)

    def list(self, bridge: str | None = None, *,
             calendar_id: str | None = None) -> list[Subscription]:
        clauses, params = [], {}
        if bridge:
            clauses.append("PartitionKey eq @pk")
            params["pk"] = bridge
        if calendar_id:
            clauses.append("calendar_id eq @cal")
            params["cal"] = calendar_id
        with storage_errors("subscriptions"):
            rows = list(self.table.query_entities(" and ".join(clauses), parameters=params)
                        if clauses else self.table.list_entities())
        return sorted((from_entity(Subscription, row) for row in rows),
                      key=lambda s: s.expires_at)

    def update(self, subscription: Subscription) -> Subscription:
        """Replace; raises `EtagConflict` when it changed since it was read."""
        entity = to_entity(subscription, subscription.bridge, key_hash(subscription.id))
        with storage_errors(f"subscription {subscription.id!r}"):
            self.table.update_entity(entity, mode=UpdateMode.REPLACE, etag=subscription.etag,
                                     match_condition=MatchConditions.IfNotModified)
        return self.get(subscription.bridge, subscription.id)

    def delete(self, bridge: str, subscription_id: str) -> None:
        with storage_errors(f"subscription {subscription_id!r}"):
            self.table.delete_entity(bridge, key_hash(subscription_id))
