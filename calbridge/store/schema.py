"""The storage schema's version, and the in-place upgrades that bring tables written by
earlier versions of calbridge up to it. Every upgrade is idempotent: rows already in the
current shape are left alone, so a crash half-way is finished by the next start."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from calbridge.model import DeletionHold, End, EventLink, ResourceMapping
from calbridge.store import holds, links, mappings, subscriptions
from calbridge.store.entities import from_entity, key_hash, storage_errors, to_entity
from calbridge.store.transactions import submit

log = logging.getLogger(__name__)

TABLE = "BridgeSchema"
# 2: mappings and links have two equal ends `a` and `b`
# 3: subscriptions keep their client state only as a keyed hash (`client_state_hash`)
CURRENT = 3
_PARTITION, _ROW = "schema", "version"
_BATCH = 100  # the Table service's limit per entity-group transaction
# Before version 2 links and their index rows named their ends by role.
_ROLES = {"booking": End.A, "calendar": End.B}


def stored_version(table: TableClient) -> int:
    """The schema version storage says it holds (1 when it never said)."""
    with storage_errors("storage schema"):
        try:
            return int(table.get_entity(_PARTITION, _ROW).get("version", 1))
        except ResourceNotFoundError:
            return 1


def set_version(table: TableClient, version: int) -> None:
    with storage_errors("storage schema"):
        table.upsert_entity({"PartitionKey": _PARTITION, "RowKey": _ROW, "version": version},
                            mode=UpdateMode.REPLACE)


def upgrade(schema: TableClient, mapping_table: TableClient, link_table: TableClient,
            hold_table: TableClient, subscription_table: TableClient,
            push_key: bytes) -> dict[str, int]:
    """Bring every table to `CURRENT`; returns how many rows each step rewrote.
    `push_key` is CALBRIDGE_PUSH_SECRET_KEY's (`Settings.push_key`)."""
    if stored_version(schema) >= CURRENT:
        return {}
    counts = {"mappings": _upgrade_mappings(mapping_table),
              "links": _upgrade_links(link_table, mapping_table),
              "holds": _upgrade_holds(hold_table),
              "subscriptions": _upgrade_subscriptions(subscription_table, push_key)}
    set_version(schema, CURRENT)
    if any(counts.values()):
        log.warning("storage upgraded to schema %d", CURRENT, extra=counts)
    return counts


def _submit(table: TableClient, operations: list[tuple[Any, ...]]) -> None:
    for start in range(0, len(operations), _BATCH):
        with storage_errors("storage upgrade"):
            submit(table, operations[start:start + _BATCH])


def _rows(table: TableClient, query: str, **parameters: Any) -> list[Any]:
    with storage_errors("storage upgrade"):
        return list(table.query_entities(query, parameters=parameters))


def _replace(entity: dict[str, Any]) -> tuple[Any, ...]:
    return ("upsert", entity, {"mode": UpdateMode.REPLACE})


def _upgrade_mappings(table: TableClient) -> int:
    """Mappings by role become two ends; pair rows are keyed by the two ends."""
    rows = _rows(table, "PartitionKey eq @pk", pk=mappings.PARTITION)
    stored = [from_entity(ResourceMapping, row) for row in rows if row.get("kind") == "mapping"]
    legacy = [row for row in rows if row.get("kind") == "mapping" and "a" not in row]
    pairs = {row["RowKey"]: row for row in rows if row.get("kind") == "pair"}
    operations: list[tuple[Any, ...]] = [
        _replace(to_entity(mapping, mappings.PARTITION, mapping.id, kind="mapping"))
        for mapping in stored if any(row["RowKey"] == mapping.id for row in legacy)]
    wanted = {"pair-" + key_hash(*mapping.pair_key()): mapping.id for mapping in stored}
    operations += [("delete", {"PartitionKey": mappings.PARTITION, "RowKey": key})
                   for key in pairs if key not in wanted]
    operations += [("create", {"PartitionKey": mappings.PARTITION, "RowKey": key,
                               "kind": "pair", "mapping_id": mapping_id})
                   for key, mapping_id in wanted.items() if key not in pairs]
    _submit(table, operations)
    return len(legacy)


def _upgrade_links(table: TableClient, mapping_table: TableClient) -> int:
    """Links by role become a record per end naming its bridge and calendar; index rows
    `booking-…`/`calendar-…` become `a-…`/`b-…`."""
    by_id = {row["RowKey"]: from_entity(ResourceMapping, row)
             for row in _rows(mapping_table, "PartitionKey eq @pk and kind eq @kind",
                              pk=mappings.PARTITION, kind="mapping")}
    partitions: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    upgraded = 0
    for row in _rows(table, "kind eq @kind", kind="link"):
        if "a" in row and "booking_id" not in row:
            continue
        link = from_entity(EventLink, row)
        mapping = by_id.get(link.mapping_id)
        if mapping is not None:
            for end in End:
                link.end(end).bridge = mapping.end(end).bridge
                link.end(end).calendar_id = mapping.end(end).calendar_id
        partitions[link.mapping_id].append(_replace(to_entity(
            link, link.mapping_id, links.LINK_PREFIX + link.id, kind="link")))
        upgraded += 1
    for row in _rows(table, "kind eq @kind", kind="index"):
        role = row.get("side")
        if role not in _ROLES:
            continue
        end, event_id = _ROLES[role], str(row.get("side_id", ""))
        partition = row["PartitionKey"]
        partitions[partition] += [
            _replace({"PartitionKey": partition, "RowKey": f"{end.value}-{key_hash(event_id)}",
                      "kind": "index", "link_id": row["link_id"], "end": end.value,
                      "event_id": event_id}),
            ("delete", {"PartitionKey": partition, "RowKey": row["RowKey"]})]
    for operations in partitions.values():
        _submit(table, operations)
    return upgraded


def _upgrade_holds(table: TableClient) -> int:
    rows = [row for row in _rows(table, "PartitionKey eq @pk", pk=holds.PARTITION)
            if row.get("source") in _ROLES]
    _submit(table, [_replace(to_entity(hold, holds.PARTITION, hold.id))
                    for hold in _holds(rows)])
    return len(rows)


def _upgrade_subscriptions(table: TableClient, push_key: bytes) -> int:
    """A plain client state becomes its keyed hash, so the subscription keeps verifying
    its notifications while the table no longer holds the secret itself."""
    partitions: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    with storage_errors("storage upgrade"):
        rows = list(table.list_entities())
    for row in rows:
        entity = subscriptions.with_hashed_client_state(row, push_key)
        if entity is not None:
            partitions[row["PartitionKey"]].append(_replace(entity))
    for operations in partitions.values():
        _submit(table, operations)
    return sum(len(operations) for operations in partitions.values())


def _holds(rows: Iterable[Any]) -> list[DeletionHold]:
    return [from_entity(DeletionHold, row) for row in rows]
