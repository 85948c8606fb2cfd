"""Entity-group transactions, written and read by calbridge, sent through the Tables SDK.

`TableClient.submit_transaction` builds a transaction's multipart body with the standard
library's e-mail package and parses the answer with it again; at a hundred rows that is
tens of milliseconds of CPU per transaction, most of what a first sync of thousands of
events costs the host. The format is small and documented ("Performing entity group
transactions", Table service REST API): a `multipart/mixed` batch holding one changeset of
HTTP requests, answered by one HTTP response per request (or one error for the whole
changeset). Here it is written and read directly; the request still goes through the
SDK's pipeline (its shared-key signing, retry policy and transport), entities are still
serialised by the SDK, and failures raise the SDK's own errors, so `storage_errors`
translates them as before.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote
from uuid import uuid4

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError
from azure.core.rest import HttpRequest
from azure.data.tables import TableClient, TableTransactionError, UpdateMode
from azure.data.tables._serialize import _add_entity_properties

CRLF = "\r\n"
_STATUS = re.compile(r"^HTTP/1\.[01] (\d{3})")
_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)

Operation = tuple[Any, ...]


def submit(table: TableClient, operations: Iterable[Operation]) -> list[dict[str, Any]]:
    """Apply `operations` — `("create" | "update" | "upsert" | "delete", entity[,
    options])`, as `TableClient.submit_transaction` takes them — atomically, and return
    each one's metadata (`etag`) in order. Raises `TableTransactionError` (with the
    failing operation's status and error code) when the changeset is refused, and the
    SDK's `HttpResponseError` when the batch itself is."""
    operations = list(operations)
    if not operations:
        return []
    base = f"{table.scheme}://{table._primary_hostname}"  # the SDK's own URLs
    version = table.api_version
    changeset = f"changeset_{uuid4()}"
    batch = f"batch_{uuid4()}"
    lines = [f"--{batch}", f"Content-Type: multipart/mixed; boundary={changeset}", ""]
    for index, operation in enumerate(operations):
        method, path, headers, body = _request(table.table_name, operation)
        lines += [f"--{changeset}", "Content-Type: application/http",
                  "Content-Transfer-Encoding: binary", f"Content-ID: {index}", "",
                  f"{method} {base}/{path} HTTP/1.1"]
        headers = {"x-ms-version": version, "DataServiceVersion": "3.0",
                   "Accept": "application/json;odata=minimalmetadata", **headers}
        if body is not None:
            headers = {"Content-Type": "application/json",
                       "Content-Length": str(len(body.encode())), **headers}
        lines += [f"{name}: {value}" for name, value in headers.items()]
        lines += ["", body or ""]
    lines += [f"--{changeset}--", "", f"--{batch}--", ""]
    request = HttpRequest("POST", f"{base}/$batch", headers={
        "x-ms-version": version, "DataServiceVersion": "3.0",
        "MaxDataServiceVersion": "3.0;NetFx", "Accept": "application/json",
        "Content-Type": f"multipart/mixed; boundary={batch}"},
        content=CRLF.join(lines).encode())
    # Through the SDK's pipeline; streamed, so that it leaves the multipart body alone.
    response = table._client.send_request(request, stream=True)
    response.read()
    if response.status_code != 202:
        raise HttpResponseError(response=response)
    answers = _answers(response.text(), response.headers.get("Content-Type", ""))
    failed = [answer for answer in answers if not 200 <= answer[0] < 300]
    if failed or len(answers) != len(operations):
        status, _, body = failed[0] if failed else (500, {}, "")
        code, message = _error(body)
        error = TableTransactionError(message=message or f"transaction answered {status}",
                                      response=response)
        error.status_code, error.error_code = status, code
        raise error
    return [{"etag": headers.get("etag")} for _, headers, _ in answers]


def _request(table: str, operation: Operation) -> tuple[str, str, dict[str, str], str | None]:
    """Method, path, headers and JSON body of one operation of a changeset."""
    kind, entity = operation[0], operation[1]
    options: Mapping[str, Any] = operation[2] if len(operation) > 2 else {}
    key = (f"{quote(table)}(PartitionKey='{_key(entity['PartitionKey'])}',"
           f"RowKey='{_key(entity['RowKey'])}')")
    body = json.dumps(_add_entity_properties(entity))
    merge = options.get("mode", UpdateMode.MERGE) is UpdateMode.MERGE
    if kind == "create":
        return "POST", quote(table), {"Prefer": "return-no-content"}, body
    if kind == "upsert":
        return ("PATCH" if merge else "PUT"), key, {}, body
    if kind == "update":
        return ("PATCH" if merge else "PUT"), key, {"If-Match": _if_match(options)}, body
    if kind == "delete":
        return "DELETE", key, {"If-Match": _if_match(options)}, None
    raise ValueError(f"not an entity-group operation: {kind!r}")


def _key(value: str) -> str:
    """A key in a request's path: single quotes doubled, then percent-encoded."""
    return quote(value.replace("'", "''"), safe="")


def _if_match(options: Mapping[str, Any]) -> str:
    if options.get("match_condition") is MatchConditions.IfNotModified:
        return str(options["etag"])
    return "*"


def _answers(text: str, content_type: str) -> list[tuple[int, dict[str, str], str]]:
    """The HTTP answers inside a batch's answer: status, headers (lower-case) and body
    of each, in order."""
    found = _BOUNDARY.search(content_type)
    if found is None:
        return []
    answers = []
    for part in _parts(text, found.group(1)):
        inner = _BOUNDARY.search(part.split("\n\n", 1)[0]) if part.lower().startswith(
            "content-type: multipart/mixed") else None
        for piece in (_parts(part, inner.group(1)) if inner else [part]):
            answer = _answer(piece)
            if answer is not None:
                answers.append(answer)
    return answers


def _parts(text: str, boundary: str) -> list[str]:
    """The parts between `--boundary` lines, newlines made plain."""
    text = text.replace(CRLF, "\n")
    pieces = text.split(f"--{boundary}")
    return [piece.strip("\n") for piece in pieces[1:]
            if not piece.startswith("--")]


def _answer(part: str) -> tuple[int, dict[str, str], str] | None:
    """An `application/http` part: the response after its own MIME headers."""
    _, _, message = part.partition("\n\n")
    head, _, body = message.partition("\n\n")
    lines = head.split("\n")
    status = _STATUS.match(lines[0]) if lines else None
    if status is None:
        return None
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status.group(1)), headers, body.strip()


def _error(body: str) -> tuple[str, str]:
    """The error code and message of a refused operation's JSON body."""
    try:
        error = json.loads(body).get("odata.error", {})
    except (ValueError, AttributeError):
        return "", body[:200]
    message = error.get("message")
    return (str(error.get("code", "")),
            str(message.get("value", "") if isinstance(message, dict) else message or ""))
