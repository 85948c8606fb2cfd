"""Access tokens for the Google Calendar API through `google-auth`: a service account
(with domain-wide delegation to `GOOGLE_CALENDAR_SUBJECT`) or one account's OAuth refresh
token. Credentials are built once per bridge and refreshed only when the token nears its
expiry; every refresh goes to the configured token URI with calbridge's timeout and CA
bundle, and `google-auth` errors become `calbridge.errors`."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

import google.auth.exceptions
import google.auth.transport.requests
import requests
from google.auth.credentials import Credentials
from google.oauth2 import credentials as oauth2_credentials
from google.oauth2 import service_account

from calbridge.bridges.google_calendar.settings import GoogleCalendarSettings
from calbridge.errors import AuthError, ConfigurationError, UpstreamUnavailable

log = logging.getLogger(__name__)
SYSTEM = "google_calendar"


class _TokenRequest(google.auth.transport.requests.Request):
    """google-auth's transport with calbridge's timeout and CA bundle on every call (its
    own default timeout is two minutes, and `requests` would let REQUESTS_CA_BUNDLE
    replace a bundle set on the session)."""

    def __init__(self, timeout: float, verify: str | bool) -> None:
        super().__init__(requests.Session())
        self._timeout = timeout
        self._verify = verify

    def __call__(self, url: str, method: str = "GET", body: Any = None,  # type: ignore[override]
                 headers: Any = None, timeout: float | None = None,
                 **kwargs: Any) -> Any:
        kwargs["verify"] = self._verify
        return super().__call__(url, method=method, body=body, headers=headers,
                                timeout=self._timeout, **kwargs)


def service_account_info(settings: GoogleCalendarSettings) -> dict[str, Any]:
    """The service account key as a dict, from the secret setting or the file."""
    if settings.service_account_key_file:
        try:
            raw = Path(settings.service_account_key_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigurationError(
                f"GOOGLE_CALENDAR_SERVICE_ACCOUNT_KEY_FILE cannot be read: {exc.strerror}"
            ) from None
        where = "GOOGLE_CALENDAR_SERVICE_ACCOUNT_KEY_FILE"
    else:
        raw, where = settings.service_account_key or "", "GOOGLE_CALENDAR_SERVICE_ACCOUNT_KEY"
    try:
        info = json.loads(raw)
    except ValueError:
        # Never quote the value: it is a private key.
        raise ConfigurationError(f"{where} is not a JSON service account key") from None
    missing = [k for k in ("client_email", "private_key") if not isinstance(info, dict)
               or not info.get(k)]
    if missing:
        raise ConfigurationError(f"{where} lacks {', '.join(missing)}")
    return info


def build_credentials(settings: GoogleCalendarSettings) -> Credentials:
    """The `google-auth` credentials the settings describe, with the token URI they name."""
    if settings.uses_service_account:
        info = {**service_account_info(settings), "token_uri": settings.token_uri}
        try:
            built = service_account.Credentials.from_service_account_info(
                info, scopes=settings.scopes, subject=settings.subject)
        except (ValueError, KeyError):
            raise ConfigurationError("the Google service account key cannot be used "
                                     "(malformed private key)") from None
        return built
    return oauth2_credentials.Credentials(
        token=None, refresh_token=settings.refresh_token, client_id=settings.client_id,
        client_secret=settings.client_secret, token_uri=settings.token_uri,
        scopes=settings.scopes)


class GoogleTokens:
    """Hands out a valid access token, refreshing it through the token URI when needed."""

    def __init__(self, settings: GoogleCalendarSettings, *, timeout: float = 30.0) -> None:
        self._settings = settings
        self._credentials = build_credentials(settings)
        self._request = _TokenRequest(timeout, settings.ca_bundle or True)
        self._lock = threading.Lock()

    def token(self) -> str:
        """A valid access token; raises `AuthError` (refused) or `UpstreamUnavailable`."""
        with self._lock:
            if not self._credentials.valid:
                self._refresh()
            return str(self._credentials.token)

    def invalidate(self) -> None:
        """Forget the token (the API answered 401): the next call refreshes it."""
        with self._lock:
            self._credentials.token = None

    def _refresh(self) -> None:
        try:
            self._credentials.refresh(self._request)
        except google.auth.exceptions.RefreshError as exc:
            # The first argument is the token endpoint's error ("invalid_grant: ..."); the
            # request carried our secret, the answer does not.
            reason = str(exc.args[0]) if exc.args else "refused"
            log.warning("token refused", extra={"bridge": SYSTEM, "error": reason[:200]})
            raise AuthError(f"{SYSTEM}: token request refused: {reason[:200]}") from None
        except google.auth.exceptions.TransportError as exc:
            raise UpstreamUnavailable(
                f"{SYSTEM}: token endpoint unreachable: {type(exc.__cause__ or exc).__name__}"
            ) from None
        except (ValueError, TypeError):
            raise AuthError(f"{SYSTEM}: token answer could not be read") from None
