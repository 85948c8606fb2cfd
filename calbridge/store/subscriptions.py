"""Push subscriptions (`BridgeSubscriptions`): one row per bridge + subscription id."""

from __future__ import annotations

from typing import Any

from azure.core import MatchConditions
from azure.data.tables import TableClient, UpdateMode

from calbridge import push_secrets
from calbridge.errors import EtagConflict, NotFound
from calbridge.model import Subscription
from calbridge.store.entities import from_entity, key_hash, storage_errors, to_entity

TABLE = "BridgeSubscriptions"


def with_hashed_client_state(row: Any, push_key: bytes) -> dict[str, Any] | None:
    """The row with its plain client state (as versions before schema 3 stored it)
    replaced by the keyed hash; None when it holds no plain client state."""
    plain = row.get("client_state")
    if plain is None:
        return None
    entity = {name: value for name, value in row.items() if name != "client_state"}
    entity["client_state_hash"] = push_secrets.digest(push_key, str(plain))
    return entity


class SubscriptionRepository:
    def __init__(self, table: TableClient, push_key: bytes) -> None:
        self.table = table
        self.push_key = push_key

    def _subscription(self, row: Any) -> Subscription:
        """A row as a subscription. A row with a plain client state (written by a version
        before schema 3 still running during an upgrade) is hashed on first use."""
        entity = with_hashed_client_state(row, self.push_key)
        if entity is None:
            return from_entity(Subscription, row)
        subscription = from_entity(Subscription, entity)
        try:
            with storage_errors(f"subscription {subscription.id!r}"):
                written = self.table.update_entity(
                    entity, mode=UpdateMode.REPLACE, etag=row.metadata["etag"],
                    match_condition=MatchConditions.IfNotModified)
            subscription.etag = written.get("etag")
        except (EtagConflict, NotFound):
            subscription.etag = row.metadata["etag"]  # changed meanwhile: hashed next time
        return subscription

    def add(self, subscription: Subscription) -> Subscription:
        entity = to_entity(subscription, subscription.bridge, key_hash(subscription.id))
        with storage_errors(f"subscription {subscription.id!r}"):
            self.table.create_entity(entity)
        return self.get(subscription.bridge, subscription.id)

    def get(self, bridge: str, subscription_id: str) -> Subscription:
        """Raises `NotFound`."""
        with storage_errors(f"subscription {subscription_id!r}"):
            entity = self.table.get_entity(bridge, key_hash(subscription_id))
        return self._subscription(entity)

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
        return sorted((self._subscription(row) for row in rows),
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
