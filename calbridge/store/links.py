"""Event links (`BridgeMappings`): one row per synced pair, findable from either end.

A mapping's links share its partition. Beside each link row, one index row per known
event id (`a-<hash>`, `b-<hash>`) points back at it; link and index rows are written in
one entity-group transaction so they never disagree. Many links of a mapping are written
together (`write`): up to 100 rows, one partition and 4 MiB go in one transaction (the
documented limits of entity-group transactions), so a sync run's links cost a few
round trips instead of several per link.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from functools import partial
from typing import Any

from azure.core import MatchConditions
from azure.data.tables import TableClient, UpdateMode

from calbridge.errors import AlreadyExists, CalbridgeError, EtagConflict, NotFound
from calbridge.model import End, EventLink, SyncStatus, utcnow
from calbridge.store.entities import (
    TRANSACTION_BYTES,
    TRANSACTION_ROWS,
    from_entity,
    is_generated_id,
    key_hash,
    row_size,
    rows_by_key,
    storage_errors,
    to_entity,
    transact,
)
from calbridge.store.protocols import LinkWrite, tally_links
from calbridge.store.transactions import submit

TABLE = "BridgeMappings"
LINK_PREFIX = "link-"
# What a transaction refused because of one of its writes raises (after translation):
# the writes are then tried one by one, so only that one fails.
_REFUSALS = (EtagConflict, AlreadyExists, NotFound)
# A query's filter may hold at most 15 comparisons (the Table service's limit): the
# partition's, the row kind's and 13 values.
_VALUES_PER_QUERY = 13


def _link_row(link_id: str) -> str:
    return LINK_PREFIX + link_id


def _index_row(end: End, event_id: str) -> str:
    return f"{end.value}-{key_hash(event_id)}"


def _index_entity(link: EventLink, end: End, event_id: str) -> dict[str, Any]:
    return {"PartitionKey": link.mapping_id, "RowKey": _index_row(end, event_id),
            "kind": "index", "link_id": link.id, "end": end.value, "event_id": event_id}


def _event_ids(link: EventLink) -> dict[End, str]:
    return {end: value for end in End if (value := link.event_id(end))}


def _operations(write: LinkWrite) -> list[tuple]:
    """The transaction operations of one write: its link row first, then index rows."""
    link, before = write.link, write.previous
    row = to_entity(link, link.mapping_id, _link_row(link.id), kind="link")
    if before is None:
        return [("create", row)] + [("create", _index_entity(link, end, value))
                                    for end, value in _event_ids(link).items()]
    operations: list[tuple] = [("update", row, {
        "mode": UpdateMode.REPLACE, "etag": link.etag or before.etag,
        "match_condition": MatchConditions.IfNotModified})]
    old, new = _event_ids(before), _event_ids(link)
    for end in End:
        if old.get(end) == new.get(end):
            continue
        if end in old:
            operations.append(("delete", {"PartitionKey": link.mapping_id,
                                          "RowKey": _index_row(end, old[end])}))
        if end in new:
            operations.append(("create", _index_entity(link, end, new[end])))
    return operations


def _content(link: EventLink) -> dict[str, Any]:
    """What a link row says, its ETag aside."""
    return link.model_dump(mode="json", exclude={"etag"})


def _size(operations: list[tuple]) -> int:
    return sum(row_size(op[1]) for op in operations)


_Pending = tuple[int, LinkWrite, list[tuple]]


def _transactions(pending: list[_Pending]) -> Iterator[list[_Pending]]:
    """Writes packed into transactions: one partition each, at most 100 rows and the size
    limit, and no row twice (a transaction may touch an entity once)."""
    by_partition: dict[str, list[_Pending]] = {}
    for item in pending:
        by_partition.setdefault(item[1].link.mapping_id, []).append(item)
    for items in by_partition.values():
        group: list[_Pending] = []
        rows = size = 0
        keys: set[str] = set()
        for item in items:
            operations = item[2]
            own = {op[1]["RowKey"] for op in operations}
            length = _size(operations)
            if group and (rows + len(operations) > TRANSACTION_ROWS
                          or size + length > TRANSACTION_BYTES or keys & own):
                yield group
                group, rows, size, keys = [], 0, 0, set()
            group.append(item)
            rows, size = rows + len(operations), size + length
            keys |= own
        if group:
            yield group


class LinkRepository:
    def __init__(self, table: TableClient) -> None:
        self.table = table

    def add(self, link: EventLink) -> EventLink:
        """Store a new link. Raises `AlreadyExists` when a side id is linked already."""
        return self._one(LinkWrite(link))

    def write(self, writes: Sequence[LinkWrite]) -> list[EventLink | CalbridgeError]:
        """Adds and updates in as few transactions as the limits allow; a transaction
        refused because of one write is tried again write by write (see `LinkStore`)."""
        for each in writes:
            if each.previous is not None:
                each.link.updated_at = utcnow()
        pending = [(i, each, _operations(each)) for i, each in enumerate(writes)]
        results: list[EventLink | CalbridgeError | None] = [None] * len(writes)
        for group in _transactions(pending):
            self._submit(group, results)
        return [result for result in results if result is not None]

    def _one(self, write: LinkWrite) -> EventLink:
        [result] = self.write([write])
        if isinstance(result, CalbridgeError):
            raise result
        return result

    def _submit(self, group: list[_Pending],
                results: list[EventLink | CalbridgeError | None]) -> None:
        operations = [op for _, _, ops in group for op in ops]
        first = group[0][1].link.id
        try:
            with storage_errors(f"event link {first!r}" if len(group) == 1
                                else "event links"):
                answers = transact(self.table, operations,
                                   partial(self._applied, group, len(operations)))
        except _REFUSALS as exc:
            if len(group) == 1:
                results[group[0][0]] = exc
                return
            for item in group:
                self._submit([item], results)
            return
        position = 0
        for index, write, ops in group:
            # The link row is each write's first operation; its answer carries the ETag.
            etag = (answers[position] or {}).get("etag") if position < len(answers) else None
            position += len(ops)
            results[index] = write.link.model_copy(deep=True, update={"etag": etag})

    def _applied(self, group: list[_Pending], count: int) -> list[dict[str, Any]] | None:
        """The answers of a transaction a lost attempt applied: every link row it writes
        is stored as sent (index rows went with them: it is atomic), each answered with
        its stored ETag; None when one is not."""
        mapping_id = group[0][1].link.mapping_id
        stored = {row["RowKey"]: row for row in self._rows(
            mapping_id, {_link_row(write.link.id) for _, write, _ in group})}
        answers: list[dict[str, Any]] = []
        for _, write, ops in group:
            row = stored.get(_link_row(write.link.id))
            if row is None or _content(from_entity(EventLink, row)) != _content(write.link):
                return None
            answers += [{"etag": row.metadata.get("etag")}] + [{}] * (len(ops) - 1)
        return answers if len(answers) == count else None

    def get(self, mapping_id: str, link_id: str) -> EventLink:
        """Raises `NotFound`."""
        if not (is_generated_id(mapping_id) and is_generated_id(link_id)):
            raise NotFound(f"event link {link_id!r} not found")
        with storage_errors(f"event link {link_id!r}"):
            entity = self.table.get_entity(mapping_id, _link_row(link_id))
        return from_entity(EventLink, entity)

    def find(self, mapping_id: str, end: End, event_id: str) -> EventLink | None:
        """The link holding `event_id` at `end` of a mapping, if any."""
        with storage_errors("event link index"):
            rows = list(self.table.query_entities(
                "PartitionKey eq @pk and RowKey eq @rk",
                parameters={"pk": mapping_id, "rk": _index_row(end, event_id)}))
        if not rows:
            return None
        try:
            return self.get(mapping_id, rows[0]["link_id"])
        except NotFound:
            return None

    def find_many(self, mapping_id: str, event_ids: Iterable[tuple[End, str]],
                  link_ids: Iterable[str] = ()) -> list[EventLink]:
        """The links of a mapping holding any of `event_ids` (end, id) or with one of
        `link_ids`, each once: a query per 14 keys, whatever the mapping holds."""
        index_rows = {_index_row(end, event_id) for end, event_id in event_ids}
        found = [row.get("link_id", "") for row in self._rows(mapping_id, index_rows)]
        wanted = {_link_row(i) for i in [*link_ids, *found] if is_generated_id(i)}
        return [from_entity(EventLink, row) for row in self._rows(mapping_id, wanted)]

    def _rows(self, mapping_id: str, row_keys: set[str]) -> list[dict[str, Any]]:
        return rows_by_key(self.table, mapping_id, row_keys, "event links")

    def of_series(self, mapping_id: str, series_ids: Iterable[str] = (),
                  series_links: Iterable[str] = ()) -> list[EventLink]:
        """The links of a mapping that belong to these series: those naming one of
        `series_ids` (series and occurrences, by the id at the series' end) or one of the
        series pairs `series_links` (their occurrence pairs) — a query per 13 values,
        answering only with the series' own rows."""
        wanted = ([("series_id", value) for value in sorted(set(series_ids)) if value]
                  + [("series_link", value) for value in sorted(set(series_links)) if value])
        found: dict[str, EventLink] = {}
        for start in range(0, len(wanted), _VALUES_PER_QUERY):
            group = wanted[start:start + _VALUES_PER_QUERY]
            params = {"pk": mapping_id, "kind": "link",
                      **{f"v{n}": value for n, (_, value) in enumerate(group)}}
            terms = " or ".join(f"{column} eq @v{n}" for n, (column, _) in enumerate(group))
            with storage_errors("event links"):
                rows = self.table.query_entities(
                    f"PartitionKey eq @pk and kind eq @kind and ( {terms} )", parameters=params)
                found |= {(link := from_entity(EventLink, row)).id: link for row in rows}
        return list(found.values())

    def find_by_id(self, link_id: str) -> EventLink:
        """A link by its id alone (a scan: prefer `get`). Raises `NotFound`."""
        if not is_generated_id(link_id):
            raise NotFound(f"event link {link_id!r} not found")
        with storage_errors("event links"):
            rows = list(self.table.query_entities(
                "RowKey eq @rk", parameters={"rk": _link_row(link_id)}))
        if not rows:
            raise NotFound(f"event link {link_id!r} not found")
        return from_entity(EventLink, rows[0])

    def list(self, mapping_id: str | None = None, *,
             status: SyncStatus | None = None) -> list[EventLink]:
        """Links of one mapping (or all), optionally with one status."""
        query, params = "kind eq @kind", {"kind": "link"}
        if mapping_id is not None:
            query = "PartitionKey eq @pk and " + query
            params["pk"] = mapping_id
        if status is not None:
            query += " and status eq @status"
            params["status"] = status.value
        with storage_errors("event links"):
            rows = self.table.query_entities(query, parameters=params)
            return [from_entity(EventLink, row) for row in rows]

    def each(self, mapping_id: str) -> Iterator[EventLink]:
        """A mapping's links one at a time, read a page (1,000 rows) at a time."""
        with storage_errors("event links"):
            rows = self.table.query_entities("PartitionKey eq @pk and kind eq @kind",
                                             parameters={"pk": mapping_id, "kind": "link"})
            for row in rows:
                yield from_entity(EventLink, row)

    def update(self, link: EventLink, previous: EventLink | None = None) -> EventLink:
        """Replace a link read earlier; its ETag must still match (else `EtagConflict`).
        Index rows follow side ids that were set, changed or cleared."""
        return self._one(LinkWrite(link, previous or self.get(link.mapping_id, link.id)))

    def delete(self, link: EventLink) -> None:
        """Remove a link and its index rows."""
        operations: list[tuple] = [("delete", {"PartitionKey": link.mapping_id,
                                               "RowKey": _link_row(link.id)})]
        operations += [("delete", {"PartitionKey": link.mapping_id,
                                   "RowKey": _index_row(end, value)})
                       for end, value in _event_ids(link).items()]
        with storage_errors(f"event link {link.id!r}"):
            submit(self.table, operations)

    def _tally_rows(self) -> list[dict[str, Any]]:
        # Only the columns counting needs: a mapping's links can be many thousands.
        with storage_errors("event links"):
            return list(self.table.query_entities(
                "kind eq @kind", parameters={"kind": "link"},
                select=["PartitionKey", "status", "item_type", "series_id"]))

    def counts(self) -> tuple[Counter[str], dict[str, Counter[str]]]:
        """Link counts by status, and by item type then status (series counted too)."""
        return tally_links((row.get("status", "pending"), row.get("item_type", "event"),
                            row.get("PartitionKey"), row.get("series_id"))
                           for row in self._tally_rows())

    def counts_by_mapping(self) -> dict[str, Counter[str]]:
        """Link counts by mapping id (the partition), then status."""
        found: dict[str, Counter[str]] = {}
        for row in self._tally_rows():
            found.setdefault(row["PartitionKey"], Counter())[row.get("status", "pending")] += 1
        return found
