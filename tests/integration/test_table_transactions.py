"""Entity-group transactions as calbridge writes them (`calbridge.store.transactions`),
against Azurite, compared with what the Tables SDK's own `submit_transaction` stores."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from azure.core import MatchConditions
from azure.data.tables import (
    EdmType,
    EntityProperty,
    TableClient,
    TableServiceClient,
    UpdateMode,
)

from calbridge.errors import AlreadyExists, EtagConflict, NotFound
from calbridge.host.azurite import Azurite
from calbridge.store.entities import storage_errors
from calbridge.store.transactions import submit


@pytest.fixture
def table(azurite: Azurite) -> Iterator[TableClient]:
    service = TableServiceClient.from_connection_string(azurite.connection_string)
    client = service.create_table_if_not_exists("Transactions")
    yield client
    service.delete_table("Transactions")


def row(partition: str, key: str, **values: Any) -> dict[str, Any]:
    return {"PartitionKey": partition, "RowKey": key, **values}


KEYS = ["plain", "it's", "déjà vu", "50% off", "a+b=c&d", "ünïcødé 'quoted' twice''"]
VALUES = {"title": "Réunion du conseil — salle 3 <b>&amp;</b>", "count": 7, "ratio": 0.25,
          "flag": True, "at": datetime(2026, 12, 3, 9, 30, tzinfo=UTC),
          "big": EntityProperty(2**40, EdmType.INT64), "empty": "",
          "long": "x" * 30_000, "json": '{"a": [1, 2, "é"]}'}


def stored(table: TableClient, partition: str) -> dict[str, dict[str, Any]]:
    return {entity["RowKey"]: {name: value for name, value in entity.items()}
            for entity in table.query_entities("PartitionKey eq @p", parameters={"p": partition})}


def test_rows_are_stored_as_the_sdk_stores_them(table: TableClient) -> None:
    table.submit_transaction([("create", row("sdk", key, **VALUES)) for key in KEYS])
    answers = submit(table, [("create", row("ours", key, **VALUES)) for key in KEYS])
    ours, theirs = stored(table, "ours"), stored(table, "sdk")
    assert sorted(ours) == sorted(KEYS)
    for key in KEYS:
        assert {k: v for k, v in ours[key].items() if k != "PartitionKey"} == {
            k: v for k, v in theirs[key].items() if k != "PartitionKey"}
    etags = [table.get_entity("ours", key).metadata["etag"] for key in KEYS]
    assert [answer["etag"] for answer in answers] == etags


def test_updates_upserts_and_deletes_in_one_transaction(table: TableClient) -> None:
    submit(table, [("create", row("p", key, title="old", keep="kept")) for key in KEYS[:4]])
    etag = table.get_entity("p", KEYS[0]).metadata["etag"]
    answers = submit(table, [
        ("update", row("p", KEYS[0], title="replaced"),
         {"mode": UpdateMode.REPLACE, "etag": etag,
          "match_condition": MatchConditions.IfNotModified}),
        ("update", row("p", KEYS[1], title="merged"), {"mode": UpdateMode.MERGE}),
        ("upsert", row("p", KEYS[2], title="upserted"), {"mode": UpdateMode.REPLACE}),
        ("upsert", row("p", "new one", title="new"), {"mode": UpdateMode.MERGE}),
        ("delete", row("p", KEYS[3])),
    ])
    rows = stored(table, "p")
    assert rows[KEYS[0]]["title"] == "replaced" and "keep" not in rows[KEYS[0]]
    assert rows[KEYS[1]]["title"] == "merged" and rows[KEYS[1]]["keep"] == "kept"
    assert rows[KEYS[2]]["title"] == "upserted" and "keep" not in rows[KEYS[2]]
    assert rows["new one"]["title"] == "new"
    assert KEYS[3] not in rows
    assert answers[0]["etag"] == table.get_entity("p", KEYS[0]).metadata["etag"]
    assert answers[0]["etag"] != etag


@pytest.mark.parametrize(("refused", "error"), [
    (("create", row("p", "there")), AlreadyExists),
    (("update", row("p", "there", title="late"),
      {"mode": UpdateMode.REPLACE, "etag": 'W/"datetime\'2020-01-01T00%3A00%3A00.0000000Z\'"',
       "match_condition": MatchConditions.IfNotModified}), EtagConflict),
    (("update", row("p", "missing", title="x"), {"mode": UpdateMode.MERGE}), NotFound),
    (("delete", row("p", "missing")), NotFound),
])
def test_a_refused_operation_refuses_the_whole_transaction(
        table: TableClient, refused: tuple, error: type[Exception]) -> None:
    table.create_entity(row("p", "there", title="first"))
    with pytest.raises(error), storage_errors("rows"):
        submit(table, [("create", row("p", "a")), refused, ("create", row("p", "b"))])
    assert sorted(stored(table, "p")) == ["there"]
    assert stored(table, "p")["there"]["title"] == "first"
