"""The OpenAPI contract (`GET /openapi.json`): every route the app registers is documented
with each of its methods, nothing is documented that the host would not serve, the
document is valid OpenAPI 3.1, and the guide's examples in it are bodies the routes read."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
from openapi_spec_validator import validate
from pydantic import BaseModel, ConfigDict

from calbridge.functions.answers import Envelope
from calbridge.functions.contract import HTML, Body, Reply, api, contract_of, ok
from calbridge.functions.openapi import document, openapi_path
from calbridge.host.app import load_app, load_host_config, read_app
from calbridge.host.routing import Router

ROOT = Path(__file__).resolve().parents[2]
PREFIX = load_host_config(ROOT / "host.json").route_prefix
FUNCTIONS = load_app("function_app").http


@pytest.fixture(scope="module")
def contract() -> dict[str, Any]:
    return document(FUNCTIONS, PREFIX)


def operations(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in doc["paths"].items() for method in item}


def test_the_document_is_valid_openapi_3_1(contract: dict[str, Any]) -> None:
    validate(contract)
    assert contract["openapi"] == "3.1.0"
    json.dumps(contract)  # what the route sends


def test_every_registered_route_and_method_is_documented(contract: dict[str, Any]) -> None:
    registered = {(method, openapi_path(f.route, PREFIX)[0]) for f in FUNCTIONS
                  for method in f.methods}
    assert registered == operations(contract)
    # The guide's compatibility routes, the anonymous webhooks and the contract itself.
    assert {("POST", "/sync/item/{item_type}/{item_id}/{resource_id}"),
            ("GET", "/bridges/sync-deletionsion-stats"),
            ("POST", "/webhook/outlook-notifications"),
            ("GET", "/openapi.json")} <= operations(contract)


def test_everything_documented_is_served_by_the_host(contract: dict[str, Any]) -> None:
    """Each documented path and method, its parameters filled in, reaches a function of the
    local host's router with that method: nothing is documented that answers 404 or 405."""
    router = Router(FUNCTIONS, PREFIX)
    for method, path in operations(contract):
        concrete = re.sub(r"\{[^}]+\}", "x1", path)
        chosen, _, _ = router.match(method, concrete)
        assert chosen is not None, f"{method} {path} is documented but not served"
        assert openapi_path(chosen.route, PREFIX)[0] == path


def test_keyed_and_anonymous_routes_and_who_calls_them(contract: dict[str, Any]) -> None:
    schemes = contract["components"]["securitySchemes"]
    assert schemes["functionKey"] == {"type": "apiKey", "in": "header",
                                      "name": "x-functions-key"}
    assert schemes["functionKeyQuery"] == {"type": "apiKey", "in": "query", "name": "code"}
    paths = contract["paths"]
    item = paths["/sync/item/{item_type}/{item_id}/{resource_id}"]["post"]
    assert item["x-calbridge-callers"] == ["booking_system", "operator"]
    assert {"401", "403", "404", "422"} <= set(item["responses"])
    mapping = paths["/mappings/resources"]["post"]
    assert mapping["x-calbridge-callers"] == ["operator"]
    assert "security" not in mapping  # the document's default: a function key
    for path in ("/webhook/outlook-notifications", "/bridges/webhook/{bridge}",
                 "/openapi.json"):
        for operation in paths[path].values():
            assert operation["security"] == []
            assert "403" not in operation["responses"]  # no key is refused
    assert "401" not in paths["/openapi.json"]["get"]["responses"]


def test_errors_are_the_shared_envelope(contract: dict[str, Any]) -> None:
    responses = contract["components"]["responses"]
    assert {"Error400", "Error401", "Error403", "Error404", "Error413", "Error422",
            "Error502", "Error503"} <= set(responses)
    error = contract["components"]["schemas"]["ErrorAnswer"]
    assert error["required"] == ["success", "error"]
    body = contract["paths"]["/mappings/resources"]["post"]["responses"]
    assert body["422"] == {"$ref": "#/components/responses/Error422"}
    assert body["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/MappingCreated"}


def test_query_parameters_are_documented(contract: dict[str, Any]) -> None:
    completed = contract["paths"]["/bridge/completed"]["get"]["parameters"]
    assert [p["name"] for p in completed] == ["limit", "status", "page_token"]
    conflicts = contract["paths"]["/bridge/conflicts"]["get"]["parameters"]
    assert conflicts[0]["schema"]["enum"] == ["open", "resolved", "all", ""]  # "": absent


def test_handlers_read_query_parameters_only_through_their_declaration() -> None:
    """A handler reading `req.params` itself would take a parameter the contract does not
    show: query values are read by the `Query` objects its `@api(query=...)` names."""
    for module in sorted((ROOT / "calbridge" / "functions").glob("*.py")):
        if module.name != "contract.py":
            assert "req.params.get(" not in module.read_text(), module.name


def test_the_guides_examples_are_bodies_the_routes_read(contract: dict[str, Any]) -> None:
    """Each example in the document validates with the model its route reads it with."""
    shown = 0
    served = {(m, openapi_path(f.route, PREFIX)[0]): f for f in FUNCTIONS for m in f.methods}
    for path, item in contract["paths"].items():
        for method, operation in item.items():
            media = operation.get("requestBody", {}).get("content", {}).get(
                "application/json", {})
            for example in media.get("examples", {}).values():
                body = contract_of(served[(method.upper(), path)].handler).body
                assert isinstance(body, Body)
                body.model.model_validate(example["value"], context={})
                shown += 1
    mapping = contract["paths"]["/mappings/resources"]["post"]["requestBody"]
    assert mapping["content"]["application/json"]["examples"]["guide"]["value"][
        "booking_system_resource_id"] == "room_123"
    assert shown >= 6


# ------------------------------------------------------------------ routes added later


class Page(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str


class Shown(Envelope):
    page: Page


def _app(declared: bool) -> func.FunctionApp:
    app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)

    @app.route(route="status-page", methods=["GET"])
    @api(answers={200: HTML})
    def show_status_page(req: func.HttpRequest, c: Any) -> func.HttpResponse:
        return func.HttpResponse("<p>ok</p>", mimetype="text/html")

    @app.route(route="pages/{page_id}", methods=["PUT"])
    @api(answers={200: Shown}, body=Body(Page))
    def change_page(req: func.HttpRequest, c: Any, body: Page) -> Reply:
        return ok(page=body)

    if not declared:
        @app.route(route="undeclared", methods=["GET"])
        @api
        def show_undeclared(req: func.HttpRequest, c: Any) -> func.HttpResponse:
            return func.HttpResponse("<p>a page</p>", mimetype="text/html")

    return app


def test_a_route_added_later_is_documented_html_answers_included() -> None:
    doc = document(read_app(_app(declared=True)).http)
    validate(doc)
    page = doc["paths"]["/status-page"]["get"]["responses"]["200"]
    assert page["content"] == {"text/html": {"schema": {"type": "string"}}}
    change = doc["paths"]["/pages/{page_id}"]["put"]
    assert change["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Page"}
    assert {"400", "404", "413", "422"} <= set(change["responses"])


def test_a_route_without_a_declaration_cannot_be_documented() -> None:
    with pytest.raises(TypeError, match=r"'undeclared'.*declares no answers"):
        document(read_app(_app(declared=False)).http)
