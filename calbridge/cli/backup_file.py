"""The backup file: JSON Lines, a header line then one line per table entity.

    {"format": "calbridge-backup", "schema": 3, "created_at": "...", "tables": [...],
     "push_secrets": {"stored_as": "hmac-sha256", "key_id": "...", "note": "..."}}
    {"table": "BridgeResourceMappings", "entity": {"PartitionKey": "...", ...}}

Push subscriptions' client states are in it only as keyed hashes (the tables hold
nothing else): the header names the key (`key_id`, not the key) they verify under, so a
restore can tell whether the target has the same CALBRIDGE_PUSH_SECRET_KEY.

Entities keep their Table Storage types the way the Table service's own JSON does:
strings, booleans and 32-bit integers as plain JSON, every other type with a
`<name>@odata.type` annotation beside it (`Edm.DateTime` with the service's full
7-digit precision, `Edm.Int64` as a string, `Edm.Double`, `Edm.Guid`, `Edm.Binary` as
base64), so a restore writes back exactly the types it read.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from azure.data.tables import EdmType, EntityProperty

FORMAT = "calbridge-backup"
# Bump when a change makes older code unable to restore a file correctly; the storage
# schema's version (`calbridge.store.schema.CURRENT`). Older files are upgraded on restore.
SCHEMA = 3
ANNOTATION = "@odata.type"
KEYS = ("PartitionKey", "RowKey")


class NotABackup(ValueError):
    """The input is not a calbridge backup, or not one this code can restore."""


class NewerSchema(NotABackup):
    pass


PUSH_SECRETS_NOTE = (
    "Push subscriptions' client states (Microsoft Graph clientState, Google channel "
    "tokens) are stored only as keyed hashes (HMAC-SHA256 under CALBRIDGE_PUSH_SECRET_KEY); "
    "this file holds no usable push secret. Restore where CALBRIDGE_PUSH_SECRET_KEY is the "
    "key named by key_id, or delete and create the subscriptions again there "
    "(DELETE /webhook/delete/{id}, POST /webhook/create); until then their notifications "
    "are refused and polling keeps the calendars in step.")


def header(tables: Iterable[str], push_key_id: str,
           created_at: datetime | None = None) -> dict[str, Any]:
    stamp = (created_at or datetime.now(UTC)).astimezone(UTC)
    return {"format": FORMAT, "schema": SCHEMA,
            "created_at": stamp.isoformat(timespec="seconds").replace("+00:00", "Z"),
            "tables": list(tables),
            "push_secrets": {"stored_as": "hmac-sha256", "key_id": push_key_id,
                             "note": PUSH_SECRETS_NOTE}}


def push_key_id(header: Mapping[str, Any]) -> str | None:
    """The id of the key a backup's push secrets verify under (None: an older backup,
    whose plain client states the restore hashes under the target's key)."""
    described = header.get("push_secrets")
    key_id = described.get("key_id") if isinstance(described, dict) else None
    return key_id if isinstance(key_id, str) else None


def entity_line(table: str, entity: Mapping[str, Any]) -> bytes:
    return json.dumps({"table": table, "entity": encode_entity(entity)},
                      ensure_ascii=False, allow_nan=False).encode() + b"\n"


def encode_entity(entity: Mapping[str, Any]) -> dict[str, Any]:
    """An entity as the SDK returns it → JSON with `@odata.type` annotations."""
    encoded: dict[str, Any] = {}
    for name, value in entity.items():
        if value is None:
            continue
        edm, plain = _encode_value(value)
        encoded[name] = plain
        if edm is not None:
            encoded[name + ANNOTATION] = edm.value
    return encoded


def _encode_value(value: Any) -> tuple[EdmType | None, Any]:
    if isinstance(value, EntityProperty):  # typed by the SDK (Int64) or by our own code
        return _encode_typed(value.value, EdmType(value.edm_type))
    if isinstance(value, bool):
        return None, value
    if isinstance(value, int):
        in_int32 = -(2**31) <= value < 2**31
        return (None, value) if in_int32 else (EdmType.INT64, str(value))
    if isinstance(value, datetime):
        return _encode_typed(value, EdmType.DATETIME)
    if isinstance(value, float):
        return _encode_typed(value, EdmType.DOUBLE)
    if isinstance(value, UUID):
        return EdmType.GUID, str(value)
    if isinstance(value, bytes):
        return EdmType.BINARY, base64.b64encode(value).decode()
    if isinstance(value, str):
        return None, value
    raise TypeError(f"cannot back up a value of type {type(value).__name__}")


def _encode_typed(value: Any, edm: EdmType) -> tuple[EdmType | None, Any]:
    if edm is EdmType.DATETIME:
        if isinstance(value, str):
            return edm, value
        # The service keeps 7 fractional digits; the SDK hands them back here.
        service_value = getattr(value, "tables_service_value", "")
        if service_value:
            return edm, service_value
        return edm, value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if edm is EdmType.INT64:
        return edm, str(int(value))
    if edm is EdmType.INT32:
        return None, int(value)
    if edm is EdmType.DOUBLE:
        number = float(value)
        if math.isnan(number):
            return edm, "NaN"
        if math.isinf(number):
            return edm, "Infinity" if number > 0 else "-Infinity"
        return edm, number
    if edm is EdmType.BOOLEAN:
        return None, bool(value)
    if edm is EdmType.GUID:
        return edm, str(value)
    if edm is EdmType.BINARY:
        raw = value if isinstance(value, bytes) else base64.b64decode(value)
        return edm, base64.b64encode(raw).decode()
    return None, str(value)


def decode_entity(encoded: Mapping[str, Any]) -> dict[str, Any]:
    """JSON with annotations → an entity the SDK writes back with the same types."""
    entity: dict[str, Any] = {}
    for name, value in encoded.items():
        if name.endswith(ANNOTATION):
            if name[: -len(ANNOTATION)] not in encoded:
                raise NotABackup(f"type annotation {name!r} has no value")
            continue
        edm = encoded.get(name + ANNOTATION)
        entity[name] = _decode_value(name, value, edm)
    for key in KEYS:
        if not isinstance(entity.get(key), str):
            raise NotABackup(f"entity without a string {key}")
    return entity


def _decode_value(name: str, value: Any, edm_name: Any) -> Any:
    if edm_name is None:
        if isinstance(value, bool | str) or (isinstance(value, int) and -(2**31) <= value < 2**31):
            return value
        raise NotABackup(f"property {name!r}: untyped value {value!r} is not a string, "
                         "boolean or 32-bit integer")
    try:
        edm = EdmType(edm_name)
    except ValueError:
        raise NotABackup(f"property {name!r}: unknown type {edm_name!r}") from None
    try:
        if edm is EdmType.DATETIME:
            datetime.fromisoformat(_seven_digits_to_six(str(value)))  # validate only
            return EntityProperty(str(value), EdmType.DATETIME)
        if edm is EdmType.INT64:
            return EntityProperty(int(value), EdmType.INT64)
        if edm is EdmType.INT32:
            return EntityProperty(int(value), EdmType.INT32)
        if edm is EdmType.DOUBLE:
            number = value if value in {"NaN", "Infinity", "-Infinity"} else float(value)
            return EntityProperty(number, EdmType.DOUBLE)
        if edm is EdmType.BOOLEAN:
            if not isinstance(value, bool):
                raise ValueError(value)
            return EntityProperty(value, EdmType.BOOLEAN)
        if edm is EdmType.GUID:
            return UUID(str(value))
        if edm is EdmType.BINARY:
            return base64.b64decode(str(value), validate=True)
        return EntityProperty(str(value), EdmType.STRING)
    except (TypeError, ValueError):
        raise NotABackup(f"property {name!r}: {value!r} is not a valid {edm.value}") from None


def _seven_digits_to_six(text: str) -> str:
    head, dot, tail = text.rstrip("Z").partition(".")
    return f"{head}.{tail[:6]}+00:00" if dot else f"{head}+00:00"


def read_header(first_line: bytes, known_tables: Iterable[str]) -> dict[str, Any]:
    """The header, checked: a calbridge backup, a schema this code reads, known tables."""
    try:
        data = json.loads(first_line)
    except (UnicodeDecodeError, json.JSONDecodeError):
        data = None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise NotABackup("not a calbridge backup (the first line is no calbridge-backup "
                         "header)")
    schema = data.get("schema")
    if not isinstance(schema, int) or isinstance(schema, bool) or schema < 1:
        raise NotABackup(f"not a calbridge backup: invalid schema {schema!r}")
    if schema > SCHEMA:
        raise NewerSchema(f"the backup has schema {schema}, newer than this calbridge reads "
                          f"(up to {SCHEMA}): restore it with the calbridge version that "
                          "wrote it, or a newer one")
    tables = data.get("tables")
    if not isinstance(tables, list) or not all(isinstance(t, str) for t in tables):
        raise NotABackup("not a calbridge backup: the header lists no tables")
    unknown = sorted(set(tables) - set(known_tables))
    if unknown:
        raise NewerSchema(f"the backup holds tables this calbridge does not know "
                          f"({', '.join(unknown)}): was it written by a newer version?")
    return data


def read_entities(lines: Iterable[bytes], tables: Iterable[str],
                  first_line_number: int = 2) -> Iterator[tuple[str, dict[str, Any]]]:
    """(table, entity) for every entity line; `NotABackup` names the first bad line."""
    allowed = set(tables)
    for number, line in enumerate(lines, first_line_number):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            if not isinstance(data, dict) or not isinstance(data.get("entity"), dict):
                raise NotABackup("expected {\"table\": ..., \"entity\": {...}}")
            table = data.get("table")
            if table not in allowed:
                raise NotABackup(f"table {table!r} is not listed in the header")
            yield table, decode_entity(data["entity"])
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise NotABackup(f"line {number} is not JSON (is the file truncated?)") from None
        except NotABackup as exc:
            raise NotABackup(f"line {number}: {exc}") from None
