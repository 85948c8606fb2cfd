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
from calbridge.errors import (
    BadRequest,
    CalbridgeError,
    PayloadTooLarge,
    UpstreamRejected,
    ValidationFailed,
)
from calbridge.functions.answers import ErrorAnswer, ErrorBody

log = logging.getLogger(__name__)
M = TypeVar("M", bound=BaseModel)


def json_response(payload: Any, status: int = 200) -> func.HttpResponse:
    body = json.dumps(payload, default=_json_default, ensure_ascii=False)
    return func.HttpResponse(body, status_code=status, mimetype="application/json",
                             charset="utf-8", headers={"Cache-Control": "no-store",
                                                       "X-Content-Type-Options": "nosniff"})


def in_written_order(shaped: Any, written: Any) -> Any:
    """`shaped` with its keys in the order the handler wrote them (a model dumps in the
    order of its fields), so answers read as they always have."""
    if isinstance(shaped, dict) and isinstance(written, dict):
        keys = [k for k in written if k in shaped] + [k for k in shaped if k not in written]
        return {k: in_written_order(shaped[k], written.get(k)) for k in keys}
    if isinstance(shaped, list) and isinstance(written, list):
        return [in_written_order(s, w) for s, w in zip(shaped, written, strict=False)]
    return shaped


def error_response(exc: CalbridgeError) -> func.HttpResponse:
    """The error envelope; `details.fields` always as `{field, message}` rows, whichever
    layer raised the error (some name the fields alone)."""
    error: dict[str, Any] = {"code": exc.code, "message": exc.message}
    if exc.details:
        fields = exc.details.get("fields")
        error["details"] = {**exc.details, "fields": [
            f if isinstance(f, dict) else {"field": str(f), "message": exc.message}
            for f in fields]} if isinstance(fields, list) else exc.details
    try:
        answer = ErrorAnswer(success=False, error=ErrorBody.model_validate(error))
    except ValidationError:
        # Details of an unforeseen shape: sent as they are rather than lose the error.
        log.warning("error details do not fit ErrorDetails", extra={"code": exc.code})
        return json_response({"success": False, "error": error}, exc.status)
    shown = in_written_order(answer.model_dump(exclude_unset=True),
                             {"success": False, "error": error})
    return json_response(shown, exc.status)


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


def as_trigger(wrapper: Callable[..., Any], handler: Callable[..., Any]) -> None:
    """Give a route's wrapper its handler's name and docs. Not functools.wraps: the
    Functions worker reads the signature, which must stay (req) -> HttpResponse."""
    for attribute in ("__module__", "__name__", "__qualname__", "__doc__"):
        setattr(wrapper, attribute, getattr(handler, attribute))
