"""The calendar systems' HTTP client as the host's threads use it: many at once, one
client, each connection kept for the next request."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from calbridge import connections
from calbridge.bridges.http import HttpClient

THREADS = 24


class Slow(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keeps connections open, as calendar systems do

    def do_GET(self) -> None:
        time.sleep(0.02)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def many_at_once(url: str) -> list[int]:
    client = HttpClient("test")
    try:
        with ThreadPoolExecutor(max_workers=THREADS) as pool:
            return list(pool.map(lambda n: client.request("GET", f"{url}/{n}").status_code,
                                 range(THREADS * 4)))
    finally:
        client.session.close()


def test_threads_sharing_a_client_keep_their_connections(
        server: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="urllib3.connectionpool"):
        assert set(many_at_once(server)) == {200}
    assert not [r for r in caplog.records if "pool is full" in r.getMessage()]


def test_a_pool_of_requests_default_size_would_drop_them(
        server: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the larger pool is for: with requests' ten, the same threads drop connections."""
    monkeypatch.setattr(connections, "POOL_SIZE", 10)
    with caplog.at_level(logging.WARNING, logger="urllib3.connectionpool"):
        assert set(many_at_once(server)) == {200}
    assert [r for r in caplog.records if "pool is full" in r.getMessage()]
