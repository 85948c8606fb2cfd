"""The local Functions host: routing, function keys, timers, queues and poison messages;
the limits it keeps clients to; and `make serve` after a crash."""

from __future__ import annotations

import http.client
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from calbridge.config import Settings
from calbridge.host.azurite import Azurite
from calbridge.host.processes import ChildProcess, wait_for_port
from calbridge.host.runtime import LocalHost
from calbridge.host.stack import PID_FILE, Ports
from calbridge.store.clients import queue_service
from calbridge.store.queues import ensure_queue, queue_client
from examples.booking_system import BookingSystemServer
from tests.fixtures import sample_app
from tests.fixtures.host import FUNCTION_KEY, ROOT, Api, HostProcess, host_env

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


def test_messages_of_a_batch_run_at_the_same_time(host: LocalHost, azurite: Azurite) -> None:
    # Each of these two finishes only while the other runs: one after the other, neither
    # would (the Functions host runs a batch's messages in parallel, and so must this one).
    for name in ("meet-1", "meet-2"):
        send(azurite, {"id": name, "meet": True})
    assert wait_until(lambda: {p["id"] for p in sample_app.processed} >= {"meet-1", "meet-2"},
                      timeout=60)
    assert sorted((p["id"], p["dequeue_count"]) for p in sample_app.processed
                  if p["id"].startswith("meet-")) == [("meet-1", 1), ("meet-2", 1)]


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


# --- limits: a host with a 1 KiB body limit, a 2 s read timeout and 4 handler threads ---

BODY_LIMIT = 1024
READ_TIMEOUT = 2
MAX_CONNECTIONS = 4


@pytest.fixture(scope="module")
def limited_host(azurite: Azurite, e2e_booking_system: BookingSystemServer,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostProcess]:
    folder = tmp_path_factory.mktemp("limited-host")
    env = host_env(azurite, e2e_booking_system, CALBRIDGE_MAX_BODY_BYTES=str(BODY_LIMIT))
    host = HostProcess(env, folder / "host.log", args=[
        "--read-timeout", str(READ_TIMEOUT), "--max-connections", str(MAX_CONNECTIONS)]).start()
    yield host
    host.stop()


def connect(host: HostProcess) -> socket.socket:
    # Long enough for every answer the host owes; a host that owes none fails the test.
    return socket.create_connection(("127.0.0.1", host.port), timeout=15)


def read_answer(conn: socket.socket) -> tuple[int, http.client.HTTPMessage, bytes]:
    answer = http.client.HTTPResponse(conn)
    answer.begin()
    return answer.status, answer.headers, answer.read()


def head(method: str, path: str, *lines: str) -> bytes:
    return "\r\n".join([f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *lines, "", ""]).encode()


@pytest.mark.parametrize("expect", [(), ("Expect: 100-continue",)], ids=["plain", "expect"])
def test_a_body_over_the_limit_is_refused_before_it_is_sent(limited_host: HostProcess,
                                                           expect: tuple[str, ...]) -> None:
    with connect(limited_host) as conn:
        conn.sendall(head("POST", "/mappings/resources", f"x-functions-key: {FUNCTION_KEY}",
                          "Content-Type: application/json", "Content-Length: 1000000", *expect))
        status, headers, body = read_answer(conn)  # the body is never sent
    assert status == 413 and headers["Content-Type"] == "application/json"
    error = json.loads(body)
    assert error["success"] is False and error["error"]["code"] == "payload_too_large"
    assert str(BODY_LIMIT) in error["error"]["message"]
    # A body just under the limit still reaches the function (which judges it).
    mapping = json.dumps({"booking_system_resource_id": "r" * (BODY_LIMIT - 200),
                          "calendar_system": "nowhere", "calendar_resource_id": "x"})
    answer = Api(limited_host.url)("POST", "/mappings/resources", data=mapping,
                                   headers={"Content-Type": "application/json"})
    assert answer.status_code in {404, 422} and answer.json()["success"] is False



def chunked(data: bytes, size: int) -> bytes:
    """`data` in chunks of `size` bytes, as a client that streams its body sends it."""
    parts = [data[i:i + size] for i in range(0, len(data), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in parts) + b"0\r\n\r\n"


def test_a_chunked_body_is_read_and_one_over_the_limit_refused(
        limited_host: HostProcess) -> None:
    """Azure's front end takes bodies sent chunked (no Content-Length), so the host does:
    read as they arrive, judged by the function, and refused once past the limit."""
    mapping = json.dumps({"booking_system_resource_id": "room_101",
                          "calendar_system": "nowhere", "calendar_resource_id": "x"}).encode()
    with connect(limited_host) as conn:
        conn.sendall(head("POST", "/mappings/resources", f"x-functions-key: {FUNCTION_KEY}",
                          "Content-Type: application/json", "Transfer-Encoding: chunked")
                     + chunked(mapping, 7))
        status, _, body = read_answer(conn)
        assert status in {404, 422} and json.loads(body)["success"] is False
        assert "nowhere" in body.decode()  # the function read the whole body
        # The connection carries the next request.
        conn.sendall(head("GET", "/bridges", f"x-functions-key: {FUNCTION_KEY}"))
        assert read_answer(conn)[0] == 200
    with connect(limited_host) as conn:
        conn.sendall(head("POST", "/mappings/resources", f"x-functions-key: {FUNCTION_KEY}",
                          "Content-Type: application/json", "Transfer-Encoding: chunked")
                     + chunked(b"x" * (BODY_LIMIT + 10), 4096))
        status, _, body = read_answer(conn)
        assert (status, json.loads(body)["error"]["code"]) == (413, "payload_too_large")
    with connect(limited_host) as conn:
        conn.sendall(head("POST", "/mappings/resources", f"x-functions-key: {FUNCTION_KEY}",
                          "Transfer-Encoding: chunked", "Content-Length: 5") + b"0\r\n\r\n")
        status, _, body = read_answer(conn)
        assert (status, json.loads(body)["error"]["code"]) == (400, "bad_request")
    with connect(limited_host) as conn:
        conn.sendall(head("POST", "/mappings/resources", f"x-functions-key: {FUNCTION_KEY}",
                          "Transfer-Encoding: chunked") + b"zz\r\nnot hex\r\n")
        status, _, body = read_answer(conn)
        assert (status, json.loads(body)["error"]["code"]) == (400, "bad_request")

def test_a_stalled_request_is_dropped_and_the_host_serves_on(limited_host: HostProcess) -> None:
    with connect(limited_host) as conn:
        conn.sendall(head("POST", "/mappings/resources", f"x-functions-key: {FUNCTION_KEY}",
                          "Content-Length: 1000") + b'{"booking_')  # 10 bytes, then nothing
        status, _, body = read_answer(conn)
        assert status == 408 and json.loads(body)["error"]["code"] == "request_timeout"
        assert conn.recv(1) == b""  # and the connection is closed
    with connect(limited_host) as conn:
        conn.sendall(b"GET /bridges/he")  # half a request line, then nothing
        assert conn.recv(1) == b""
    assert Api(limited_host.url)("GET", "/bridges/health").status_code == 200


def thread_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def test_connections_beyond_the_bound_wait_and_the_host_serves_after(
        limited_host: HostProcess) -> None:
    assert limited_host.child and limited_host.child.process
    pid = limited_host.child.process.pid
    before = thread_count(pid)
    stalled = [connect(limited_host) for _ in range(3 * MAX_CONNECTIONS)]
    try:
        for conn in stalled:
            conn.sendall(b"GET /bridges/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        waiting = connect(limited_host)
        waiting.sendall(head("GET", "/bridges/health", f"x-functions-key: {FUNCTION_KEY}",
                             "Connection: close"))
        # Time enough for a host that starts a thread per connection to have done so.
        select.select([waiting], [], [], 1.0)
        assert thread_count(pid) <= before + MAX_CONNECTIONS
    finally:
        for conn in stalled:
            conn.close()
    with waiting:
        status, _, body = read_answer(waiting)
    assert status == 200 and json.loads(body)["success"] is True
    assert Api(limited_host.url)("GET", "/bridges/health").status_code == 200


def test_unknown_methods_on_management_routes_need_the_key(limited_host: HostProcess) -> None:
    for method, path in [("PATCH", "/mappings/resources"), ("FOO", "/bridges")]:
        without = requests.request(method, limited_host.url + path, timeout=15)
        assert without.status_code == 401
        assert without.json()["error"]["code"] == "unauthorized"
        keyed = Api(limited_host.url)(method, path)
        assert keyed.status_code == 405
        assert keyed.json() == {"success": False, "error": {
            "code": "method_not_allowed", "message": f"{method} is not allowed here"}}
        assert "GET" in keyed.headers["Allow"]
    # Webhook routes stay anonymous, a wrong method on them included. This host has no
    # Outlook bridge, so the guide's Outlook endpoint says so rather than asking for a key.
    handshake = requests.post(f"{limited_host.url}/webhook/outlook-notifications",
                              params={"validationToken": "token 1"}, timeout=15)
    assert handshake.status_code == 404 and handshake.json()["error"]["code"] == "not_found"
    wrong = requests.put(f"{limited_host.url}/bridges/webhook/booking_system", timeout=15)
    assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "method_not_allowed"


# --- make serve after a crash ---


def alive(pid: int) -> bool:
    """Running, not merely a zombie nobody reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2:].split()[1]) == pid and alive(int(entry.name)):
                found.append(int(entry.name))
    return found


class Serve:
    """`make serve` (python -m calbridge.host.stack), started as often as a test likes
    on the same ports and workdir, as a user restarts it."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.workdir = folder / "local"
        self.ports = Ports.free()
        self.started: list[subprocess.Popen] = []
        self.azurites: set[int] = set()
        self._children: list[ChildProcess] = []

    def start(self) -> subprocess.Popen:
        blob, queue, table = self.ports.azurite
        argv = [sys.executable, "-m", "calbridge.host.stack", "--workdir", str(self.workdir),
                "--port", str(self.ports.host), "--booking-port", str(self.ports.booking),
                "--graph-port", str(self.ports.graph), "--azurite-ports", f"{blob},{queue},{table}",
                "--google-port", str(self.ports.google), "--caldav-port", str(self.ports.caldav),
                "--function-key", FUNCTION_KEY]
        env = {k: v for k, v in os.environ.items() if not k.startswith(
            ("CALBRIDGE_", "OUTLOOK_", "BOOKING_SYSTEM_", "AzureWebJobsStorage"))}
        env.update({"PYTHONUNBUFFERED": "1", "SYNC_SCHEDULE": "0 0 0 1 1 *",
               "DELETION_SYNC_SCHEDULE": "0 0 0 1 1 *", "POLL_SCHEDULE": "0 0 0 1 1 *",
               "CALDAV_POLL_SCHEDULE": "0 0 0 1 1 *",
               "SUBSCRIPTION_RENEWAL_SCHEDULE": "0 0 0 1 1 *"})
        child = ChildProcess("serve", argv, cwd=ROOT, env=env,
                             log_path=self.log(len(self._children))).start()
        self._children.append(child)
        assert child.process
        return child.process

    def log(self, index: int) -> Path:
        return self.folder / f"serve-{index}.log"

    def output(self, process: subprocess.Popen) -> str:
        index = [c.process for c in self._children].index(process)
        return self.log(index).read_text()

    def ready(self, process: subprocess.Popen, timeout: float = 90) -> bool:
        """Whether it said it is running (False: it exited first)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "calbridge is running" in self.output(process):
                self.azurites.update(children(process.pid))
                return True
            if process.poll() is not None:
                return False
            time.sleep(0.1)
        raise TimeoutError(f"make serve neither started nor exited:\n{self.output(process)}")

    def health(self) -> requests.Response:
        return Api(f"http://127.0.0.1:{self.ports.host}")("GET", "/bridges/health")

    def stop_all(self) -> None:
        for child in self._children:
            child.stop(timeout=30)
        for pid in self.azurites:  # what a failing run may have left behind
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Serve]:
    stacks = Serve(tmp_path)
    yield stacks
    stacks.stop_all()


def test_a_killed_make_serve_leaves_no_azurite_behind(serve: Serve) -> None:
    first = serve.start()
    assert serve.ready(first), serve.output(first)
    # Azurite and Radicale, the stack's two child processes.
    started = children(first.pid)
    assert len(started) == 2 and all(alive(pid) for pid in started)

    second = serve.start()  # while the first runs
    assert not serve.ready(second) and second.returncode == 1
    assert f"another make serve is running (pid {first.pid}" in serve.output(second)

    first.send_signal(signal.SIGKILL)
    first.wait(10)
    third = serve.start()
    assert serve.ready(third), serve.output(third)
    assert not any(alive(pid) for pid in started)
    # The restarted stack talks to an Azurite (and a Radicale) of its own, and it works.
    own = children(third.pid)
    assert len(own) == 2
    assert serve.health().status_code == 200

    third.send_signal(signal.SIGTERM)
    assert third.wait(30) == 0
    assert not any(alive(pid) for pid in own)  # they stop with the stack


def test_a_restart_stops_the_azurite_a_dead_make_serve_recorded(serve: Serve) -> None:
    # An Azurite as make serve starts it, on its ports, outliving the make serve that
    # recorded it (a supervisor whose children the kernel did not stop).
    serve.workdir.mkdir()
    leftover = Azurite(data_dir=serve.workdir / "azurite", workspace=serve.workdir,
                       ports=serve.ports.azurite).start()
    try:
        subprocess.run([sys.executable, "-c",
                        "import sys; from pathlib import Path; "
                        "from calbridge.host.processes import PidFile; "
                        "PidFile(Path(sys.argv[1])).record({'azurite': int(sys.argv[2])})",
                        str(serve.workdir / PID_FILE), str(leftover.pid)],
                       cwd=ROOT, check=True, timeout=60)
        restarted = serve.start()
        assert serve.ready(restarted), serve.output(restarted)
        assert f"stopped azurite pid {leftover.pid}" in serve.output(restarted)
        assert leftover.pid is not None and not alive(leftover.pid)
        assert serve.health().status_code == 200
    finally:
        leftover.stop()


def test_a_port_held_by_another_process_is_named(serve: Serve) -> None:
    table_port = serve.ports.azurite[2]
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", table_port))
        holder.listen()
        stack = serve.start()
        assert not serve.ready(stack)
    assert stack.returncode == 1
    output = serve.output(stack)
    assert (f"port {table_port} (Azurite table service) is already held by "
            f"pid {os.getpid()}") in output
    assert "calbridge is running" not in output
    blob_port = serve.ports.azurite[0]
    with socket.socket() as probe:  # nothing was started on the other ports either
        probe.bind(("127.0.0.1", blob_port))


def test_waiting_for_a_child_is_not_fooled_by_another_listener_on_its_port() -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        child = ChildProcess("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"])
        child.start()
        try:
            with pytest.raises(OSError, match=f"port {port} is held by pid {os.getpid()} "):
                wait_for_port("127.0.0.1", port, 10, child.process)
        finally:
            child.stop()
