"""Google's OAuth 2.0 token endpoint for server-to-server apps, and the bearer tokens it mints.

Looked up (Google Identity "Using OAuth 2.0 for Server to Server Applications", RFC 7523,
RFC 6749 and the errors Google's endpoint is observed to answer in client-library issues):

- `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer` with `assertion`, an RS256 JWT
  signed with the service account's private key: `iss` the service account's e-mail,
  `scope` space-separated, `aud` Google's token URI (this emulator also takes its own
  `token_uri`), `iat`/`exp` (at most one hour apart), and
  `sub` — a user to act as (domain-wide delegation). Answers `{"access_token",
  "expires_in": 3599, "token_type": "Bearer"}`.
  Errors (400): unknown `iss` → `invalid_grant` "Invalid grant: account not found"; bad
  signature → `invalid_grant` "Invalid JWT Signature."; wrong `aud` → `invalid_grant`
  "Invalid JWT: Failed audience check."; stale or long-lived `iat`/`exp` → `invalid_grant`
  "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable
  timeframe…"; no scope → `invalid_scope`; `sub` not a user of the domain →
  `invalid_grant` "Invalid email or User ID"; delegation off or a scope it does not cover
  → `unauthorized_client` "Client is unauthorized to retrieve access tokens using this
  method, or client not authorized for any of the scopes requested."
- `grant_type=refresh_token` with `client_id`, `client_secret`, `refresh_token`: unknown
  client → 401 `invalid_client` "The OAuth client was not found."; wrong secret → 401
  `invalid_client` "Unauthorized"; unknown refresh token → 400 `invalid_grant` "Token has
  been expired or revoked."; anything else → 400 `unsupported_grant_type`.

Access tokens are opaque to clients; here they are HMAC-signed (with a key derived from
the service account key, kept in the certificate folder), so they survive a reset and a
restart with the same folder, and last 3599 seconds like Google's.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .api import GoogleError, OAuthError, Request, Response

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# Google's guide: `aud` "is always https://oauth2.googleapis.com/token when making an access
# token request", and google-auth sends exactly that whatever the key file's token_uri says.
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
TOKEN_LIFETIME = 3599
KEY_FILE = "service-account-key.pem"
CLOCK_SKEW = 300
UNAUTHORIZED_CLIENT = ("Client is unauthorized to retrieve access tokens using this method, "
                       "or client not authorized for any of the scopes requested.")
SHORT_LIVED = ("Invalid JWT: Token must be a short-lived token (60 minutes) and in a "
               "reasonable timeframe. Check your iat and exp values in the JWT claim.")


@dataclass(frozen=True)
class Principal:
    """Who a bearer token acts for, and with which scopes."""

    email: str
    scopes: frozenset[str]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def load_or_create_key(directory: Path) -> rsa.RSAPrivateKey:
    """The service account's RSA key, kept in ``directory`` so a restart keeps it valid."""
    path = directory / KEY_FILE
    if path.is_file():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if isinstance(key, rsa.RSAPrivateKey):
            return key
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(_private_pem(key))
    return key


def _private_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


class Identity:
    """The token endpoint and bearer-token checks."""

    def __init__(self, seed: dict[str, Any], key: rsa.RSAPrivateKey) -> None:
        self.project_id = str(seed["project_id"])
        account = seed["service_account"]
        self.client_email = str(account["client_email"])
        self.client_id = str(account["client_id"])
        self.delegation = bool(account.get("delegation"))
        self.delegated_scopes = set(account.get("delegated_scopes") or [])
        client = seed["oauth_client"]
        self.oauth_client_id = str(client["client_id"])
        self.oauth_client_secret = str(client["client_secret"])
        self.refresh_tokens: dict[str, str] = dict(client.get("refresh_tokens") or {})
        self.users = {str(u["email"]).lower() for u in seed.get("users", [])}
        self.key = key
        public_der = key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.private_key_id = hashlib.sha1(public_der).hexdigest()  # noqa: S324 - an id
        self._mac_key = hashlib.sha256(b"access-token" + _private_pem(key)).digest()
        self.token_uri = ""

    # the key file ---------------------------------------------------------------------

    def service_account_info(self) -> dict[str, str]:
        """A service-account key as Google's console downloads it (JSON fields)."""
        return {
            "type": "service_account",
            "project_id": self.project_id,
            "private_key_id": self.private_key_id,
            "private_key": _private_pem(self.key).decode(),
            "client_email": self.client_email,
            "client_id": self.client_id,
            "auth_uri": self.token_uri.rsplit("/", 1)[0] + "/auth",
            "token_uri": self.token_uri,
        }

    def write_key_file(self, path: str | Path) -> Path:
        """Write the key file (owner-readable only) that `from_service_account_file` reads."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(self.service_account_info(), handle, indent=2)
        return target

    # access tokens --------------------------------------------------------------------

    def issue_token(self, email: str, scopes: list[str] | set[str] | frozenset[str],
                    lifetime: int = TOKEN_LIFETIME) -> str:
        """A bearer token acting as ``email`` with ``scopes``."""
        claims = {"sub": email, "scp": sorted(scopes), "exp": int(time.time()) + lifetime}
        payload = _b64url(json.dumps(claims, separators=(",", ":")).encode())
        mac = _b64url(hmac.new(self._mac_key, payload.encode(), hashlib.sha256).digest())
        return f"ya29.{payload}.{mac}"

    def authenticate(self, authorization: str) -> Principal:
        """The principal of an `Authorization: Bearer` header; 401 `authError` otherwise."""
        scheme, _, token = authorization.partition(" ")
        try:
            if scheme.lower() != "bearer" or not token.startswith("ya29."):
                raise ValueError("not a bearer token")
            payload, mac = token[len("ya29."):].split(".")
            expected = _b64url(hmac.new(self._mac_key, payload.encode(), hashlib.sha256).digest())
            if not hmac.compare_digest(mac, expected):
                raise ValueError("bad signature")
            claims = json.loads(_unb64url(payload))
            if claims["exp"] <= time.time():
                raise ValueError("expired")
            return Principal(str(claims["sub"]).lower(), frozenset(claims["scp"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise GoogleError(401, "authError", "Invalid Credentials", location="Authorization",
                              location_type="header",
                              headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'}
                              ) from exc

    # the token endpoint ---------------------------------------------------------------

    def token(self, req: Request) -> Response:
        """`POST token_uri`: the JWT bearer grant or the refresh-token grant."""
        form = _form(req)
        grant = form.get("grant_type", "")
        try:
            if grant == JWT_BEARER:
                email, scopes = self._jwt_bearer(form.get("assertion", ""))
            elif grant == "refresh_token":
                email, scopes = self._refresh(form)
            else:
                raise OAuthError("unsupported_grant_type", f"Invalid grant_type: {grant}")
        except OAuthError as error:
            return error.response()
        body: dict[str, Any] = {"access_token": self.issue_token(email, scopes),
                                "expires_in": TOKEN_LIFETIME, "token_type": "Bearer"}
        if grant == "refresh_token":
            body["scope"] = " ".join(sorted(scopes))
        return Response(200, body, {"Cache-Control": "no-cache, no-store, max-age=0"})

    def _jwt_bearer(self, assertion: str) -> tuple[str, set[str]]:
        try:
            head_b64, claims_b64, signature_b64 = assertion.split(".")
            header = json.loads(_unb64url(head_b64))
            claims = json.loads(_unb64url(claims_b64))
            signature = _unb64url(signature_b64)
        except (ValueError, TypeError) as exc:
            raise OAuthError("invalid_grant", "Invalid JWT Signature.") from exc
        if not isinstance(claims, dict) or not isinstance(header, dict):
            raise OAuthError("invalid_grant", "Invalid JWT Signature.")
        if str(claims.get("iss", "")).lower() != self.client_email.lower():
            raise OAuthError("invalid_grant", "Invalid grant: account not found")
        if header.get("alg") != "RS256":
            raise OAuthError("invalid_grant", "Invalid JWT Signature.")
        try:
            self.key.public_key().verify(signature, f"{head_b64}.{claims_b64}".encode(),
                                         padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature as exc:
            raise OAuthError("invalid_grant", "Invalid JWT Signature.") from exc
        if claims.get("aud") not in (self.token_uri, GOOGLE_TOKEN_URI):
            raise OAuthError("invalid_grant", "Invalid JWT: Failed audience check.")
        iat, exp, now = claims.get("iat"), claims.get("exp"), time.time()
        if not isinstance(iat, int | float) or not isinstance(exp, int | float):
            raise OAuthError("invalid_grant", SHORT_LIVED)
        if exp <= now or iat > now + CLOCK_SKEW or exp - iat > 3600:
            raise OAuthError("invalid_grant", SHORT_LIVED)
        scopes = set(str(claims.get("scope") or "").split())
        if not scopes:
            raise OAuthError("invalid_scope", "Empty or missing scope not allowed.")
        subject = claims.get("sub")
        if not subject or str(subject).lower() == self.client_email.lower():
            return self.client_email.lower(), scopes
        if str(subject).lower() not in self.users:
            raise OAuthError("invalid_grant", "Invalid email or User ID")
        if not self.delegation or not scopes <= self.delegated_scopes:
            raise OAuthError("unauthorized_client", UNAUTHORIZED_CLIENT)
        return str(subject).lower(), scopes

    def _refresh(self, form: dict[str, str]) -> tuple[str, set[str]]:
        if form.get("client_id") != self.oauth_client_id:
            raise OAuthError("invalid_client", "The OAuth client was not found.", 401)
        if not hmac.compare_digest(form.get("client_secret", ""), self.oauth_client_secret):
            raise OAuthError("invalid_client", "Unauthorized", 401)
        user = self.refresh_tokens.get(form.get("refresh_token", ""))
        if user is None:
            raise OAuthError("invalid_grant", "Token has been expired or revoked.")
        # A refresh token carries the scopes the user consented to; the seed's tokens were
        # granted Calendar access, and a request may narrow it.
        scopes = set(form.get("scope", "").split()) or {"https://www.googleapis.com/auth/calendar"}
        return user.lower(), scopes


def _form(req: Request) -> dict[str, str]:
    if req.header("content-type").startswith("application/json"):
        try:
            data = json.loads(req.body or b"{}")
        except ValueError:
            data = {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
    parsed = parse_qs(req.body.decode("utf-8", "replace"), keep_blank_values=True)
    return {k: v[0] for k, v in parsed.items()}
