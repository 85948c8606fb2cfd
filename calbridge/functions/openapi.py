"""`GET /openapi.json`: an OpenAPI 3.1 document of every HTTP route the app serves, built
from the app's registered functions (as the Functions host reads them) and the `@api`
declaration each handler carries — the models that parse its body and shape its answers
at run time — so the contract cannot drift from the code.

The document is readable without a key: it holds no setting, secret or data of a
deployment (only routes and schemas, the same for every calbridge of this version), and
tools that generate clients fetch it before they hold a key."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import azure.functions as func
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from calbridge.bootstrap import Container
from calbridge.functions.answers import ErrorAnswer
from calbridge.functions.callers import (
    BOOKING_SYSTEM_AND_OPERATOR,
    KEY_HEADER,
    KEY_PARAMETER,
    Caller,
    callers_of,
)
from calbridge.functions.contract import Body, Contract, RawBody, api, contract_of
from calbridge.host.app import HttpFunction, load_host_config, read_app

PATH = "openapi.json"
_PARAMETER = re.compile(r"\{\*?([A-Za-z_][A-Za-z0-9_]*)(?::[^}?]+)?\??\}")
_REF = "#/components/schemas/{model}"
_BODY_METHODS = {"POST", "PUT", "PATCH"}
_ROLES = {
    Caller.OPERATOR: "an operator's function key",
    Caller.BOOKING_SYSTEM: "the booking system's own key (CALBRIDGE_BOOKING_SYSTEM_KEY)",
}
_STATUS_TEXT = {200: "OK", 201: "Created", 202: "Accepted", 400: "Not JSON, or out of bounds",
                401: "No valid key (webhooks: a notification that cannot be trusted)",
                403: "This key does not reach this route",
                404: "Not found", 409: "In conflict with the current state",
                413: "Body too large", 422: "Invalid input (`error.details.fields` names it)",
                500: "A failure of calbridge (see its logs)",
                502: "A calendar system failed or refused", 503: "Storage or a calendar "
                "system is unavailable (retry later)"}


def openapi_path(route: str, prefix: str = "") -> tuple[str, list[str]]:
    """A Functions route template as an OpenAPI path (`{name:int}`, `{name?}`, `{*rest}`
    become `{name}`), and its parameters."""
    template = "/" + "/".join(p for p in (prefix.strip("/"), route.strip("/")) if p)
    return _PARAMETER.sub(r"{\1}", template), _PARAMETER.findall(template)


def _models(contracts: Iterable[Contract]) -> list[tuple[type[BaseModel], JsonSchemaMode]]:
    """Every model the contracts name: bodies as they are read, answers as they are sent."""
    wanted: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {
        (ErrorAnswer, "serialization"): None}
    for contract in contracts:
        if isinstance(contract.body, Body):
            for model in (contract.body.model, *contract.body.also):
                wanted[(model, "validation")] = None
        for answers in contract.answers.values():
            for answer in answers:
                if not isinstance(answer, str):
                    wanted[(answer, "serialization")] = None
    return list(wanted)


def _media(answer: type[BaseModel] | str, refs: dict[Any, Any]) -> tuple[str, dict[str, Any]]:
    if isinstance(answer, str):
        return answer, {"schema": {"type": "object"} if answer.endswith("json")
                        else {"type": "string"}}
    return "application/json", {"schema": refs[(answer, "serialization")]}


def _responses(contract: Contract, function: HttpFunction, has_parameters: bool,
               refs: dict[Any, Any]) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, answers in sorted(contract.answers.items()):
        content: dict[str, Any] = {}
        for answer in answers:
            media, schema = _media(answer, refs)
            if media in content:  # several models of one media type: any of them
                first = content[media]["schema"]
                listed = first["anyOf"] if "anyOf" in first else [first]
                content[media] = {"schema": {"anyOf": [*listed, schema["schema"]]}}
            else:
                content[media] = schema
        responses[str(status)] = {"description": _STATUS_TEXT.get(status, "Answer"),
                                  "content": content}
    for status in contract.error_statuses(function.anonymous, has_parameters):
        responses.setdefault(str(status), {"$ref": f"#/components/responses/Error{status}"})
    return responses


def _request_body(body: Body[Any] | RawBody, refs: dict[Any, Any]) -> dict[str, Any]:
    if isinstance(body, RawBody):
        return {"required": True, "description": body.description,
                "content": {body.media_type: {"schema": {"type": "object"}}}}
    forms = [refs[(model, "validation")] for model in (body.model, *body.also)]
    media: dict[str, Any] = {"schema": forms[0] if len(forms) == 1 else {"anyOf": forms}}
    if body.examples:
        media["examples"] = {name: {"value": value} for name, value in body.examples.items()}
    return {"required": not body.optional, "content": {"application/json": media},
            **({"description": body.description} if body.description else {})}


def _operation(function: HttpFunction, method: str, contract: Contract, parameters: list[str],
               refs: dict[Any, Any]) -> dict[str, Any]:
    callers = sorted(callers_of(function.handler))
    # The docstring's first paragraph is the summary, the rest the description.
    summary, _, rest = (function.handler.__doc__ or "").strip().partition("\n\n")
    who = "anonymous: each request is verified itself" if function.anonymous else (
        "callers: " + "; ".join(_ROLES[c] for c in callers))
    operation: dict[str, Any] = {
        "operationId": function.name if len(function.methods) == 1
        else f"{function.name}_{method.lower()}",
        "tags": [function.handler.__module__.rsplit(".", 1)[-1]],
        "summary": " ".join(summary.split()) or function.name.replace("_", " "),
        "description": " ".join([*rest.split(), f"({who})"]),
        "x-calbridge-callers": [c.value for c in callers],
        "parameters": [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"},
             **({"example": contract.path_examples[name]}
                if name in contract.path_examples else {})}
            for name in parameters] + [
            {"name": q.name, "in": "query", "required": False, "description": q.description,
             "schema": q.schema()} for q in contract.query],
        "responses": _responses(contract, function, bool(parameters), refs),
    }
    if function.anonymous:
        operation["security"] = []
    if contract.body is not None and method in _BODY_METHODS:
        operation["requestBody"] = _request_body(contract.body, refs)
    return operation


def document(functions: Iterable[HttpFunction], prefix: str = "") -> dict[str, Any]:
    """The OpenAPI 3.1 document of these HTTP functions. A function whose `@api` declares
    no answers (or that has none) cannot be documented: refused here, caught in tests."""
    declared: list[tuple[HttpFunction, Contract]] = []
    for function in sorted(functions, key=lambda f: (f.route, f.name)):
        contract = contract_of(function.handler)
        if contract is None or not contract.answers:
            raise TypeError(f"route {function.route!r} ({function.name}) declares no answers "
                            "to document: @api(answers={status: model or media type})")
        declared.append((function, contract))
    refs, defs = models_json_schema(_models(c for _, c in declared), ref_template=_REF)
    paths: dict[str, dict[str, Any]] = {}
    for function, contract in declared:
        path, parameters = openapi_path(function.route, prefix)
        for method in sorted(function.methods):
            paths.setdefault(path, {})[method.lower()] = _operation(
                function, method, contract, parameters, refs)
    error = refs[(ErrorAnswer, "serialization")]
    statuses = sorted({int(s) for item in paths.values() for op in item.values()
                       for s in op["responses"] if int(s) >= 400})
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "info": {
            "title": "calbridge",
            "version": _version(),
            "description": "Keeps booking-system reservations and Outlook, Google and CalDAV "
            "calendars in step. Management routes need a function key (header "
            f"`{KEY_HEADER}` or query `{KEY_PARAMETER}`); the booking system's own key "
            "reaches only the routes whose `x-calbridge-callers` name `booking_system`. "
            "Webhook routes are anonymous. A method a path does not serve answers 405; every "
            "error is the envelope `ErrorAnswer`.",
        },
        "servers": [{"url": "/"}],
        "security": [{"functionKey": []}, {"functionKeyQuery": []}],
        "paths": paths,
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {
                "functionKey": {"type": "apiKey", "in": "header", "name": KEY_HEADER},
                "functionKeyQuery": {"type": "apiKey", "in": "query", "name": KEY_PARAMETER},
            },
            "responses": {f"Error{status}": {
                "description": _STATUS_TEXT.get(status, "Error"),
                "content": {"application/json": {"schema": error}}} for status in statuses},
        },
    }


def _version() -> str:
    try:
        return version("calbridge")
    except PackageNotFoundError:  # run from a checkout that was not installed
        return "0.0.0"


def _host_prefix() -> str:
    # host.json beside the app (the package's parent folder, in Azure as locally).
    return load_host_config(Path(__file__).resolve().parents[2] / "host.json").route_prefix


def blueprint(app: func.FunctionApp) -> func.Blueprint:
    """The blueprint serving `/openapi.json` for `app` (register it last or first: the
    document is built at the first request, from every route registered by then)."""
    bp = func.Blueprint()

    @cache
    def built() -> bytes:
        return json.dumps(document(read_app(app).http, _host_prefix())).encode()

    @bp.route(route=PATH, methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
    @api(callers=BOOKING_SYSTEM_AND_OPERATOR, answers={200: "application/json"})
    def show_openapi_document(req: func.HttpRequest, c: Container) -> func.HttpResponse:
        """This document: every route, its parameters, bodies, answers and errors."""
        return func.HttpResponse(built(), status_code=200, mimetype="application/json",
                                 charset="utf-8", headers={"X-Content-Type-Options": "nosniff"})

    return bp
