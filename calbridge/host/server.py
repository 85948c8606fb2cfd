"""HTTP triggers on a local port: the request becomes a `func.HttpRequest`, the
function's `func.HttpResponse` goes back as it is. Function keys are checked here,
as the Functions host checks them in Azure, and so are the limits a front end puts
on clients there: body size, how long a request may take to arrive, and how many
connections are served at once."""

from __future__ import annotations

import hmac
import io
import json
import logging
import re
import socket
import threading
import time
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import azure.functions as func

from calbridge.functions.callers import Caller, caller_of, callers_of, presented_key
from calbridge.host.app import HttpFunction
from calbridge.host.routing import Router

log = logging.getLogger("calbridge.host")

Answer = tuple[int, dict[str, str], bytes]
# A method is an RFC 9110 token; anything else is a malformed request line.
_METHOD = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_LENGTH = re.compile(r"[0-9]{1,18}")


def _error(status: int, code: str, message: str) -> Answer:
    body = json.dumps({"success": False, "error": {"code": code, "message": message}})
    return status, {"Content-Type": "application/json"}, body.encode()


@dataclass(frozen=True)
class ServerLimits:
    """What one client may take of the host."""

    max_body_bytes: int = 1_048_576
    # Seconds a whole request (line, headers and body) may take to arrive, counted from
    # when the host starts waiting for it; also how long an idle keep-alive connection
    # is kept and how long a client may take to accept its answer.
    read_timeout: float = 30.0
    # Connections served at once, one thread each; further ones wait to be accepted.
    max_connections: int = 32


@dataclass(frozen=True)
class _Call:
    function: HttpFunction
    route_params: dict[str, str]
    query: dict[str, str]


class FunctionsHttpServer(ThreadingHTTPServer):
    daemon_threads = True
    # Stopping does not wait for idle keep-alive connections to time out.
    block_on_close = False
    # Connections beyond max_connections wait in the kernel's accept queue.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], functions: list[HttpFunction],
                 route_prefix: str, function_key: str | None,
                 limits: ServerLimits | None = None,
                 booking_system_key: str | None = None) -> None:
        self.router = Router(functions, route_prefix)
        self.function_key = function_key
        self.booking_system_key = booking_system_key
        self.limits = limits or ServerLimits()
        self._handlers = threading.BoundedSemaphore(self.limits.max_connections)
        self._closing = threading.Event()
        super().__init__(address, _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def start_background(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name="http", daemon=True)
        thread.start()
        return thread

    def process_request(self, request: Any, client_address: Any) -> None:
        # A thread per connection, but never more than max_connections of them: the next
        # connection waits here for one to finish, and later ones wait unaccepted.
        while not self._handlers.acquire(timeout=0.2):
            if self._closing.is_set():
                self.shutdown_request(request)
                return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._handlers.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._handlers.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.exception("connection from %s failed", client_address[0])

    def shutdown(self) -> None:
        self._closing.set()
        super().shutdown()

    def caller(self, headers: dict[str, str], query: dict[str, str]) -> Caller | None:
        """Who presents this key: the operator (`CALBRIDGE_FUNCTION_KEY`, or anyone while
        no key is set), the booking system (its own key), or nobody known (None: 401)."""
        given = presented_key(headers, query)
        if self.booking_system_key and caller_of(given, self.booking_system_key) is \
                Caller.BOOKING_SYSTEM:
            return Caller.BOOKING_SYSTEM
        if not self.function_key or hmac.compare_digest(given.encode(),
                                                        self.function_key.encode()):
            return Caller.OPERATOR
        return None

    def route(self, method: str, target: str, headers: dict[str, str]) -> _Call | Answer:
        """The function a request goes to, or its refusal (404, 401, 403, 405): decided
        from the request line and headers alone, before any body is read."""
        parts = urlsplit(target)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        function, params, candidates = self.router.match(method, parts.path)
        if not candidates:
            return _error(404, "not_found", f"no function answers {parts.path}")
        # Whatever the method, a management route asks for the key (and the right one)
        # first: a caller without one learns nothing about which methods it takes.
        guarded = [f for f in ([function] if function else candidates) if not f.anonymous]
        if guarded:
            caller = self.caller(headers, query)
            if caller is None:
                return _error(401, "unauthorized", "a valid function key is required "
                                                   "(x-functions-key header or code parameter)")
            if not any(caller in callers_of(f.handler) for f in guarded):
                return _error(403, "forbidden", f"the {caller.value} key does not reach "
                                                "this route")
        if function is None:
            status, out, body = _error(405, "method_not_allowed",
                                       f"{method} is not allowed here")
            allowed = sorted({m for f in candidates for m in f.methods})
            return status, {**out, "Allow": ", ".join(allowed)}, body
        return _Call(function, params, query)

    def call(self, call: _Call, method: str, target: str, headers: dict[str, str],
             body: bytes) -> Answer:
        """Run the function and turn its `HttpResponse` into status, headers and body."""
        function = call.function
        host = headers.get("host", "127.0.0.1")
        request = func.HttpRequest(method=method, url=f"http://{host}{target}", headers=headers,
                                   params=call.query, route_params=call.route_params, body=body)
        try:
            response = function.handler(request)
        except Exception:
            log.exception("function %s failed", function.name)
            return _error(500, "internal_error", f"function {function.name} failed")
        if response is None:
            return 204, {}, b""
        out_headers = dict(response.headers)
        if response.mimetype:
            charset = f"; charset={response.charset}" if response.charset else ""
            out_headers.setdefault("Content-Type", f"{response.mimetype}{charset}")
        return response.status_code, out_headers, response.get_body() or b""


class _RequestReader(socket.SocketIO):
    """Reads a connection against a deadline, so a client that trickles its request
    (or declares a body and stalls) cannot hold a handler thread past it."""

    def __init__(self, connection: socket.socket, timeout: float) -> None:
        super().__init__(connection, "rb")
        self.timeout = timeout
        self.deadline = time.monotonic() + timeout

    def start_request(self) -> None:
        self.deadline = time.monotonic() + self.timeout

    def readinto(self, buffer: Any) -> int | None:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the request did not arrive in time")
        self._sock.settimeout(remaining)
        try:
            return super().readinto(buffer)
        finally:
            # Writes keep the plain timeout, not what was left of the deadline.
            self._sock.settimeout(self.timeout)


class _Handler(BaseHTTPRequestHandler):
    server: FunctionsHttpServer
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; without TCP_NODELAY the second waits for the
    # client's delayed ACK, adding ~40 ms to every request after the first on a connection.
    disable_nagle_algorithm = True

    def setup(self) -> None:
        self.timeout = self.server.limits.read_timeout
        super().setup()
        self.rfile.close()
        self.reader = _RequestReader(self.connection, self.timeout)
        self.rfile = io.BufferedReader(self.reader)

    def handle_one_request(self) -> None:
        self.reader.start_request()
        self._decision: _Call | Answer | None = None
        self._body_length = -1
        self._chunked = False
        super().handle_one_request()

    def __getattr__(self, name: str) -> Any:
        # http.server answers a method without a do_<METHOD> with its own 501 page; here
        # every method goes to the router, which knows which ones each route takes.
        if name.startswith("do_"):
            return self._handle
        raise AttributeError(name)

    def handle_expect_100(self) -> bool:
        # Refuse before the client sends its body, rather than invite it and refuse after.
        decision = self._decide()
        if isinstance(decision, _Call):
            return super().handle_expect_100()
        self._refuse(decision)
        return False

    def _decide(self) -> _Call | Answer:
        if self._decision is None:
            self._decision = self._examine()
        return self._decision

    def _examine(self) -> _Call | Answer:
        if not _METHOD.fullmatch(self.command or ""):
            return _error(400, "bad_request", "invalid request method")
        self._chunked = False
        if "Transfer-Encoding" in self.headers:
            # A chunked body is read up to the size limit as it arrives; any other coding,
            # or one beside a Content-Length (a smuggling attempt), is refused.
            codings = ",".join(self.headers.get_all("Transfer-Encoding") or []).lower()
            if ([c.strip() for c in codings.split(",")] != ["chunked"]
                    or "Content-Length" in self.headers):
                return _error(400, "bad_request", "only a chunked Transfer-Encoding, without "
                                                  "a Content-Length, is accepted")
            self._chunked = True
            return self.server.route(self.command, self.path, self._lowered_headers())
        declared = {v.strip() or "0" for v in self.headers.get_all("Content-Length") or ["0"]}
        text = declared.pop() if len(declared) == 1 else ""
        if not _LENGTH.fullmatch(text):
            return _error(400, "bad_request", "invalid Content-Length")
        self._body_length = int(text)
        decision = self.server.route(self.command, self.path, self._lowered_headers())
        limit = self.server.limits.max_body_bytes
        if isinstance(decision, _Call) and self._body_length > limit:
            return _error(413, "payload_too_large", f"request body exceeds {limit} bytes")
        return decision

    def _lowered_headers(self) -> dict[str, str]:
        return {k.lower(): v for k, v in self.headers.items()}

    def _handle(self) -> None:
        decision = self._decide()
        if not isinstance(decision, _Call):
            self._refuse(decision)
            return
        try:
            if self._chunked:
                body = self._read_chunks()
                if not isinstance(body, bytes):
                    self._refuse(body)
                    return
            else:
                body = self.rfile.read(self._body_length) if self._body_length else b""
        except TimeoutError:
            self._refuse(_error(408, "request_timeout", "the request body did not arrive "
                                f"within {self.server.limits.read_timeout:g} seconds"))
            return
        if len(body) < self._body_length:  # the client went away mid-body
            self.close_connection = True
            return
        self._send(*self.server.call(decision, self.command, self.path,
                                     self._lowered_headers(), body))

    def _read_chunks(self) -> bytes | Answer:
        """A chunked body (RFC 9112 section 7.1), trailers skipped; an answer instead when
        it grows past the size limit or is malformed (the connection then closes)."""
        limit = self.server.limits.max_body_bytes
        parts: list[bytes] = []
        size = 0
        while True:
            line = self.rfile.readline(1024)
            text = line.split(b";", 1)[0].strip()
            if not line.endswith(b"\n") or not re.fullmatch(rb"[0-9a-fA-F]{1,15}", text):
                return _error(400, "bad_request", "malformed chunked body")
            length = int(text, 16)
            if length == 0:
                break
            size += length
            if size > limit:
                return _error(413, "payload_too_large", f"request body exceeds {limit} bytes")
            chunk = self.rfile.read(length)
            if len(chunk) < length or self.rfile.readline(3).strip():
                return _error(400, "bad_request", "malformed chunked body")
            parts.append(chunk)
        while (trailer := self.rfile.readline(8192)) not in (b"\r\n", b"\n", b""):
            if not trailer.endswith(b"\n"):
                return _error(400, "bad_request", "malformed chunked body")
        return b"".join(parts)

    def _refuse(self, answer: Answer) -> None:
        # A declared body was left unread, so the connection cannot carry another request.
        if self._body_length != 0:
            self.close_connection = True
        self._send(*answer)

    def send_error(self, code: int, message: str | None = None,
                   explain: str | None = None) -> None:
        # http.server's own refusals (malformed request line, too many headers) in the
        # same JSON envelope as every other error.
        status = HTTPStatus(code)
        self._body_length = -1
        self._refuse(_error(code, re.sub(r"\W+", "_", status.phrase.lower()),
                            message or status.phrase))

    def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for key, value in headers.items():
            if key.lower() not in {"content-length", "connection", "transfer-encoding"}:
                self.send_header(key, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s %s", self.address_string(), format % args)
