"""The HTTPS listener every emulator serves from: a threading HTTP server doing the TLS
handshake in each connection's own thread, handing each request to one dispatch callable.

The emulator decides everything about a request (routing, errors, bodies); this module only
moves bytes, bounds request bodies and can close keep-alive connections when stopping.
"""

from __future__ import annotations

import logging
import socket
import ssl
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

log = logging.getLogger("emulators.https")
LOOPBACK_HOSTS = {"127.0.0.1", "localhost"}
MAX_BODY = 4 * 1024 * 1024


class Response(Protocol):
    """What a dispatch callable answers."""

    status: int
    body: Any
    headers: dict[str, str]
    content_type: str

    def encode(self) -> bytes:
        """The body on the wire."""
        ...


Dispatch = Callable[[str, str, dict[str, str], bytes], Response]


def server_context(cert_path: str | Any, key_path: str | Any) -> ssl.SSLContext:
    """A TLS 1.2+ server context for the emulator's certificate."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_path, key_path)
    return context


class TlsServer(ThreadingHTTPServer):
    """Serves `dispatch` over HTTPS. `json_content_type` is sent for responses whose
    content type is plain "application/json" (each API spells its own); `internal_error`
    answers a request whose dispatch raised."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], context: ssl.SSLContext, dispatch: Dispatch,
                 internal_error: Callable[[], Response], server_version: str,
                 json_content_type: str = "application/json; charset=UTF-8") -> None:
        super().__init__(address, _Handler)
        self.ssl_context = context
        self.dispatch = dispatch
        self.internal_error = internal_error
        self.server_version = server_version
        self.json_content_type = json_content_type
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()

    def finish_request(self, request: Any, client_address: Any) -> None:
        request.settimeout(10)
        try:
            tls = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        with self.connections_lock:
            self.connections.add(tls)
        try:
            super().finish_request(tls, client_address)
        except (ssl.SSLError, OSError):
            pass
        finally:
            with self.connections_lock:
                self.connections.discard(tls)
            tls.close()

    def close_connections(self) -> None:
        """Shut every open keep-alive connection."""
        with self.connections_lock:
            for conn in list(self.connections):
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30  # idle keep-alive connections are closed after this many seconds

    def version_string(self) -> str:
        return self.server.server_version  # type: ignore[attr-defined,no-any-return]

    def _dispatch(self) -> None:
        server: TlsServer = self.server  # type: ignore[assignment]
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.send_error(413)
            return
        body = self.rfile.read(length) if length else b""
        headers = {k: v for k, v in self.headers.items()}
        try:
            response = server.dispatch(self.command, self.path, headers, body)
        except Exception:  # keep serving; answer in the API's own shape
            log.exception("unhandled error for %s %s", self.command, self.path)
            response = server.internal_error()
        if getattr(response, "drop", False):
            # An injected lost answer: the work is done, the client hears nothing back.
            self.close_connection = True
            return
        payload = response.encode()
        self.send_response(response.status)
        if response.body is not None:
            content_type = response.content_type
            if content_type == "application/json":
                content_type = server.json_content_type
            self.send_header("Content-Type", content_type)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _dispatch

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s - %s", self.address_string(), format % args)
