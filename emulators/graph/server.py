"""The HTTPS listener and `GraphEmulator`, the object tests and tools start and stop."""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

from ..certs import ensure_certificates
from ..https import LOOPBACK_HOSTS, TlsServer, server_context
from ..state import StateWriter
from .admin import AdminApi
from .api import ApiRequest, ApiResponse, GraphError, error_response
from .seed import load_seed
from .service import GraphService

log = logging.getLogger("emulators.graph")


class GraphEmulator:
    """A local Microsoft Graph (v1.0 calendar subset) and identity platform over HTTPS."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        cert_dir: str | Path | None = None,
        seed: str | Path | dict[str, Any] | None = None,
        tenant_id: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        state_file: str | Path | None = None,
    ) -> None:
        if host not in LOOPBACK_HOSTS:
            raise ValueError("the Graph emulator binds to 127.0.0.1 only")
        self.host = "127.0.0.1"
        self.port = port
        self._own_cert_dir = cert_dir is None
        self.cert_dir = Path(cert_dir) if cert_dir else Path(tempfile.mkdtemp(prefix="graph-"))
        seed_data = dict(seed) if isinstance(seed, dict) else load_seed(seed)
        app = dict(seed_data.get("app") or {})
        self.tenant_id = tenant_id or seed_data["tenant_id"]
        self.client_id = client_id or app["client_id"]
        self.client_secret = client_secret or app["client_secret"]
        self.ca_path = str(self.cert_dir / "ca.pem")
        self._seed = seed_data
        # Events are kept here between runs when set (`make serve`); None keeps nothing.
        self.state_file = Path(state_file) if state_file else None
        self.service: GraphService | None = None
        self._state: StateWriter | None = None
        self._admin: AdminApi | None = None
        self._server: TlsServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """https://127.0.0.1:PORT."""
        return f"https://{self.host}:{self.port}"

    @property
    def graph_url(self) -> str:
        """base_url + "/v1.0"."""
        return f"{self.base_url}/v1.0"

    @property
    def authority_host(self) -> str:
        """The login host; the msal authority is f"{authority_host}/{tenant_id}"."""
        return self.base_url

    def start(self) -> GraphEmulator:
        """Generate or reuse certificates, bind, and serve from a background thread."""
        paths = ensure_certificates(self.cert_dir, "calbridge Graph emulator CA")
        self.ca_path = str(paths.ca_path)
        context = server_context(paths.cert_path, paths.key_path)
        self.service = GraphService(
            self._seed, self.tenant_id, self.client_id, self.client_secret, self.ca_path
        )
        if self.state_file is not None:
            if self.state_file.exists():
                self.service.store.restore(json.loads(self.state_file.read_text()))
            self._state = StateWriter(self.service.store, self.state_file, "graph-state").start()
        self._admin = AdminApi(self.service)
        self._server = TlsServer(
            (self.host, self.port), context, self.dispatch, _internal_error,
            server_version="GraphEmulator/1.0",
            json_content_type="application/json; odata.metadata=minimal; charset=utf-8")
        self.port = self._server.server_address[1]
        self.service.base_url = self.base_url
        self.service.identity.base_url = self.base_url
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
            name="graph-emulator", daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close connections, stop notification delivery (and write what
        is still pending to `state_file`, when one is set)."""
        if self.service:
            self.service.stop()
        if self._state is not None:
            self._state.stop()
            self._state = None
        if self._server:
            self._server.shutdown()
            self._server.close_connections()
            self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None
        if self._own_cert_dir:
            shutil.rmtree(self.cert_dir, ignore_errors=True)

    def __enter__(self) -> GraphEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # dispatch ------------------------------------------------------------------------------

    def dispatch(self, method: str, target: str, headers: dict[str, str], body: bytes
                 ) -> ApiResponse:
        """Route one HTTP request to Graph, identity or admin."""
        assert self.service is not None and self._admin is not None
        req = ApiRequest.from_target(method, target, headers, body)
        path = req.path
        if path == "/v1.0" or path.startswith("/v1.0/"):
            req.path = path[len("/v1.0"):] or "/"
            return self._saved(req, self.service.handle(req))
        if path.startswith("/_admin/"):
            try:
                return self._saved(req, self._admin.handle(req))
            except GraphError as error:
                return error_response(error, req)
        return self._identity(req)

    def _saved(self, req: ApiRequest, response: ApiResponse) -> ApiResponse:
        """A change is answered once it is in `state_file`, so a killed emulator restarts
        with everything it confirmed (concurrent changes share one write)."""
        if self._state is not None and req.method in ("POST", "PATCH", "PUT", "DELETE"):
            self._state.wait()
        return response

    def _identity(self, req: ApiRequest) -> ApiResponse:
        assert self.service is not None
        identity = self.service.identity
        parts = [p for p in req.path.split("/") if p]
        if parts[:3] == ["common", "discovery", "instance"]:
            return ApiResponse(200, identity.instance_discovery(req.query))
        if not parts:
            return ApiResponse(404, {"error": "not_found"})
        tenant, rest = parts[0], "/".join(parts[1:])
        if not identity.knows_tenant(tenant):
            return ApiResponse(400, {
                "error": "invalid_tenant",
                "error_description": f"AADSTS90002: Tenant '{tenant}' not found.",
                "error_codes": [90002],
            })
        self.service.counter.record(req.method, f"/{{tenant}}/{rest}", None)
        if req.method == "GET" and rest == "v2.0/.well-known/openid-configuration":
            return ApiResponse(200, identity.openid_configuration(tenant, v2=True))
        if req.method == "GET" and rest == ".well-known/openid-configuration":
            return ApiResponse(200, identity.openid_configuration(tenant, v2=False))
        if req.method == "GET" and rest in {"discovery/v2.0/keys", "discovery/keys"}:
            return ApiResponse(200, {"keys": []})
        if req.method == "POST" and rest == "oauth2/v2.0/token":
            return identity.token(tenant, req.body, req.headers, v2=True)
        if req.method == "POST" and rest == "oauth2/token":
            return identity.token(tenant, req.body, req.headers, v2=False)
        return ApiResponse(404, {"error": "not_found", "error_description": req.path})

    def describe(self, include_secret: bool = False) -> dict[str, Any]:
        """What a client needs to connect (the secret only when asked)."""
        info: dict[str, Any] = {
            "base_url": self.base_url,
            "graph_url": self.graph_url,
            "ca_path": self.ca_path,
            "tenant_id": self.tenant_id,
            "client_id": self.client_id,
        }
        if include_secret:
            info["client_secret"] = self.client_secret
        return info

    def describe_json(self, include_secret: bool = False) -> str:
        """`describe()` as one JSON line."""
        return json.dumps(self.describe(include_secret))


def _internal_error() -> ApiResponse:
    """A request whose handling raised, answered in Graph's shape."""
    return error_response(GraphError(500, "InternalServerError", "Unexpected error."))
