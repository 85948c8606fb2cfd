"""The bridge's HTTP API as the command line uses it: URL and key from options or the
environment, the key sent as `x-functions-key` (never shown), errors as exit codes."""

from __future__ import annotations

import argparse
import os
import re
from typing import Any
from urllib.parse import urlsplit

import requests

from calbridge.cli.failures import CommandFailed, Unreachable, UsageError

URL_SETTING = "CALBRIDGE_URL"
KEY_SETTING = "CALBRIDGE_FUNCTION_KEY"
DEFAULT_URL = "http://127.0.0.1:7071"
TIMEOUT_SECONDS = 30.0


def add_connection_options(parser: argparse.ArgumentParser,
                           timeout: float = TIMEOUT_SECONDS) -> None:
    parser.add_argument("--url", default=None,
                        help=f"the bridge's base URL (default ${URL_SETTING} or {DEFAULT_URL})")
    parser.add_argument("--key", default=None,
                        help=f"function key for management endpoints (default ${KEY_SETTING}); "
                             "prefer the environment variable: options show up in `ps`")
    parser.add_argument("--timeout", type=float, default=timeout,
                        help=f"seconds to wait for an answer (default {timeout:g})")


class BridgeApi:
    """JSON requests against one calbridge deployment."""

    def __init__(self, url: str, key: str | None, timeout: float = TIMEOUT_SECONDS) -> None:
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise UsageError(f"--url must be an http(s) URL, got {shown_url(url)!r}")
        if parts.query or parts.username or parts.password:
            raise UsageError("--url must not carry a query or credentials: "
                             f"pass the key with --key or ${KEY_SETTING}")
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["Accept"] = "application/json"
        if key:
            self.session.headers["x-functions-key"] = key

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> BridgeApi:
        url = args.url or os.environ.get(URL_SETTING) or DEFAULT_URL
        key = args.key if args.key is not None else os.environ.get(KEY_SETTING)
        return cls(url, key or None, args.timeout)

    def call(self, method: str, path: str, *, json: Any = None,
             params: dict[str, str] | None = None,
             accept: tuple[int, ...] = ()) -> dict[str, Any]:
        """The answer's JSON body. A `success: false` answer raises `CommandFailed` with
        the API's message, unless its status is in `accept`."""
        try:
            answer = self.session.request(method, self.url + path, json=json, params=params,
                                          timeout=self.timeout)
        except requests.Timeout:
            raise Unreachable(f"{self.url} did not answer within {self.timeout:g}s") from None
        except requests.ConnectionError as exc:
            raise Unreachable(f"cannot reach calbridge at {self.url}: "
                              f"{_reason(exc)}") from None
        except requests.RequestException as exc:
            raise Unreachable(f"request to {self.url} failed: {type(exc).__name__}") from None
        try:
            body = answer.json()
        except ValueError:
            raise CommandFailed(f"{method} {path} answered HTTP {answer.status_code} without "
                                "JSON: is --url a calbridge host?") from None
        if not isinstance(body, dict):
            raise CommandFailed(f"{method} {path} answered unexpected JSON")
        if answer.ok or answer.status_code in accept:
            return body
        error = body.get("error") if isinstance(body.get("error"), dict) else {}
        message = error.get("message") or f"{method} {path} failed"
        code = error.get("code") or "error"
        raise CommandFailed(f"{message} (HTTP {answer.status_code} {code})")


def shown_url(url: str) -> str:
    """A URL without query or credentials, safe to print."""
    return re.sub(r"//[^/@]*@", "//", url.split("?", 1)[0].split("#", 1)[0])


def _reason(exc: requests.ConnectionError) -> str:
    text = str(exc)
    for hint in ("Connection refused", "Name or service not known", "No route to host",
                 "timed out", "certificate verify failed", "Temporary failure in name"):
        if hint.lower() in text.lower():
            return hint.lower()
    return "connection failed"
