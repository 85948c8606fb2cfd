"""The HTTPS listener and `GraphEmulator`, the object tests and tools start and stop."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from ..server import EmulatorServer
from .admin import AdminApi
from .api import ApiRequest, ApiResponse, GraphError, error_response
from .seed import load_seed
from .service import GraphService

log = logging.getLogger("emulators.graph")


class GraphEmulator(EmulatorServer[GraphService]):
    """A local Microsoft Graph (v1.0 calendar subset) and identity platform over HTTPS."""

    title = "Graph emulator"
    short_name = "graph"
    server_version = "GraphEmulator/1.0"
    json_content_type = "application/json; odata.metadata=minimal; charset=utf-8"
    admin_type = AdminApi

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
        super().__init__(host, port, cert_dir, state_file)
        seed_data = dict(seed) if isinstance(seed, dict) else load_seed(seed)
        app = dict(seed_data.get("app") or {})
        self.tenant_id = tenant_id or seed_data["tenant_id"]
        self.client_id = client_id or app["client_id"]
        self.client_secret = client_secret or app["client_secret"]
        self._seed = seed_data

    @property
    def graph_url(self) -> str:
        """base_url + "/v1.0"."""
        return f"{self.base_url}/v1.0"

    @property
    def authority_host(self) -> str:
        """The login host; the msal authority is f"{authority_host}/{tenant_id}"."""
        return self.base_url

    def _new_service(self) -> GraphService:
        return GraphService(
            self._seed, self.tenant_id, self.client_id, self.client_secret, self.ca_path
        )

    def _bound(self, service: GraphService) -> None:
        service.identity.base_url = self.base_url

    # dispatch ------------------------------------------------------------------------------

    def dispatch(self, method: str, target: str, headers: dict[str, str], body: bytes
                 ) -> ApiResponse:
        """Route one HTTP request to Graph, identity or admin."""
        assert self.service is not None and self._admin is not None
        req = ApiRequest.from_target(method, target, headers, body)
        path = req.path
        if path == "/v1.0" or path.startswith("/v1.0/"):
            req.path = path[len("/v1.0"):] or "/"
            self.service.counter.record_call()
            return self._saved(req, self.service.handle(req))
        if path.startswith("/_admin/"):
            try:
                return self._saved(req, self._admin.handle(req))
            except GraphError as error:
                return error_response(error, req)
        return self._identity(req)

    def _saved(self, req: ApiRequest, response: ApiResponse) -> ApiResponse:
        self._wait_saved(req.method)
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

    @staticmethod
    def internal_error() -> ApiResponse:
        """A request whose handling raised, answered in Graph's shape."""
        return error_response(GraphError(500, "InternalServerError", "Unexpected error."))

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
