"""The contract a booking-system developer reads (`GET /openapi.json`, no key needed) holds
against the running host: a bounded, derandomized schemathesis run over every operation,
with the operator key, against a host with both real bridges (the example booking system
and the Graph emulator) and a mapped, synced, subscribed room. No answer is a 5xx, and
every answer's status, media type and body are those the document declares."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from calbridge.functions.openapi import document
from calbridge.host.app import load_app, load_host_config
from calbridge.host.azurite import Azurite
from emulators.graph import GraphEmulator
from examples.booking_system import BookingSystemServer
from tests.fixtures.booking import BookingApi
from tests.fixtures.graph import reset_graph
from tests.fixtures.host import E2E_BOOKING_KEY, FUNCTION_KEY, ROOT, Api, HostProcess
from tests.fixtures.two_bridges import ROOM, book, start_bridge

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


@pytest.fixture(scope="module")
def contract_host(azurite: Azurite, e2e_booking_system: BookingSystemServer,
                  graph_emulator: GraphEmulator, tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[HostProcess]:
    """A host with both bridges and push on, room_101 mapped, one booking synced and the
    room subscribed to: every listing has something real to show."""
    graph = reset_graph(graph_emulator)
    bookings = BookingApi(e2e_booking_system.base_url, E2E_BOOKING_KEY)
    host, api = start_bridge(azurite, e2e_booking_system, graph,
                             tmp_path_factory.mktemp("contract"), push=True)
    try:
        book(bookings, "Shown through the contract")
        assert api("POST", "/bridges/sync/booking_system/outlook").status_code == 200
        assert api("POST", "/webhook/create", json={"calendar_id": ROOM}).status_code == 201
        yield host
    finally:
        host.stop()
        bookings.close()
        graph.http.close()


@pytest.fixture(scope="module")
def contract(contract_host: HostProcess) -> dict[str, Any]:
    """The document as a client fetches it: anonymously."""
    answer = requests.get(f"{contract_host.url}/openapi.json", timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"].startswith("application/json")
    return answer.json()


# The document of the app's routes, built here as the host builds it (the test below
# shows the served one is the same), so each operation is a test of its own.
CONTRACT = document(load_app("function_app").http,
                    load_host_config(ROOT / "host.json").route_prefix)
schema = schemathesis.openapi.from_dict(CONTRACT)
# Bounded to keep the run near a minute: a few generated cases, valid and invalid, per
# operation, and the coverage phase's boundary values only for valid input (invalid bodies
# have their own corpus in test_bad_input.py).
# CALBRIDGE_CONTRACT_EXAMPLES=200 explores further, with invalid boundary values too.
EXAMPLES = int(os.environ.get("CALBRIDGE_CONTRACT_EXAMPLES", "6"))
if EXAMPLES <= 6:
    schema.config.phases.coverage.generation.modes = [GenerationMode.POSITIVE]


def test_the_served_document_is_built_from_the_apps_routes(
        contract: dict[str, Any], graph_emulator: GraphEmulator) -> None:
    assert contract == CONTRACT
    # Readable without a key, so it holds nothing of the deployment: no key, no secret.
    text = json.dumps(contract)
    for secret in (FUNCTION_KEY, E2E_BOOKING_KEY, graph_emulator.client_secret):
        assert secret not in text


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_documented(case: Any, contract_host: HostProcess) -> None:
    case.call_and_validate(base_url=contract_host.url,
                           headers={"x-functions-key": FUNCTION_KEY}, checks=CHECKS, timeout=30)


def test_a_key_is_still_needed_beside_the_public_contract(
        contract_host: HostProcess) -> None:
    answer = Api(contract_host.url, key=None)("GET", "/mappings/resources")
    assert answer.status_code == 401
    assert answer.json()["success"] is False


def test_a_webhook_error_names_its_fields_as_every_error_does(
        contract_host: HostProcess) -> None:
    """`details.fields` is `{field, message}` rows on every route, as the contract says:
    the notification parsers name the fields alone, the envelope completes them."""
    answer = requests.post(f"{contract_host.url}/webhook/outlook-notifications", json={},
                           timeout=30)
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["details"]["fields"] == [{"field": "value", "message": error["message"]}]
