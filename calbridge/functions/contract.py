"""What each HTTP route promises, declared once on its handler with `@api(...)`: who may
call it, the query parameters it reads, the body it takes and the answers it gives. The
same declaration parses requests and shapes answers at run time and is what
`/openapi.json` documents, so the contract cannot drift from the code."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import azure.functions as func
from pydantic import BaseModel, ValidationError

from calbridge.bootstrap import Container, container
from calbridge.errors import CalbridgeError, Forbidden, ValidationFailed
from calbridge.functions.callers import (
    CALLERS_ATTRIBUTE,
    OPERATOR_ONLY,
    Caller,
    caller_of,
    presented_key,
)
from calbridge.functions.http import (
    as_trigger,
    error_response,
    in_written_order,
    json_response,
    read_json,
    validation_failed,
)

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)
# The attribute a route's handler carries with its declaration.
CONTRACT_ATTRIBUTE = "calbridge_contract"
# Media types of answers that are not JSON envelopes (a handshake echo, an HTML page).
PLAIN_TEXT = "text/plain"
HTML = "text/html"


# ------------------------------------------------------------------ query parameters


def _invalid_query(name: str, message: str, expected: str) -> ValidationFailed:
    return ValidationFailed(message, details={"fields": [{"field": name, "message": expected}]})


@dataclass(frozen=True)
class QueryText:
    """A text query parameter; with `choices`, 422 for any other value."""

    name: str
    description: str
    choices: tuple[str, ...] = ()
    default: str | None = None

    def read(self, req: func.HttpRequest) -> str | None:
        value = req.params.get(self.name) or self.default
        if self.choices and value is not None and value not in self.choices:
            raise _invalid_query(self.name, f"{self.name} must be {_either(self.choices)}",
                                 f"unknown {self.name}")
        return value

    def schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "string"}
        if self.choices:  # empty is absent
            schema["enum"] = [*self.choices, ""]
        if self.default is not None:
            schema["default"] = self.default
        return schema


@dataclass(frozen=True)
class QueryFlag:
    """A true/false query parameter (`true|1|yes`, `false|0|no`); absent or empty: None."""

    name: str
    description: str
    TRUE = ("true", "1", "yes")
    FALSE = ("false", "0", "no")

    def read(self, req: func.HttpRequest) -> bool | None:
        value = req.params.get(self.name)
        if value is None or value == "":
            return None
        if value.lower() in self.TRUE:
            return True
        if value.lower() in self.FALSE:
            return False
        raise _invalid_query(self.name, f"query parameter {self.name} must be true or false",
                             "expected a boolean")

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "enum": [*self.TRUE, *self.FALSE, ""]}


@dataclass(frozen=True)
class QueryNumber:
    """A whole-number query parameter, clamped to [low, high]; 422 unless it is digits."""

    name: str
    description: str
    default: int
    low: int
    high: int

    def read(self, req: func.HttpRequest) -> int:
        value = req.params.get(self.name)
        if value is None or value == "":
            return self.default
        if not (value.isascii() and value.isdigit()):
            raise _invalid_query(self.name, f"query parameter {self.name} must be a whole "
                                 "number", "expected digits")
        # Compared by length first: int() refuses thousands of digits.
        if len(value.lstrip("0")) > len(str(self.high)):
            return self.high
        return max(self.low, min(int(value), self.high))

    def schema(self) -> dict[str, Any]:
        # Larger values are clamped, not refused: any run of digits is valid.
        return {"type": "string", "pattern": "^[0-9]*$", "default": str(self.default),
                "description": f"clamped to {self.low}…{self.high}"}


Query = QueryText | QueryFlag | QueryNumber


def _either(choices: tuple[str, ...]) -> str:
    return ", ".join(choices[:-1]) + f" or {choices[-1]}" if len(choices) > 1 else choices[0]


# ------------------------------------------------------------------ bodies and answers


@dataclass(frozen=True)
class Body(Generic[M]):
    """A JSON body validated by `model` (413 over the size limit, 400 when not JSON, 422
    naming the fields). `also`: other forms `model` reads (its validators convert them),
    documented beside it; `examples` are the usage guide's, shown in the contract; a
    `description` says what the schema cannot."""

    model: type[M]
    optional: bool = False
    also: tuple[type[BaseModel], ...] = ()
    examples: Mapping[str, Any] = field(default_factory=dict)
    # What the schema cannot say (a rule between fields).
    description: str = ""

    def read(self, req: func.HttpRequest, c: Container) -> M | None:
        return read_json(req, self.model, c.settings.max_body_bytes, optional=self.optional)


@dataclass(frozen=True)
class RawBody:
    """A body the handler's service reads and authenticates itself (a calendar system's
    notification): documented by its media type and description only."""

    description: str
    media_type: str = "application/json"


@dataclass(frozen=True)
class Reply:
    """A handler's JSON answer, checked against the route's declared model for its status
    before it is sent."""

    status: int
    payload: dict[str, Any]


def ok(status: int = 200, **payload: Any) -> Reply:
    """The guide's `{"success": true, ...}` envelope."""
    return Reply(status, {"success": True, **payload})


Answer = type[BaseModel] | str


@dataclass(frozen=True)
class Contract:
    """A route's declaration. `answers` maps each success status to its models or media
    types; `errors` lists the statuses of the error envelope it can give beyond those every
    route can (see `error_statuses`); `path_examples` are values of its path parameters."""

    callers: frozenset[Caller]
    answers: Mapping[int, tuple[Answer, ...]]
    body: Body[Any] | RawBody | None = None
    query: tuple[Query, ...] = ()
    errors: frozenset[int] = frozenset()
    path_examples: Mapping[str, str] = field(default_factory=dict)

    def shape(self, reply: Reply) -> func.HttpResponse:
        """The reply as its declared model serialises it; an undeclared status or a payload
        that does not fit its model is this app's error, never sent as it is."""
        models = [a for a in self.answers.get(reply.status, ()) if not isinstance(a, str)]
        if not models:
            raise CalbridgeError(f"answer status {reply.status} is not declared")
        for model in models:  # several: the first that fits (each forbids extra fields)
            try:
                shaped = model.model_validate(reply.payload)
                break
            except ValidationError as exc:
                failure = exc
        else:
            log.error("answer does not fit its declared model", extra={
                "models": [m.__name__ for m in models], "errors": failure.errors(
                    include_input=False, include_url=False)})
            raise CalbridgeError("internal error; see the logs")
        shown = in_written_order(shaped.model_dump(exclude_unset=True), reply.payload)
        return json_response(shown, reply.status)

    def error_statuses(self, anonymous: bool, path_parameters: bool) -> list[int]:
        """Statuses of the error envelope this route can answer with."""
        statuses = set(self.errors) | {500, 503}  # a failure of ours; storage unreachable
        if not anonymous:
            statuses |= {401, 403}
        if self.body is not None:
            statuses |= {400, 413, 422}
        if self.query:
            statuses.add(422)
        if path_parameters:
            statuses.add(404)
        return sorted(statuses)


def contract_of(handler: Callable[..., Any]) -> Contract | None:
    """The declaration a route's handler carries (None: a route not made with `@api`)."""
    return getattr(handler, CONTRACT_ATTRIBUTE, None)


def api(handler: Callable[..., Any] | None = None, *,
        callers: frozenset[Caller] = OPERATOR_ONLY,
        answers: Mapping[int, Answer | tuple[Answer, ...]] | None = None,
        body: Body[Any] | RawBody | None = None, query: tuple[Query, ...] = (),
        errors: tuple[int, ...] = (), path_examples: Mapping[str, str] | None = None) -> Any:
    """Wrap a trigger with its contract: refuse a caller it does not serve (403), read its
    JSON body (a third argument when declared with `Body`), give it the container, and
    send its `Reply` as the model declared for the status; every failure becomes a JSON
    error. A route without `answers` serves only what it builds itself (no `Reply`), and
    cannot be documented: `/openapi.json` refuses it, and so the tests."""
    if handler is None:
        return lambda inner: api(inner, callers=callers, answers=answers, body=body,
                                 query=query, errors=errors, path_examples=path_examples)
    contract = Contract(
        callers=callers, body=body, query=query, errors=frozenset(errors),
        path_examples=dict(path_examples or {}),
        answers={status: a if isinstance(a, tuple) else (a,)
                 for status, a in (answers or {}).items()})
    wrapped = handler

    def wrapper(req: func.HttpRequest) -> func.HttpResponse:
        try:
            c = container()
            caller = caller_of(presented_key(req.headers, req.params),
                               c.settings.booking_system_key)
            if caller not in callers:
                raise Forbidden(f"the {caller.value} key does not reach this route")
            args = (req, c, body.read(req, c)) if isinstance(body, Body) else (req, c)
            reply = wrapped(*args)
            return contract.shape(reply) if isinstance(reply, Reply) else reply
        except CalbridgeError as exc:
            if exc.status >= 500:
                log.warning("request failed", extra={"route": req.url.split("?")[0],
                                                      "code": exc.code})
            return error_response(exc)
        except ValidationError as exc:
            return error_response(validation_failed(exc))
        except Exception:
            log.exception("unhandled error", extra={"route": req.url.split("?")[0]})
            return error_response(CalbridgeError("internal error; see the logs"))

    as_trigger(wrapper, handler)
    setattr(wrapper, CALLERS_ATTRIBUTE, callers)
    setattr(wrapper, CONTRACT_ATTRIBUTE, contract)
    return wrapper

