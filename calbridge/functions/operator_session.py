"""Who may use the status page, and proof that a form came from it.

The Functions host's keys cannot be presented by a browser through a cookie, so the
page's routes are anonymous to the host and check the operator's key
(`CALBRIDGE_FUNCTION_KEY`) themselves: given once (header, `code` or the login form), it
is exchanged for a session token derived from it by HMAC — the key itself is never
stored in the browser — and every form carries a token binding the session to the
action it performs (CSRF)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie

from calbridge.config import Settings
from calbridge.errors import CalbridgeError, Forbidden, Unauthorized
from calbridge.functions.callers import Caller, caller_of

COOKIE = "calbridge_dashboard"
COOKIE_PATH = "/dashboard"
SESSION_SECONDS = 12 * 3600
# App Service sets this on every app it runs; the local host never does.
SITE_NAME_SETTING = "WEBSITE_SITE_NAME"
# Signs forms while no key is set (the local host, open as its other routes are): a
# secret of this process, so a page from before a restart asks to be reloaded.
_OPEN_SECRET = secrets.token_bytes(32)
OPEN_SESSION = "open"


class DashboardNotConfigured(CalbridgeError):
    """In Azure without an operator key: the page stays shut rather than open to all."""

    code = "dashboard_not_configured"
    status = 503


class FormTokenRejected(Forbidden):
    """A form posted without this session's token for its action: not from the page."""

    code = "form_token_rejected"


@dataclass(frozen=True)
class OperatorSession:
    """An operator's session: `token` is the cookie's value (`OPEN_SESSION` while no key
    is set); `fresh` when this request logged in, so the cookie is to be set."""

    token: str
    fresh: bool = False


def _secret(settings: Settings) -> bytes:
    return settings.function_key.encode() if settings.function_key else _OPEN_SECRET


def _mac(secret: bytes, *parts: str) -> str:
    return hmac.new(secret, "|".join(parts).encode(), hashlib.sha256).hexdigest()


def _new_session(settings: Settings, now: float) -> OperatorSession:
    issued, nonce = str(int(now)), secrets.token_hex(16)
    mac = _mac(_secret(settings), "session", issued, nonce)
    return OperatorSession(f"{issued}.{nonce}.{mac}", fresh=True)


def _valid_session(settings: Settings, token: str, now: float) -> bool:
    issued, _, rest = token.partition(".")
    nonce, _, mac = rest.partition(".")
    if not (issued.isascii() and issued.isdigit() and len(issued) <= 12 and nonce and mac):
        return False
    expected = _mac(_secret(settings), "session", issued, nonce)
    # Issued by a key that has since changed, or too long ago: log in again.
    return hmac.compare_digest(mac.encode(), expected.encode()) and \
        -300 <= now - int(issued) <= SESSION_SECONDS


def _cookie(headers: Mapping[str, str]) -> str | None:
    raw = {k.lower(): v for k, v in headers.items()}.get("cookie")
    if not raw:
        return None
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(raw)
    except CookieError:
        return None
    morsel = jar.get(COOKIE)
    return morsel.value if morsel else None


def _refuse_booking_system(settings: Settings, key: str) -> None:
    if key and caller_of(key, settings.booking_system_key) is Caller.BOOKING_SYSTEM:
        raise Forbidden("the booking_system key does not reach the status page")


def _closed_in_azure(settings: Settings) -> None:
    if not settings.function_key and settings.env.get(SITE_NAME_SETTING):
        raise DashboardNotConfigured(
            "the status page needs the operator key: set the app setting "
            "CALBRIDGE_FUNCTION_KEY (a Key Vault reference) to open it")


def authenticate(settings: Settings, headers: Mapping[str, str], presented: str,
                 now: float | None = None) -> OperatorSession:
    """The operator's session from a key presented now (a fresh session) or the session
    cookie. 401 without either, 403 for the booking system's key, 503 in Azure while no
    operator key is set; with none set locally the page is open, as the host's routes."""
    moment = time.time() if now is None else now
    _refuse_booking_system(settings, presented)
    _closed_in_azure(settings)
    if not settings.function_key:
        return OperatorSession(OPEN_SESSION)
    if presented:
        return log_in(settings, presented, moment)
    token = _cookie(headers)
    if token and _valid_session(settings, token, moment):
        return OperatorSession(token)
    raise Unauthorized("log in with the operator key (the key every management route takes)")


def log_in(settings: Settings, key: str, now: float | None = None) -> OperatorSession:
    """A new session for the operator key (compared in constant time)."""
    moment = time.time() if now is None else now
    _refuse_booking_system(settings, key)
    _closed_in_azure(settings)
    if not settings.function_key:
        return OperatorSession(OPEN_SESSION)
    if not hmac.compare_digest(key.encode(), settings.function_key.encode()):
        raise Unauthorized("that is not the operator key")
    return _new_session(settings, moment)


def cookie_header(session: OperatorSession, *, secure: bool) -> str:
    """`Set-Cookie` keeping the session for the page's paths only, out of scripts' reach
    and off cross-site requests."""
    flags = f"Path={COOKIE_PATH}; Max-Age={SESSION_SECONDS}; HttpOnly; SameSite=Strict"
    return f"{COOKIE}={session.token}; {flags}" + ("; Secure" if secure else "")


def cleared_cookie_header(*, secure: bool) -> str:
    flags = f"Path={COOKIE_PATH}; Max-Age=0; HttpOnly; SameSite=Strict"
    return f"{COOKIE}=; {flags}" + ("; Secure" if secure else "")


def form_token(settings: Settings, session: OperatorSession, action: str) -> str:
    """The token a form for `action` (its path) carries: only a page served to this
    session could have it."""
    return _mac(_secret(settings), "form", session.token, action)


def check_form_token(settings: Settings, session: OperatorSession, action: str,
                     given: str | None) -> None:
    """403 unless `given` is this session's token for `action`."""
    expected = form_token(settings, session, action)
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise FormTokenRejected("the form's token is missing or does not match this "
                                "session; reload the page and try again")
