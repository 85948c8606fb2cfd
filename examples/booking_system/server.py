"""The HTTP server: turns raw requests into :mod:`web` requests, and runs in a thread."""

from __future__ import annotations

import hmac
import logging
import secrets
import socket
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from . import api, ui
from .bookings import BookingService
from .db import BookingStore
from .errors import (
    ApiError,
    LengthRequired,
    MethodNotAllowed,
    PayloadTooLarge,
    Unauthorized,
)
from .web import MAX_BODY_BYTES, BookingApp, Request, Response, Router, json_response
from .webhooks import WebhookNotifier

log = logging.getLogger(__name__)

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
DRAIN_LIMIT_BYTES = 16 * 1024 * 1024
ROUTER = Router([*api.ROUTES, *ui.ROUTES])


class _HttpServer(ThreadingHTTPServer):
    """Serves each connection in a daemon thread and can drop open keep-alive connections."""

    daemon_threads = True
    block_on_close = False
    app: BookingApp

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]):
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = super().get_request()
        with self._connections_lock:
            self._connections.add(connection)
        return connection, address

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """End every open connection (idle keep-alive ones would otherwise linger)."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _HttpServer6(_HttpServer):
    address_family = socket.AF_INET6


class _RequestHandler(BaseHTTPRequestHandler):
    """Reads the request, applies faults and the key check, then calls the route."""

    server: _HttpServer
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; without this, keep-alive clients wait ~40 ms
    # per request on Nagle's algorithm meeting delayed ACKs.
    disable_nagle_algorithm = True
    server_version = "BookingSystemExample/1.0"
    timeout = 30

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s - %s", self.address_string(), format % args)

    def _serve(self, method: str) -> None:
        app = self.server.app
        url = urlsplit(self.path)
        path = url.path or "/"
        try:
            response = self._dispatch(app, method, path, url.query)
        except ApiError as error:
            response = json_response(error.status, error.to_body())
            if isinstance(error, MethodNotAllowed):
                response.headers["Allow"] = ", ".join(error.allowed)
        except Exception:
            log.exception("unexpected error serving %s %s", method, path)
            response = json_response(
                500, {"error": {"code": "internal_error", "message": "internal server error"}}
            )
        self._write(response)

    def _dispatch(self, app: BookingApp, method: str, path: str, query: str) -> Response:
        admin = path.startswith("/_admin/")
        if not admin:
            app.requests.record(method, ROUTER.template_for(path) or "<unmatched>")
        body = self._read_body()
        if not admin:
            fault = app.faults.take(method, path)
            if fault is not None:
                return self._fault_response(fault.status, fault.retry_after, fault.delay_ms)
        route, params = ROUTER.resolve(method, path)
        headers = {key.lower(): value for key, value in self.headers.items()}
        if route.needs_key:
            given = headers.get("x-api-key", "")
            if not hmac.compare_digest(given.encode(), app.api_key.encode()):
                raise Unauthorized("missing or wrong X-API-Key header")
        request = Request(
            method=method,
            path=path,
            query={key: values[-1] for key, values in parse_qs(query).items()},
            headers=headers,
            body=body,
            params=params,
        )
        return route.handler(app, request)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            self.close_connection = True
            raise LengthRequired("send the body with a Content-Length header")
        length_text = self.headers.get("Content-Length", "0").strip() or "0"
        if not length_text.isdigit():
            self.close_connection = True
            raise LengthRequired("Content-Length must be a number")
        length = int(length_text)
        if length > MAX_BODY_BYTES:
            if length <= DRAIN_LIMIT_BYTES:
                # Reading the rest lets the client see the 413 instead of a reset connection.
                self._discard(length)
            else:
                self.close_connection = True
            raise PayloadTooLarge(f"body is larger than {MAX_BODY_BYTES} bytes")
        return self.rfile.read(length) if length else b""

    def _discard(self, length: int) -> None:
        while length > 0:
            chunk = self.rfile.read(min(length, 65536))
            if not chunk:
                self.close_connection = True
                return
            length -= len(chunk)

    @staticmethod
    def _fault_response(status: int, retry_after: int | None, delay_ms: int) -> Response:
        if delay_ms:
            time.sleep(delay_ms / 1000)
        code = {429: "too_many_requests", 503: "service_unavailable"}.get(status, "injected_fault")
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        return json_response(
            status, {"error": {"code": code, "message": f"injected fault {status}"}}, headers
        )

    def _write(self, response: Response) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(response.body)


class BookingSystemServer:
    """The example booking system on a loopback port, served from a background thread.

    >>> srv = BookingSystemServer(port=0, api_key="secret")  # doctest: +SKIP
    >>> srv.start(); srv.base_url; srv.stop()                # doctest: +SKIP
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        db_path: str = ":memory:",
        api_key: str | None = None,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        seed: bool = True,
        *,
        resources: Sequence[dict[str, Any]] = (),
        webhook_retry_delays: Sequence[float] = (1.0, 3.0),
        webhook_timeout: float = 5.0,
    ):
        if host not in LOOPBACK_HOSTS:
            raise ValueError(f"the example booking system binds loopback only, not {host!r}")
        if not api_key:
            raise ValueError("api_key is required")
        self.host = host
        self._requested_port = port
        self.db_path = db_path
        self.seed = seed
        # Resources to have beside the seed: added at start when missing, so a database
        # kept from an earlier run gains them too.
        self.resources = tuple(dict(r) for r in resources)
        self._api_key = api_key
        self.notifier = WebhookNotifier(
            webhook_url, webhook_secret, retry_delays=webhook_retry_delays, timeout=webhook_timeout
        )
        self._httpd: _HttpServer | None = None
        self._thread: threading.Thread | None = None
        self._store: BookingStore | None = None
        self._app: BookingApp | None = None

    @property
    def app(self) -> BookingApp:
        """The running application (available after :meth:`start`)."""
        if self._app is None:
            raise RuntimeError("the booking system is not started")
        return self._app

    @property
    def port(self) -> int:
        """The bound port."""
        if self._httpd is None:
            raise RuntimeError("the booking system is not started")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> BookingSystemServer:
        """Open the database, bind the port and serve in a background thread."""
        if self._httpd is not None:
            return self
        self._store = BookingStore(self.db_path)
        bookings = BookingService(self._store, self.notifier)
        if self.seed and not bookings.list_resources():
            bookings.reset(seed=True)
        for resource in self.resources:
            if bookings.store.get_resource(resource["id"]) is None:
                bookings.store.add_resource(dict(resource))
        self._app = BookingApp(
            bookings=bookings, api_key=self._api_key, ui_token=secrets.token_urlsafe(24),
            seed=self.seed,
        )
        server_class = _HttpServer6 if ":" in self.host else _HttpServer
        self._httpd = server_class((self.host, self._requested_port), _RequestHandler)
        self._httpd.app = self._app
        self.notifier.start()
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
            name="booking-system-http", daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, stop the webhook sender and close the database."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.close_connections()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        self.notifier.stop()
        if self._store is not None:
            self._store.close()
            self._store = None

    def reset(self, *, seed: bool | None = None) -> None:
        """Empty the database (reseeded by default), clear faults, counts and queued webhooks."""
        self.app.reset(seed=self.seed if seed is None else seed)

    def set_webhook(self, url: str | None, secret: str | None) -> None:
        """Send later change notifications to ``url`` signed with ``secret``."""
        self.notifier.configure(url, secret)

    def __enter__(self) -> BookingSystemServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
