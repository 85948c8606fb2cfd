"""Turning pydantic models into Table Storage entities and back, and translating
SDK errors into `calbridge.errors`."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from enum import Enum
from typing import Any, TypeVar

from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.data.tables import TableClient, TableTransactionError
from pydantic import BaseModel

from calbridge.errors import AlreadyExists, EtagConflict, NotFound, StorageUnavailable
from calbridge.store.transactions import submit

M = TypeVar("M", bound=BaseModel)
log = logging.getLogger(__name__)

# Table Storage properties are flat; these model field types are stored as JSON text.
_JSON_PREFIX = "json:"


# An entity-group transaction holds at most 100 entities of one partition and 4 MiB
# (the documented limits); rows are measured by their JSON, with room kept for each
# operation's multipart headers.
TRANSACTION_ROWS = 100
TRANSACTION_BYTES = 3 * 1024 * 1024
_ROW_OVERHEAD = 512


def row_size(entity: dict[str, Any]) -> int:
    """About what one row weighs in a transaction's body."""
    return len(json.dumps(entity, default=str)) + _ROW_OVERHEAD


_GENERATED_ID = re.compile(r"^[0-9a-f]{32}$")


def is_generated_id(value: str) -> bool:
    """Whether `value` has the shape of an id calbridge generates (`model.new_id`); any
    other value cannot name a stored row, and must not reach a key lookup."""
    return bool(_GENERATED_ID.fullmatch(value))


def key_hash(*parts: str) -> str:
    """A fixed-length key for values that may hold characters keys forbid (/ \\ # ?)."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]


def to_entity(model: BaseModel, partition_key: str, row_key: str, **extra: Any) -> dict[str, Any]:
    """Flatten a model: enums as values, nested structures as JSON, None left out."""
    entity: dict[str, Any] = {"PartitionKey": partition_key, "RowKey": row_key}
    for name, value in model:
        if name == "etag" or value is None:
            continue
        if isinstance(value, Enum):
            value = value.value
        elif isinstance(value, (list, dict, BaseModel)):
            value = _JSON_PREFIX + json.dumps(_plain(value), default=str)
        elif isinstance(value, datetime) or isinstance(value, (str, int, float, bool)):
            pass
        else:
            value = str(value)
        entity[name] = value
    entity.update(extra)
    return entity


def from_entity(model: type[M], entity: dict[str, Any]) -> M:
    """Rebuild a model from an entity, carrying its ETag."""
    data: dict[str, Any] = {}
    for name, value in entity.items():
        if isinstance(value, str) and value.startswith(_JSON_PREFIX):
            value = json.loads(value[len(_JSON_PREFIX):])
        data[name] = value
    metadata = getattr(entity, "metadata", None) or {}
    result = model.model_validate(data)
    if "etag" in model.model_fields:
        result.etag = metadata.get("etag")
    return result


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


# A query's filter may hold at most 15 comparisons (the Table service's limit): the
# partition's and 14 row keys.
KEYS_PER_QUERY = 14
# Queries of one look-up sent at once: the service answers them side by side.
QUERIES_IN_FLIGHT = 4


def rows_by_key(table: TableClient, partition: str, row_keys: Iterable[str],
                what: str) -> list[dict[str, Any]]:
    """The rows of one partition with these row keys, 14 keys a query; the queries of
    a look-up go `QUERIES_IN_FLIGHT` at once (each is a round trip of its own)."""
    keys = sorted(set(row_keys))
    groups = [keys[start:start + KEYS_PER_QUERY] for start in range(0, len(keys),
                                                                      KEYS_PER_QUERY)]

    def query(group: list[str]) -> list[dict[str, Any]]:
        params = {"pk": partition, **{f"rk{n}": key for n, key in enumerate(group)}}
        rows = " or ".join(f"RowKey eq @rk{n}" for n in range(len(group)))
        with storage_errors(what):
            return list(table.query_entities(f"PartitionKey eq @pk and ( {rows} )",
                                             parameters=params))

    if len(groups) <= 1:
        return [row for group in groups for row in query(group)]
    with ThreadPoolExecutor(max_workers=min(QUERIES_IN_FLIGHT, len(groups)),
                            thread_name_prefix="table-read") as pool:
        return [row for rows in pool.map(query, groups) for row in rows]


# Times an entity-group transaction whose answer was lost is sent again (`transact`).
LOST_ANSWER_RESENDS = 2


def transact(table: TableClient, operations: list[tuple],
             applied: Callable[[], list[dict[str, Any]] | None] | None = None
             ) -> list[dict[str, Any]]:
    """Submit one entity-group transaction (`transactions.submit`); its answers, one per
    operation. The SDK's pipeline never sends a POST again (not idempotent to it), so one
    whose answer was lost (the connection dropped, perhaps after the service applied it)
    is sent again here.
    Being atomic, it then either applies, or is refused for the rows the lost attempt
    wrote: `applied` reads them back and gives the answers when they are as sent (the
    lost attempt was ours), None when not (another worker's: the refusal is raised)."""
    lost = False
    for attempt in range(LOST_ANSWER_RESENDS + 1):
        try:
            return submit(table, operations)
        except (ServiceRequestError, ServiceResponseError) as exc:
            if attempt == LOST_ANSWER_RESENDS:
                raise
            lost = True
            log.warning("table transaction answer lost, sending it again",
                        extra={"table": table.table_name, "rows": len(operations),
                               "error": type(exc).__name__})
        except TableTransactionError:
            answers = applied() if lost and applied is not None else None
            if answers is None:
                raise
            return answers
    raise AssertionError("unreachable")


@contextmanager
def storage_errors(what: str) -> Iterator[None]:
    """Translate SDK errors raised inside the block."""
    try:
        yield
    except ResourceNotFoundError:
        raise NotFound(f"{what} not found") from None
    except ResourceExistsError:
        raise AlreadyExists(f"{what} already exists") from None
    except ResourceModifiedError:
        raise EtagConflict(f"{what} was changed by someone else; read it again") from None
    except TableTransactionError as exc:
        code = getattr(exc, "error_code", None) or ""
        if "ConditionNotSatisfied" in str(code) or getattr(exc, "status_code", 0) == 412:
            raise EtagConflict(f"{what} was changed by someone else; read it again") from None
        if "AlreadyExists" in str(code) or getattr(exc, "status_code", 0) == 409:
            raise AlreadyExists(f"{what} already exists") from None
        if "ResourceNotFound" in str(code) or getattr(exc, "status_code", 0) == 404:
            raise NotFound(f"{what} not found") from None
        raise StorageUnavailable(f"storage transaction on {what} failed: {code}") from None
    except (ServiceRequestError, ServiceResponseError):
        raise StorageUnavailable("storage is unreachable") from None
    except HttpResponseError as exc:
        raise StorageUnavailable(
            f"storage answered {exc.status_code} for {what}") from None
    except AzureError:
        raise StorageUnavailable(f"storage failed on {what}") from None

