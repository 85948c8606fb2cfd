"""Pure parts of the local host: NCRONTAB schedules, routes, host.json, settings."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import azure.functions as func
import pytest

from calbridge.host.app import (
    HttpFunction,
    load_host_config,
    load_local_settings,
    read_app,
    resolve_setting_expression,
)
from calbridge.host.routing import Router
from calbridge.ncrontab import Schedule

MONDAY = datetime(2026, 11, 30, 10, 3, 7, tzinfo=UTC)


@pytest.mark.parametrize(("expression", "expected"), [
    ("0 */5 * * * *", datetime(2026, 11, 30, 10, 5, tzinfo=UTC)),
    ("*/10 * * * * *", datetime(2026, 11, 30, 10, 3, 10, tzinfo=UTC)),
    ("0 0 2 * * *", datetime(2026, 12, 1, 2, 0, tzinfo=UTC)),
    ("0 30 9 * * 1-5", datetime(2026, 12, 1, 9, 30, tzinfo=UTC)),
    ("0 0 0 1 jan *", datetime(2027, 1, 1, tzinfo=UTC)),
    ("0 0 12 * * sun", datetime(2026, 12, 6, 12, tzinfo=UTC)),
    ("5,35 * * * * *", datetime(2026, 11, 30, 10, 3, 35, tzinfo=UTC)),
])
def test_next_occurrence(expression: str, expected: datetime) -> None:
    assert Schedule.parse(expression).next_after(MONDAY) == expected


def test_every_occurrence_is_strictly_later() -> None:
    schedule = Schedule.parse("*/15 * * * * *")
    moment = MONDAY
    for _ in range(10):
        following = schedule.next_after(moment)
        assert following - moment <= timedelta(seconds=15) and following > moment
        moment = following


@pytest.mark.parametrize("expression", ["* * * * *", "61 * * * * *", "0 0 0 32 * *",
                                        "a b c d e f", "*/0 * * * * *"])
def test_malformed_schedules_are_refused(expression: str) -> None:
    with pytest.raises(ValueError):
        Schedule.parse(expression)


def _function(route: str, *methods: str) -> HttpFunction:
    return HttpFunction(name=route, route=route, methods=frozenset(methods or ("GET",)),
                        anonymous=False, handler=lambda req: None)


def test_routes_prefer_literals_and_decode_parameters() -> None:
    router = Router([_function("bridges/{name}/calendars"), _function("bridges/health"),
                     _function("bridges/{name}"), _function("files/{*path}")], prefix="")
    assert router.match("GET", "/bridges/health")[0].route == "bridges/health"
    function, params, _ = router.match("GET", "/bridges/out%2Flook/calendars")
    assert function.route == "bridges/{name}/calendars" and params == {"name": "out/look"}
    assert router.match("GET", "/files/a/b/c")[1] == {"path": "a/b/c"}
    function, params, candidates = router.match("POST", "/bridges/health")
    assert function is None
    assert [f.route for f in candidates] == ["bridges/health", "bridges/{name}"]
    assert router.match("GET", "/nothing") == (None, {}, ())


def test_a_path_names_every_route_it_matches_whatever_the_method() -> None:
    webhook = HttpFunction(name="hook", route="hooks/{name}", methods=frozenset({"POST"}),
                           anonymous=True, handler=lambda req: None)
    router = Router([_function("hooks/special", "GET"), webhook], prefix="")
    function, _, candidates = router.match("PATCH", "/hooks/special")
    assert function is None
    assert [(f.route, f.anonymous) for f in candidates] == [("hooks/special", False),
                                                            ("hooks/{name}", True)]
    assert router.match("POST", "/hooks/special")[0] is webhook


def test_route_prefix_applies() -> None:
    router = Router([_function("bridges")], prefix="api")
    assert router.match("GET", "/api/bridges")[0] is not None
    assert router.match("GET", "/bridges")[0] is None


def test_host_json_and_local_settings(tmp_path: Path) -> None:
    (tmp_path / "host.json").write_text(json.dumps({"extensions": {
        "http": {"routePrefix": ""}, "queues": {"maxDequeueCount": 3,
                                                "visibilityTimeout": "00:00:30"}}}))
    config = load_host_config(tmp_path / "host.json")
    assert config.route_prefix == "" and config.queues.max_dequeue_count == 3
    assert config.queues.visibility_timeout == timedelta(seconds=30)
    assert load_host_config(tmp_path / "absent.json").route_prefix == "api"

    (tmp_path / "local.settings.json").write_text(json.dumps({"Values": {"A": "1", "B": "2"}}))
    env = {"B": "from-environment"}
    assert load_local_settings(tmp_path / "local.settings.json", env) == {"A": "1"}
    assert env == {"A": "1", "B": "from-environment"}


def test_setting_expressions() -> None:
    assert resolve_setting_expression("%SYNC%", {"SYNC": "0 */5 * * * *"}) == "0 */5 * * * *"
    with pytest.raises(KeyError, match="MISSING"):
        resolve_setting_expression("%MISSING%", {})


def test_the_repository_host_json_serves_the_guide_paths() -> None:
    config = load_host_config(Path(__file__).resolve().parents[2] / "host.json")
    assert config.route_prefix == "" and config.queues.max_dequeue_count == 5


def test_each_app_is_read_as_itself_though_an_earlier_one_was_dropped() -> None:
    """Apps made one after another, each dropped after reading, may be given the same id
    by Python: each must still be read with its own routes, never an earlier app's."""
    for n in range(40):
        app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
        app.route(route=f"page-{n}", methods=["GET"])(
            lambda req: func.HttpResponse("ok"))
        assert [function.route for function in read_app(app).http] == [f"page-{n}"]
        del app
