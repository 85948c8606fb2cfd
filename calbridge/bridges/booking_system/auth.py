"""How requests to the booking system are authenticated: a static API key, or an
OAuth2 client-credentials token fetched through the same `HttpClient` and cached."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

import requests

from calbridge.bridges.http import HttpClient
from calbridge.errors import (
    AuthError,
    EtagConflict,
    NotFound,
    UpstreamError,
    UpstreamUnavailable,
)

DEFAULT_TOKEN_LIFETIME = 3600.0
# Refresh this long before the token expires (at most a tenth of its lifetime).
REFRESH_MARGIN = 60.0


class Credentials(Protocol):
    def headers(self) -> dict[str, str]:
        """Headers that authenticate one request."""
        ...

    def invalidate(self) -> bool:
        """Forget a cached credential; True when a retry may now succeed."""
        ...


class ApiKey:
    """A static key sent in a header (`X-API-Key` by default)."""

    def __init__(self, header: str, key: str) -> None:
        self._header = header
        self._key = key

    def __repr__(self) -> str:
        return f"ApiKey(header={self._header!r})"

    def headers(self) -> dict[str, str]:
        return {self._header: self._key}

    def invalidate(self) -> bool:
        return False


class ClientCredentials:
    """An OAuth2 client-credentials bearer token, cached until shortly before it expires."""

    def __init__(self, http: HttpClient, token_url: str, client_id: str, client_secret: str,
                 scope: str | None = None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._http = http
        self._token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._scope = scope
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._refresh_at = 0.0

    def __repr__(self) -> str:
        return f"ClientCredentials(token_url={self._token_url!r}, client_id={self._client_id!r})"

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token()}"}

    def invalidate(self) -> bool:
        with self._lock:
            had_token = self._token is not None
            self._token = None
        return had_token

    def token(self) -> str:
        """The cached token, or a fresh one when it is missing or about to expire."""
        with self._lock:
            if self._token is None or self._clock() >= self._refresh_at:
                self._token, lifetime = self._fetch()
                self._refresh_at = self._clock() + lifetime - min(REFRESH_MARGIN, lifetime / 10)
            return self._token

    def _fetch(self) -> tuple[str, float]:
        form = {"grant_type": "client_credentials"}
        if self._scope:
            form["scope"] = self._scope
        try:
            # A token request changes nothing on the server, so it may be retried.
            response = self._http.request(
                "POST", self._token_url, idempotent=True, data=form,
                auth=requests.auth.HTTPBasicAuth(self._client_id, self._client_secret),
                headers={"Accept": "application/json"})
        except UpstreamUnavailable:
            raise
        except (UpstreamError, NotFound, EtagConflict) as exc:
            # invalid_client / invalid_grant come back as 400 or 401.
            raise AuthError(f"booking system token request refused: {exc.message}") from None
        try:
            body = response.json()
            token = body["access_token"]
            expires_in = body.get("expires_in")
            lifetime = DEFAULT_TOKEN_LIFETIME if expires_in is None else float(expires_in)
        except (ValueError, KeyError, TypeError):
            raise AuthError("booking system token response has no access_token") from None
        if not isinstance(token, str) or not token:
            raise AuthError("booking system token response has no access_token")
        return token, max(lifetime, 0.0)
