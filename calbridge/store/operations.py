"""The operations log (`BridgeOperations`): what sync did, newest first."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from functools import partial

from azure.data.tables import TableClient

from calbridge.errors import AlreadyExists
from calbridge.model import Operation
from calbridge.store.entities import (
    TRANSACTION_BYTES,
    TRANSACTION_ROWS,
    from_entity,
    row_size,
    rows_by_key,
    storage_errors,
    to_entity,
    transact,
)

TABLE = "BridgeOperations"
PARTITION = "op"
_MAX_MS = 10**15  # row keys count down from here so the newest sorts first
_TOKEN_KEYS = frozenset({"PartitionKey", "RowKey"})


def row_key(operation: Operation) -> str:
    """Newest first, ties by id."""
    millis = int(operation.at.timestamp() * 1000)
    return f"{_MAX_MS - millis:016d}-{operation.id}"


class OperationRepository:
    def __init__(self, table: TableClient) -> None:
        self.table = table

    def record(self, operation: Operation) -> None:
        with storage_errors("operation log"):
            self.table.create_entity(to_entity(operation, PARTITION, row_key(operation)))

    def record_all(self, operations: Sequence[Operation]) -> None:
        """Log many operations, up to 100 to an entity-group transaction (the log is one
        partition); a transaction refused because a row is logged already is logged row
        by row, skipping that one."""
        rows = list({row_key(op): to_entity(op, PARTITION, row_key(op))
                     for op in operations}.values())
        chunks: list[list[dict]] = []
        size = 0
        for row in rows:
            if not chunks or len(chunks[-1]) >= TRANSACTION_ROWS or (
                    size + row_size(row) > TRANSACTION_BYTES):
                chunks.append([])
                size = 0
            chunks[-1].append(row)
            size += row_size(row)
        for chunk in chunks:
            try:
                with storage_errors("operation log"):
                    transact(self.table, [("create", row) for row in chunk],
                             partial(self._logged, chunk))
            except AlreadyExists:
                for row in chunk:
                    try:
                        with storage_errors("operation log"):
                            self.table.create_entity(row)
                    except AlreadyExists:
                        pass

    def _logged(self, rows: list[dict]) -> list[dict] | None:
        """The answers of a log transaction a lost attempt applied: each row's key names
        one operation, so every row there is ours; None when one is missing."""
        found = {row["RowKey"]: row for row in rows_by_key(
            self.table, PARTITION, (row["RowKey"] for row in rows), "operation log")}
        if any(row["RowKey"] not in found for row in rows):
            return None
        return [{"etag": found[row["RowKey"]].metadata.get("etag")} for row in rows]

    def page(self, *, status: str | None = None, operation: str | None = None,
             limit: int = 50, continuation: str | None = None
             ) -> tuple[list[Operation], str | None]:
        """One page of operations, newest first, and the token for the next page."""
        query, params = "PartitionKey eq @pk", {"pk": PARTITION}
        if status:
            query += " and status eq @status"
            params["status"] = status
        if operation:
            query += " and operation eq @operation"
            params["operation"] = operation
        with storage_errors("operation log"):
            pages = self.table.query_entities(query, parameters=params,
                                              results_per_page=limit).by_page(
                continuation_token=decode_page_token(continuation))
            rows = list(next(pages, []))
            token = pages.continuation_token
        return [from_entity(Operation, row) for row in rows], encode_page_token(token)

    def counts(self) -> Counter[tuple[str, str]]:
        """(operation, status) → count over the whole log."""
        with storage_errors("operation log"):
            rows = self.table.query_entities("PartitionKey eq @pk", parameters={"pk": PARTITION},
                                             select=["operation", "status"])
            return Counter((row["operation"], row["status"]) for row in rows)


def encode_page_token(token: dict | None) -> str | None:
    """The SDK's continuation token as an opaque text for an API answer."""
    if not token:
        return None
    import base64
    import json

    return base64.urlsafe_b64encode(json.dumps(token).encode()).decode()


def decode_page_token(token: str | None) -> dict | None:
    """A page token from a request, back to the SDK's continuation token; anything
    else — it comes from outside — is `BadRequest`."""
    if not token:
        return None
    import base64
    import binascii

    from calbridge import untrusted_json
    from calbridge.errors import BadRequest

    try:
        value = untrusted_json.loads(base64.urlsafe_b64decode(token.encode()), "page token")
    except (binascii.Error, ValueError, BadRequest):
        raise BadRequest("invalid page token") from None
    # The SDK sends these as request headers: only its two keys, as short printable text.
    if not isinstance(value, dict) or not set(value) <= _TOKEN_KEYS or not all(
            isinstance(v, str) and len(v) <= 1024 and v.isprintable() for v in value.values()):
        raise BadRequest("invalid page token")
    return value
