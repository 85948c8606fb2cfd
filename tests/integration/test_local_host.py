"""The local Functions host: routing, function keys, timers, queues and poison messages."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from calbridge.config import Settings
from calbridge.host.azurite import Azurite
from calbridge.host.runtime import LocalHost
from calbridge.store.clients import queue_service
from calbridge.store.queues import ensure_queue, queue_client
from tests.fixtures import sample_app

KEY = "test-function-key"


def wait_until(condition: Callable[[], bool], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@pytest.fixture(scope="module")
def host(azurite: Azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalHost]:
    folder = tmp_path_factory.mktemp("host")
    host_json = folder / "host.json"
    host_json.write_text(json.dumps({"version": "2.0", "extensions": {
        "http": {"routePrefix": ""},
        "queues": {"maxDequeueCount": 5, "visibilityTimeout": "00:00:00",
                   "maxPollingInterval": "00:00:00.2", "batchSize": 4}}}))
    patch = pytest.MonkeyPatch()
    patch.setenv("AzureWebJobsStorage", azurite.connection_string)
    patch.setenv("CALBRIDGE_FUNCTION_KEY", KEY)
    patch.setenv("SAMPLE_SCHEDULE", "*/1 * * * * *")
    local = LocalHost(app_spec="tests.fixtures.sample_app:app", port=0,
                      host_json=Path(host_json)).start()
    yield local
    local.stop()
    patch.undo()


def send(azurite: Azurite, body: dict) -> None:
    client = queue_client(queue_service(Settings.from_env(
        {"AzureWebJobsStorage": azurite.connection_string})), "sample-work")
    ensure_queue(client)
    client.send_message(json.dumps(body).encode())


def test_binds_loopback_only(host: LocalHost) -> None:
    assert host.url.startswith("http://127.0.0.1:")


def test_routes_with_parameters_and_no_prefix(host: LocalHost) -> None:
    answer = requests.get(f"{host.url}/items/a%20b?q=x", headers={"x-functions-key": KEY},
                          timeout=5)
    assert answer.status_code == 200
    assert answer.json() == {"item_id": "a b", "q": "x"}


def test_literal_segments_win_over_parameters(host: LocalHost) -> None:
    answer = requests.get(f"{host.url}/items/special", params={"code": KEY}, timeout=5)
    assert answer.json() == {"special": True}


def test_function_key_is_required(host: LocalHost) -> None:
    assert requests.get(f"{host.url}/items/1", timeout=5).status_code == 401
    wrong = requests.get(f"{host.url}/items/1", headers={"x-functions-key": "nope"}, timeout=5)
    assert wrong.status_code == 401 and wrong.json()["success"] is False
    assert requests.get(f"{host.url}/items/1", params={"code": KEY}, timeout=5).ok


def test_anonymous_routes_need_no_key(host: LocalHost) -> None:
    answer = requests.post(f"{host.url}/hooks/graph", data=b"ping", timeout=5)
    assert answer.status_code == 202 and answer.text == "ping"


def test_unknown_path_and_wrong_method(host: LocalHost) -> None:
    assert requests.get(f"{host.url}/nothing/here", timeout=5).status_code == 404
    assert requests.delete(f"{host.url}/hooks/graph", timeout=5).status_code == 405


def test_timer_fires_on_its_schedule(host: LocalHost) -> None:
    before = len(sample_app.timer_runs)
    assert wait_until(lambda: len(sample_app.timer_runs) >= before + 2, timeout=5)


def test_queue_message_is_processed_once(host: LocalHost, azurite: Azurite) -> None:
    send(azurite, {"id": "ok-1", "value": 42})
    assert wait_until(lambda: any(p["id"] == "ok-1" for p in sample_app.processed))
    time.sleep(0.5)
    assert [p["dequeue_count"] for p in sample_app.processed if p["id"] == "ok-1"] == [1]


def test_failing_message_reaches_poison_after_five_attempts(host: LocalHost,
                                                             azurite: Azurite) -> None:
    send(azurite, {"id": "bad-1", "fail": True})
    poison = queue_client(queue_service(Settings.from_env(
        {"AzureWebJobsStorage": azurite.connection_string})), "sample-work-poison")

    def poisoned() -> list[dict]:
        ensure_queue(poison)
        return [json.loads(m.content) for m in poison.peek_messages(max_messages=32)]

    assert wait_until(lambda: any(m["id"] == "bad-1" for m in poisoned()), timeout=30)
    assert sample_app.attempts["bad-1"] == 5
