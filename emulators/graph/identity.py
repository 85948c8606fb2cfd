"""Microsoft identity platform endpoints, enough for msal's client-credentials flow.

Access tokens are JWTs signed with a per-process HMAC key: Graph calls verify the signature,
expiry and tenant. Client assertions (certificate credentials) are accepted when they are
well-formed JWTs naming the registered client as issuer and subject; their signature is not
checked, because the emulator holds no registered certificate.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
import uuid
from typing import Any
from urllib.parse import parse_qsl

from .api import ApiResponse, GraphError, utc_now

GRAPH_RESOURCE = "https://graph.microsoft.com"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
TOKEN_LIFETIME = 3599
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
APP_ROLES = ["Calendars.ReadWrite", "Place.Read.All", "User.Read.All"]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class IdentityProvider:
    """Discovery, token issuance and token validation for one tenant and one app."""

    def __init__(
        self, tenant_id: str, tenant_domain: str, client_id: str, client_secret: str
    ) -> None:
        self.tenant_id = tenant_id
        self.tenant_domain = tenant_domain
        self.client_id = client_id
        self.client_secret = client_secret
        self.base_url = ""
        self._key = secrets.token_bytes(32)

    # discovery ---------------------------------------------------------------------------

    def knows_tenant(self, tenant: str) -> bool:
        """True for the tenant id, its domain, or the multi-tenant aliases."""
        return tenant.lower() in {
            self.tenant_id.lower(),
            self.tenant_domain.lower(),
            "organizations",
            "common",
        }

    def openid_configuration(self, tenant: str, v2: bool) -> dict[str, Any]:
        """The OIDC discovery document for ``tenant`` (v2.0 or v1 form)."""
        root = f"{self.base_url}/{self.tenant_id}"
        suffix = "/v2.0" if v2 else ""
        return {
            "token_endpoint": f"{root}/oauth2{suffix}/token",
            "token_endpoint_auth_methods_supported": [
                "client_secret_post",
                "private_key_jwt",
                "client_secret_basic",
            ],
            "jwks_uri": f"{root}/discovery{suffix}/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "token id_token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{root}{suffix}" if v2 else f"{self.base_url}/{self.tenant_id}/",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": f"{self.base_url}/oidc/userinfo",
            "authorization_endpoint": f"{root}/oauth2{suffix}/authorize",
            "device_authorization_endpoint": f"{root}/oauth2{suffix}/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{root}/oauth2{suffix}/logout",
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "tid", "oid"],
            "tenant_region_scope": "EU",
            "cloud_instance_name": "emulator.local",
            "msgraph_host": self.base_url.removeprefix("https://"),
        }

    def instance_discovery(self, query: dict[str, str]) -> dict[str, Any]:
        """What login.microsoftonline.com/common/discovery/instance answers for this host."""
        host = self.base_url.removeprefix("https://")
        return {
            "tenant_discovery_endpoint": (
                f"{self.base_url}/{self.tenant_id}/v2.0/.well-known/openid-configuration"
            ),
            "api-version": "1.1",
            "metadata": [
                {"preferred_network": host, "preferred_cache": host, "aliases": [host]}
            ],
        }

    # token endpoint ----------------------------------------------------------------------

    def token(self, tenant: str, body: bytes, headers: dict[str, str], v2: bool) -> ApiResponse:
        """The client-credentials grant; AAD-shaped errors on failure."""
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        basic = headers.get("authorization", "")
        if basic.lower().startswith("basic "):
            try:
                user, _, password = base64.b64decode(basic[6:]).decode().partition(":")
                form.setdefault("client_id", user)
                form.setdefault("client_secret", password)
            except (binascii.Error, UnicodeDecodeError):
                pass
        if not self.knows_tenant(tenant) or tenant.lower() in {"common", "organizations"}:
            return self._aad_error(
                400, "invalid_request", 90002, f"Tenant '{tenant}' not found or not usable."
            )
        if form.get("grant_type") != "client_credentials":
            return self._aad_error(
                400,
                "unsupported_grant_type",
                70003,
                "The app requested an unsupported grant type "
                f"'{form.get('grant_type', '')}'.",
            )
        client_id = form.get("client_id", "")
        if client_id != self.client_id:
            return self._aad_error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory "
                f"'{self.tenant_id}'.",
            )
        failure = self._check_credential(form)
        if failure:
            return failure
        if v2:
            scopes = set(form.get("scope", "").split()) - {"openid", "profile", "offline_access"}
            allowed = {
                f"{GRAPH_RESOURCE}/.default",
                f"{GRAPH_APP_ID}/.default",
                f"{self.base_url}/.default",
                f"{self.base_url}/v1.0/.default",
            }
            if len(scopes) != 1 or not scopes <= allowed:
                return self._aad_error(
                    400,
                    "invalid_scope",
                    1002012,
                    f"The provided value for scope {form.get('scope', '')} is not valid. "
                    "Client credential flows must have a scope value with /.default suffixed "
                    "to the resource identifier (application ID URI).",
                )
        elif form.get("resource", "").rstrip("/") not in {GRAPH_RESOURCE, GRAPH_APP_ID}:
            return self._aad_error(400, "invalid_resource", 500011, "Resource not found.")
        access_token = self.issue_token()
        body_out: dict[str, Any] = {
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME,
            "ext_expires_in": TOKEN_LIFETIME,
            "access_token": access_token,
        }
        return ApiResponse(200, body_out, {"Cache-Control": "no-store", "Pragma": "no-cache"})

    def _check_credential(self, form: dict[str, str]) -> ApiResponse | None:
        if "client_assertion" in form:
            if form.get("client_assertion_type") != ASSERTION_TYPE:
                return self._aad_error(
                    400, "invalid_request", 50027, "Invalid client_assertion_type."
                )
            claims = _unverified_claims(form["client_assertion"])
            if (
                not claims
                or claims.get("iss") != self.client_id
                or claims.get("sub") != self.client_id
                or float(claims.get("exp", 0)) < time.time()
            ):
                return self._aad_error(
                    401,
                    "invalid_client",
                    700027,
                    "Client assertion failed signature validation or is not a well-formed JWT "
                    "issued by the client.",
                )
            return None
        secret = form.get("client_secret", "")
        if not secret:
            return self._aad_error(
                401,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or "
                "'client_secret'.",
            )
        if not hmac.compare_digest(secret.encode(), self.client_secret.encode()):
            return self._aad_error(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is "
                f"the client secret value, not the client secret ID, for a secret added to app "
                f"'{self.client_id}'.",
            )
        return None

    def _aad_error(self, status: int, error: str, code: int, text: str) -> ApiResponse:
        trace_id = str(uuid.uuid4())
        now = utc_now().strftime("%Y-%m-%d %H:%M:%SZ")
        description = f"AADSTS{code}: {text} Trace ID: {trace_id} Timestamp: {now}"
        return ApiResponse(
            status,
            {
                "error": error,
                "error_description": description,
                "error_codes": [code],
                "timestamp": now,
                "trace_id": trace_id,
                "correlation_id": str(uuid.uuid4()),
                "error_uri": f"{self.base_url}/error?code={code}",
            },
        )

    # access tokens -----------------------------------------------------------------------

    def issue_token(self, lifetime: int = TOKEN_LIFETIME) -> str:
        """A signed app-only access token for Graph."""
        now = int(time.time())
        claims = {
            "aud": GRAPH_RESOURCE,
            "iss": f"https://sts.windows.net/{self.tenant_id}/",
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "appid": self.client_id,
            "azp": self.client_id,
            "idtyp": "app",
            "oid": str(uuid.uuid5(uuid.NAMESPACE_URL, self.client_id)),
            "sub": str(uuid.uuid5(uuid.NAMESPACE_URL, self.client_id)),
            "roles": APP_ROLES,
            "tid": self.tenant_id,
            "ver": "1.0",
        }
        header = _b64url(json.dumps({"typ": "JWT", "alg": "HS256"}).encode())
        payload = _b64url(json.dumps(claims).encode())
        signature = hmac.new(self._key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        return f"{header}.{payload}.{_b64url(signature)}"

    def authenticate(self, authorization: str) -> dict[str, Any]:
        """Claims of a valid bearer token; 401 InvalidAuthenticationToken otherwise."""
        challenge = {"WWW-Authenticate": 'Bearer realm="", authorization_uri="' + self.base_url
                     + f'/{self.tenant_id}/oauth2/authorize", client_id="{GRAPH_APP_ID}"'}
        if not authorization.lower().startswith("bearer ") or not authorization[7:].strip():
            raise GraphError(401, "InvalidAuthenticationToken", "Access token is empty.", challenge)
        token = authorization[7:].strip()
        parts = token.split(".")
        if len(parts) != 3:
            raise GraphError(
                401,
                "InvalidAuthenticationToken",
                "IDX14100: JWT is not well formed, there are no dots (.).",
                challenge,
            )
        expected = hmac.new(self._key, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
        try:
            valid = hmac.compare_digest(expected, _b64url_decode(parts[2]))
            claims = json.loads(_b64url_decode(parts[1]))
        except (binascii.Error, ValueError):
            valid, claims = False, {}
        if not valid:
            raise GraphError(
                401, "InvalidAuthenticationToken", "Access token validation failure.", challenge
            )
        if claims.get("exp", 0) < time.time():
            raise GraphError(
                401,
                "InvalidAuthenticationToken",
                "Lifetime validation failed, the token is expired.",
                challenge,
            )
        if claims.get("tid") != self.tenant_id:
            raise GraphError(
                401, "InvalidAuthenticationToken", "Access token validation failure.", challenge
            )
        return claims


def _unverified_claims(token: str) -> dict[str, Any] | None:
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        header = json.loads(_b64url_decode(parts[0]))
        claims = json.loads(_b64url_decode(parts[1]))
    except (binascii.Error, ValueError):
        return None
    if not isinstance(header, dict) or not isinstance(claims, dict) or "alg" not in header:
        return None
    return claims
