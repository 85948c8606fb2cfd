"""App-only tokens for Microsoft Graph: one msal confidential client per bridge, its
token cache reused across calls (msal refreshes only when the token nears expiry)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msal
import requests

from calbridge.bridges.outlook.settings import GRAPH_SCOPE, OutlookSettings
from calbridge.errors import AuthError, ConfigurationError, UpstreamUnavailable

log = logging.getLogger(__name__)

# Hosts msal knows itself; anything else (sovereign proxies, a local emulator) is used as
# given, without asking the public cloud's instance-discovery endpoint about it.
_KNOWN_AUTHORITY_HOSTS = frozenset({
    "login.microsoftonline.com", "login.microsoftonline.us", "login.chinacloudapi.cn",
    "login.microsoftonline.de", "login.windows.net", "login.microsoft.com", "sts.windows.net",
})


def client_credential(settings: OutlookSettings) -> str | dict[str, str]:
    """The client secret, or the certificate (PEM private key + thumbprint) when configured."""
    if settings.client_certificate_path:
        try:
            pem = Path(settings.client_certificate_path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigurationError(
                f"OUTLOOK_CLIENT_CERTIFICATE_PATH cannot be read: {exc.strerror}") from None
        if "PRIVATE KEY" not in pem:
            raise ConfigurationError("OUTLOOK_CLIENT_CERTIFICATE_PATH holds no PEM private key")
        credential = {"private_key": pem,
                      "thumbprint": (settings.client_certificate_thumbprint or "").replace(":", "")}
        if "BEGIN CERTIFICATE" in pem:
            credential["public_certificate"] = pem
        return credential
    if not settings.client_secret:
        raise ConfigurationError("OUTLOOK_CLIENT_SECRET is not set")
    return settings.client_secret


class PinnedVerifySession(requests.Session):
    """A session whose `verify` holds for every request: plain `requests` lets the
    REQUESTS_CA_BUNDLE environment variable replace a CA bundle set on the session."""

    def request(self, method: str | bytes, url: str | bytes,  # type: ignore[override]
                *args: Any, **kwargs: Any) -> requests.Response:
        if kwargs.get("verify") is None:
            kwargs["verify"] = self.verify
        return super().request(method, url, *args, **kwargs)


class GraphTokens:
    """Acquires Graph tokens with the client-credentials flow."""

    def __init__(self, settings: OutlookSettings, *, timeout: float = 30.0) -> None:
        self._settings = settings
        self._credential = client_credential(settings)
        self._timeout = timeout
        self._app: msal.ConfidentialClientApplication | None = None
        self._lock = threading.Lock()

    def _client(self) -> msal.ConfidentialClientApplication:
        # Built on first use, once: msal fetches the tenant's metadata when it is built.
        with self._lock:
            if self._app is None:
                session = PinnedVerifySession()
                # A private CA (e.g. a local emulator's) is added, never verification removed.
                session.verify = self._settings.ca_bundle or True
                host = (urlsplit(self._settings.authority_host).hostname or "").lower()
                try:
                    self._app = msal.ConfidentialClientApplication(
                        self._settings.client_id,
                        client_credential=self._credential,
                        authority=self._settings.authority,
                        http_client=session,
                        timeout=self._timeout,
                        instance_discovery=host in _KNOWN_AUTHORITY_HOSTS,
                        token_cache=msal.TokenCache(),
                    )
                except requests.RequestException as exc:
                    raise UpstreamUnavailable(
                        f"outlook: authority unreachable: {type(exc).__name__}") from None
                except ValueError as exc:
                    raise AuthError(f"outlook: authority refused: {_safe(str(exc))}") from None
            return self._app

    def token(self) -> str:
        """A valid access token; raises `AuthError` (refused) or `UpstreamUnavailable`."""
        app = self._client()
        try:
            result: dict[str, Any] = app.acquire_token_for_client(scopes=[GRAPH_SCOPE]) or {}
        except requests.RequestException as exc:
            raise UpstreamUnavailable(
                f"outlook: token endpoint unreachable: {type(exc).__name__}") from None
        except ValueError as exc:
            raise AuthError(f"outlook: token request failed: {_safe(str(exc))}") from None
        token = result.get("access_token")
        if token:
            return str(token)
        error = str(result.get("error") or "unknown_error")
        codes = result.get("error_codes") or []
        log.warning("token refused", extra={"bridge": "outlook", "error": error})
        raise AuthError(f"outlook: token request refused: {error}"
                        + (f" (AADSTS{codes[0]})" if codes else ""))


def _safe(text: str) -> str:
    """An msal message, cut short: it never holds our secret, but keep logs tidy."""
    return text.splitlines()[0][:200] if text else "unknown error"
