"""`GoogleCalendarEmulator`, the object tests and tools start and stop."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ..server import EmulatorServer
from .admin import AdminApi
from .api import GoogleError, Request, Response, not_found
from .directory import DIRECTORY_ROOT
from .oauth import Identity, load_or_create_key
from .seed import CALENDAR_SCOPE, load_seed
from .service import API_ROOT, CalendarService

log = logging.getLogger("emulators.google_calendar")


class GoogleCalendarEmulator(EmulatorServer[CalendarService]):
    """A local Google Calendar API v3 (calendar list, events, push channels) and OAuth 2.0
    token endpoint over HTTPS, on 127.0.0.1 only. See the package docstring for the API."""

    title = "Google Calendar emulator"
    short_name = "gcal"
    server_version = "GoogleCalendarEmulator/1.0"
    admin_type = AdminApi

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        cert_dir: str | Path | None = None,
        seed: str | Path | dict[str, Any] | None = None,
        state_file: str | Path | None = None,
        token_path: str = "/token",  # noqa: S107 - a URL path, not a secret
    ) -> None:
        if not token_path.startswith("/") or token_path.startswith(
                (API_ROOT, DIRECTORY_ROOT, "/_admin")):
            raise ValueError("token_path must be an absolute path outside the API")
        super().__init__(host, port, cert_dir, state_file)
        self.token_path = token_path
        self.seed = dict(seed) if isinstance(seed, dict) else load_seed(seed)
        self.identity = Identity(self.seed, load_or_create_key(self.cert_dir))

    # where it is -------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        """The Calendar API root, base_url + "/calendar/v3"."""
        return self.base_url + API_ROOT

    @property
    def directory_url(self) -> str:
        """The Admin SDK Directory API root (https://admin.googleapis.com/admin/directory/v1
        at Google), base_url + "/admin/directory/v1"."""
        return self.base_url + DIRECTORY_ROOT

    @property
    def token_uri(self) -> str:
        """The OAuth 2.0 token endpoint (Google's is https://oauth2.googleapis.com/token)."""
        return self.base_url + self.token_path

    # credentials -------------------------------------------------------------------------

    @property
    def service_account_email(self) -> str:
        """The seeded service account's `client_email`."""
        return self.identity.client_email

    @property
    def oauth_client_id(self) -> str:
        """The seeded OAuth client's id (for the refresh-token grant)."""
        return self.identity.oauth_client_id

    @property
    def oauth_client_secret(self) -> str:
        """The seeded OAuth client's secret."""
        return self.identity.oauth_client_secret

    def refresh_token_for(self, user: str) -> str:
        """The seeded refresh token issued to ``user``."""
        for token, owner in self.identity.refresh_tokens.items():
            if owner.lower() == user.lower():
                return token
        raise KeyError(user)

    def service_account_info(self) -> dict[str, str]:
        """The service-account key JSON (needs the emulator started: it names token_uri)."""
        self._require_started()
        return self.identity.service_account_info()

    def write_service_account_key(self, path: str | Path) -> Path:
        """Write the key file `Credentials.from_service_account_file` reads (mode 0600)."""
        self._require_started()
        return self.identity.write_key_file(path)

    def issue_token(self, subject: str | None = None,
                    scopes: list[str] | None = None) -> str:
        """A bearer token for ``subject`` (default: the service account itself), for tests
        that are not about authentication."""
        return self.identity.issue_token((subject or self.service_account_email).lower(),
                                         scopes or [CALENDAR_SCOPE])

    # lifecycle ---------------------------------------------------------------------------

    def _new_service(self) -> CalendarService:
        return CalendarService(self.seed, self.identity, self.ca_path)

    def _bound(self, service: CalendarService) -> None:
        self.identity.token_uri = self.token_uri

    def _require_started(self) -> None:
        if self.service is None:
            raise RuntimeError("start() the emulator first: the key file names its token_uri")

    # admin helpers (the same as /_admin, without HTTP) -----------------------------------

    def reset(self) -> None:
        """Back to the seed: events, channels, sync tokens, faults, request counts."""
        self._service().reset()

    def expire_sync_tokens(self) -> None:
        """Every sync token issued so far answers 410 `fullSyncRequired`."""
        self._service().store.expire_sync_tokens()

    def expire_channels(self) -> int:
        """End every push channel now."""
        return self._service().channels.expire_all()

    def add_fault(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Inject a fault (the `POST /_admin/faults` body)."""
        service = self._service()
        return service.faults.as_json(service.faults.add(spec))

    def request_counts(self) -> dict[str, Any]:
        """Requests by route, by calendar and by status."""
        return self._service().counter.snapshot()

    def delete_calendar(self, calendar_id: str) -> bool:
        """Delete a calendar (its channels hear `not_exists`)."""
        return self._service().store.delete_calendar(calendar_id)

    def _service(self) -> CalendarService:
        if self.service is None:
            raise RuntimeError("the emulator is not started")
        return self.service

    # dispatch ----------------------------------------------------------------------------

    def dispatch(self, method: str, target: str, headers: dict[str, str], body: bytes
                 ) -> Response:
        """Route one HTTP request to the Calendar API, the token endpoint or admin."""
        service = self._service()
        assert self._admin is not None
        req = Request.from_target(method, target, headers, body)
        try:
            if req.path == API_ROOT or req.path.startswith(API_ROOT + "/"):
                req.path = req.path[len(API_ROOT):] or "/"
                response = service.handle(req)
            elif req.path.startswith(DIRECTORY_ROOT + "/"):
                req.path = req.path[len(DIRECTORY_ROOT):]
                response = service.handle(req, service.directory_router)
            elif req.path == self.token_path and req.method == "POST":
                service.counter.record("POST", self.token_path, None)
                response = self.identity.token(req)
            elif req.path.startswith("/_admin/"):
                response = self._admin.handle(req)
            else:
                raise not_found()
        except GoogleError as error:
            response = error.response()
        service.counter.record_status(response.status)
        if response.status < 400:
            self._wait_saved(req.method)
        return response

    @staticmethod
    def internal_error() -> Response:
        """A request whose handling raised, answered in Google's shape."""
        return GoogleError(500, "backendError", "Backend Error").response()

    def describe(self) -> dict[str, Any]:
        """What a client needs to connect (no private key)."""
        return {"base_url": self.base_url, "api_url": self.api_url,
                "token_uri": self.token_uri, "ca_path": self.ca_path,
                "directory_url": self.directory_url,
                "service_account": self.service_account_email,
                "oauth_client_id": self.oauth_client_id}
