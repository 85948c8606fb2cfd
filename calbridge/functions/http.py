"""HTTP in and out for every trigger: JSON bodies with size limits and schema checks,
the guide's `{"success": ...}` envelope, and errors turned into responses in one place."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import azure.functions as func
from pydantic import BaseModel, ValidationError

from calbridge import untrusted_json
from calbridge.bootstrap import Container, container
from calbridge.errors import (
    BadRequest,
    CalbridgeError,
    Forbidden,
    PayloadTooLarge,
    UpstreamRejected,
    ValidationFailed,
)
from calbridge.functions.callers import (
    CALLERS_ATTRIBUTE,
    OPERATOR_ONLY,
    Caller,
    caller_of,
    presented_key,
)

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)
Handler = Callable[[func.HttpRequest], func.HttpResponse]


def json_response(payload: Any, status: int = 200) -> func.HttpResponse:
    body = json.dumps(payload, default=_json_default, ensure_ascii=False)
    return func.HttpResponse(body, status_code=status, mimetype="application/json",
                             charset="utf-8", headers={"Cache-Control": "no-store",
                                                       "X-Content-Type-Options": "nosniff"})


def ok(status: int = 200, **payload: Any) -> func.HttpResponse:
    return json_response({"success": True, **payload}, status)


def error_response(exc: CalbridgeError) -> func.HttpResponse:
    error: dict[str, Any] = {"code": exc.code, "message": exc.message}
    if exc.details:
        error["details"] = exc.details
    return json_response({"success": False, "error": error}, exc.status)


def _json_default(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if hasattr(value, "isoformat"):
        text = value.isoformat()
        return text.replace("+00:00", "Z")
    return str(value)


def _field_errors(exc: ValidationError, field_name: Callable[[str], str] = str
                  ) -> list[dict[str, str]]:
    return [{"field": field_name(".".join(str(p) for p in err["loc"])) or "body",
             "message": err["msg"]} for err in exc.errors()]


def validation_failed(exc: ValidationError,
                      field_name: Callable[[str], str] = str) -> ValidationFailed:
    fields = _field_errors(exc, field_name)
    names = ", ".join(dict.fromkeys(f["field"] for f in fields))
    return ValidationFailed(f"invalid request body: {names}", details={"fields": fields})


def read_json(req: func.HttpRequest, model: type[M], max_bytes: int, *,
              optional: bool = False, context: dict[str, Any] | None = None,
              field_name: Callable[[str], str] = str) -> M | None:
    """Parse and validate a JSON body: 413 over `max_bytes`, 400 when not JSON (or JSON
    beyond `untrusted_json`'s limits), 422 naming the fields that violate the schema
    (as `field_name` calls them). An empty optional body is None; `context` goes to the
    model's validators."""
    declared = req.headers.get("content-length") or ""
    # isascii: "²" is a digit to isdigit() but not to int().
    if declared.isascii() and declared.isdigit() and (
            len(declared.lstrip("0")) > len(str(max_bytes)) or int(declared) > max_bytes):
        raise PayloadTooLarge(f"request body exceeds {max_bytes} bytes")
    raw = req.get_body() or b""
    if len(raw) > max_bytes:
        raise PayloadTooLarge(f"request body exceeds {max_bytes} bytes")
    if not raw.strip():
        if optional:
            return None
        raise BadRequest("a JSON request body is required")
    data = untrusted_json.loads(raw)
    if not isinstance(data, dict):
        raise ValidationFailed("request body must be a JSON object",
                               details={"fields": [{"field": "body",
                                                    "message": "expected an object"}]})
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise validation_failed(exc, field_name) from None


def query_bool(req: func.HttpRequest, name: str) -> bool | None:
    value = req.params.get(name)
    if value is None or value == "":
        return None
    lowered = value.lower()
    if lowered in {"true", "1", "yes"}:
        return True
    if lowered in {"false", "0", "no"}:
        return False
    raise ValidationFailed(f"query parameter {name} must be true or false",
                           details={"fields": [{"field": name, "message": "expected a boolean"}]})


def query_int(req: func.HttpRequest, name: str, default: int, *, low: int, high: int) -> int:
    """An integer query parameter, clamped to [low, high]; 422 unless it is digits."""
    value = req.params.get(name)
    if value is None or value == "":
        return default
    if not (value.isascii() and value.isdigit()):
        raise ValidationFailed(f"query parameter {name} must be a whole number",
                               details={"fields": [{"field": name,
                                                    "message": "expected digits"}]})
    # Compared by length first: int() refuses thousands of digits.
    return high if len(value.lstrip("0")) > len(str(high)) else max(low, min(int(value), high))


@contextmanager
def refused_input(**fields: str) -> Iterator[None]:
    """Around a service call that sends these request values straight to a calendar
    system: its refusing them as invalid (400/422) is the request's fault, so 422 naming
    them, with the upstream's answer in details. Use it only where the values came from
    the request — a refusal during a sync run is the upstream's error (502)."""
    try:
        yield
    except UpstreamRejected as exc:
        shown = ", ".join(f"{name} {value[:100]!r}" for name, value in fields.items())
        raise ValidationFailed(
            f"refused by the calendar system: {shown} ({exc.message})",
            details={"fields": [{"field": name, "message": "refused by the calendar system"}
                                for name in fields],
                     "upstream": exc.details}) from None


def api(handler: Callable[[func.HttpRequest, Container], func.HttpResponse] | None = None, *,
        callers: frozenset[Caller] = OPERATOR_ONLY) -> Any:
    """Wrap a trigger: refuse a caller it does not serve (403), give it the container;
    every failure becomes a JSON error. `@api` serves operators only; `@api(callers=...)`
    names who else may call."""
    if handler is None:
        return lambda inner: api(inner, callers=callers)
    wrapped = handler

    def wrapper(req: func.HttpRequest) -> func.HttpResponse:
        try:
            c = container()
            caller = caller_of(presented_key(req.headers, req.params),
                               c.settings.booking_system_key)
            if caller not in callers:
                raise Forbidden(f"the {caller.value} key does not reach this route")
            return wrapped(req, c)
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
    return wrapper


def as_trigger(wrapper: Handler, handler: Callable[..., Any]) -> None:
    """Give a route's wrapper its handler's name and docs. Not functools.wraps: the
    Functions worker reads the signature, which must stay (req) -> HttpResponse."""
    for attribute in ("__module__", "__name__", "__qualname__", "__doc__"):
        setattr(wrapper, attribute, getattr(handler, attribute))
