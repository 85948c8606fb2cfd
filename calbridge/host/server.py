"""HTTP triggers on a local port: the request becomes a `func.HttpRequest`, the
function's `func.HttpResponse` goes back as it is. Function keys are checked here,
as the Functions host checks them in Azure."""

from __future__ import annotations

import hmac
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import azure.functions as func

from calbridge.host.app import HttpFunction
from calbridge.host.routing import Router

log = logging.getLogger("calbridge.host")

# The Functions host's own request size limit (100 MB); the app sets tighter ones.
MAX_REQUEST_BYTES = 100 * 1024 * 1024


def _error(status: int, code: str, message: str) -> tuple[int, dict[str, str], bytes]:
    body = json.dumps({"success": False, "error": {"code": code, "message": message}})
    return status, {"Content-Type": "application/json"}, body.encode()


class FunctionsHttpServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], functions: list[HttpFunction],
                 route_prefix: str, function_key: str | None) -> None:
        self.router = Router(functions, route_prefix)
        self.function_key = function_key
        super().__init__(address, _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def start_background(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name="http", daemon=True)
        thread.start()
        return thread

    def authorised(self, function: HttpFunction, headers: dict[str, str],
                   query: dict[str, str]) -> bool:
        if function.anonymous or not self.function_key:
            return True
        given = headers.get("x-functions-key") or query.get("code") or ""
        return hmac.compare_digest(given.encode(), self.function_key.encode())

    def dispatch(self, method: str, target: str, headers: dict[str, str],
                 body: bytes) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(target)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        function, params, path_known = self.router.match(method, parts.path)
        if function is None:
            if path_known:
                return _error(405, "method_not_allowed", f"{method} is not allowed here")
            return _error(404, "not_found", f"no function answers {parts.path}")
        if not self.authorised(function, headers, query):
            return _error(401, "unauthorized", "a valid function key is required "
                                               "(x-functions-key header or code parameter)")
        host = headers.get("host", "127.0.0.1")
        request = func.HttpRequest(method=method, url=f"http://{host}{target}", headers=headers,
                                   params=query, route_params=params, body=body)
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


class _Handler(BaseHTTPRequestHandler):
    server: FunctionsHttpServer
    protocol_version = "HTTP/1.1"

    def _handle(self) -> None:
        length_text = self.headers.get("Content-Length", "0") or "0"
        if not length_text.isdigit():
            self._send(*_error(400, "bad_request", "invalid Content-Length"))
            return
        length = int(length_text)
        if length > MAX_REQUEST_BYTES:
            self.close_connection = True
            self._send(*_error(413, "payload_too_large", "request body too large"))
            return
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        self._send(*self.server.dispatch(self.command, self.path, headers, body))

    def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for key, value in headers.items():
            if key.lower() not in {"content-length", "connection", "transfer-encoding"}:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _handle

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s %s", self.address_string(), format % args)
