"""Every HTTP route against every caller: no key (401 on management routes), the booking
system's key (its two routes and the anonymous webhooks only, 403 elsewhere, also before
a 405) and the operator's key (everything). Through the local host on loopback, and
through the app alone, as in Azure where the platform has already accepted the key."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import azure.functions as func
import pytest
import requests

from calbridge import bootstrap
from calbridge.config import Settings
from calbridge.functions.callers import Caller, checks_key_itself
from calbridge.host.app import HttpFunction, load_app, load_host_config
from calbridge.host.server import FunctionsHttpServer
from calbridge.store.memory import MemoryStorage

OPERATOR_KEY = "operator-key-for-tests"
BOOKING_KEY = "booking-system-key-for-tests"
KEYS = {None: None, Caller.BOOKING_SYSTEM: BOOKING_KEY, Caller.OPERATOR: OPERATOR_KEY}
# What a booking system calls (usage guide: its integration calls these after a booking
# is created, updated or cancelled); its change webhook is anonymous and signed.
BOOKING_SYSTEM_ROUTES = {"sync/item/{item_type}/{item_id}/{resource_id}",
                         "cancel/booking/{item_type}/{item_id}/{resource_id}"}


@dataclass(frozen=True)
class Case:
    function: HttpFunction
    method: str
    path: str

    def __str__(self) -> str:
        return f"{self.method} /{self.function.route}"


def _cases() -> list[Case]:
    functions = load_app("function_app:app").http
    return [Case(f, method, "/" + re.sub(r"\{[^}]+\}", "x1", f.route))
            for f in functions for method in sorted(f.methods)]


CASES = _cases()


def expected(case: Case, caller: Caller | None) -> int | None:
    """401/403 when the caller must be refused; None when it must get through."""
    if case.function.anonymous and not checks_key_itself(case.function.handler):
        return None
    if caller is None:
        return 401
    if caller is Caller.BOOKING_SYSTEM and case.function.route not in BOOKING_SYSTEM_ROUTES:
        return 403
    return None


@pytest.fixture(scope="module")
def app_container() -> Iterator[bootstrap.Container]:
    storage = MemoryStorage()
    storage.ensure()
    settings = Settings.from_env({"AzureWebJobsStorage": "UseDevelopmentStorage=true",
                                  "CALBRIDGE_BRIDGES": "",
                                  "CALBRIDGE_FUNCTION_KEY": OPERATOR_KEY,
                                  "CALBRIDGE_BOOKING_SYSTEM_KEY": BOOKING_KEY})
    built = bootstrap.Container(settings=settings, storage=storage, bridges={})
    bootstrap.use(built)
    yield built
    bootstrap.use(None)


@pytest.fixture(scope="module")
def host(app_container: bootstrap.Container) -> Iterator[str]:
    config = load_host_config(Path(__file__).resolve().parents[2] / "host.json")
    server = FunctionsHttpServer(("127.0.0.1", 0), load_app("function_app:app").http,
                                 config.route_prefix, OPERATOR_KEY,
                                 booking_system_key=BOOKING_KEY)
    server.start_background()
    yield server.url
    server.shutdown()
    server.server_close()


def test_every_route_is_covered() -> None:
    routes = {case.function.route for case in CASES}
    assert BOOKING_SYSTEM_ROUTES <= routes
    assert len(routes) > 40


@pytest.mark.parametrize("caller", list(KEYS), ids=lambda c: str(c or "no key"))
@pytest.mark.parametrize("case", CASES, ids=str)
def test_the_local_host_serves_each_caller_its_routes(host: str, case: Case,
                                                      caller: Caller | None) -> None:
    key = KEYS[caller]
    headers = {"x-functions-key": key} if key else {}
    answer = requests.request(case.method, host + case.path, headers=headers, timeout=30)
    want = expected(case, caller)
    if want is None:
        # The status page's forms are refused without their token whoever posts them.
        refused = answer.status_code in {401, 403} and not (
            answer.status_code == 403
            and answer.json()["error"]["code"] == "form_token_rejected")
        assert not refused, (answer.status_code, answer.text[:300])
    else:
        assert answer.status_code == want, (answer.status_code, answer.text[:300])
        assert answer.json()["success"] is False


@pytest.mark.parametrize("case", [c for c in CASES if not c.function.anonymous
                                  or checks_key_itself(c.function.handler)], ids=str)
def test_the_app_itself_refuses_the_booking_key_where_azure_accepted_it(
        app_container: bootstrap.Container, case: Case) -> None:
    # In Azure both keys are host keys the platform accepts; only the app can tell them
    # apart, so the check must hold with no local host in front.
    request = func.HttpRequest(method=case.method, url="https://calbridge.example" + case.path,
                               headers={"x-functions-key": BOOKING_KEY}, params={},
                               route_params={}, body=b"")
    answer = case.function.handler(request)
    if case.function.route in BOOKING_SYSTEM_ROUTES:
        assert answer.status_code != 403
    else:
        assert answer.status_code == 403
        assert b'"forbidden"' in answer.get_body() and BOOKING_KEY.encode() not in \
            answer.get_body()


@pytest.mark.parametrize("path", ["/mappings/resources", "/bridge/holds/x1/confirm",
                                  "/bridges/health"])
def test_a_wrong_method_is_refused_for_the_key_first(host: str, path: str) -> None:
    # 401/403 before 405: without the right key nobody learns which methods a route takes.
    assert requests.request("PATCH", host + path, timeout=30).status_code == 401
    booking = requests.request("PATCH", host + path, timeout=30,
                               headers={"x-functions-key": BOOKING_KEY})
    assert booking.status_code == 403 and "Allow" not in booking.headers
    operator = requests.request("PATCH", host + path, timeout=30,
                                headers={"x-functions-key": OPERATOR_KEY})
    assert operator.status_code == 405 and operator.headers["Allow"]


def test_a_booking_route_takes_the_key_as_a_code_parameter(host: str) -> None:
    answer = requests.post(host + "/sync/item/booking/b1/room_1",
                           params={"code": BOOKING_KEY}, timeout=30)
    assert answer.status_code not in {401, 403}
