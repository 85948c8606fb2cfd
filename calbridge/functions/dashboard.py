"""The operator's status page, served by the Function App itself: `GET /dashboard` and
the confirm-then-act routes under it.

The routes are anonymous to the Functions host (a browser cannot present a function key
through a cookie); each checks the operator's key itself (`operator_session`): given
once, then kept as a session cookie. Every action is a GET that shows what it will do
and a POST, carrying the session and a form token, that does it and redirects back (303).
Answers are HTML for browsers, the usual JSON error for other clients.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

import azure.functions as func
from pydantic import ValidationError

from calbridge.bootstrap import Container, container
from calbridge.errors import (
    AlreadyExists,
    BadRequest,
    CalbridgeError,
    PayloadTooLarge,
    ValidationFailed,
)
from calbridge.functions import status_page
from calbridge.functions.callers import (
    CALLERS_ATTRIBUTE,
    CHECKS_KEY_ATTRIBUTE,
    KEY_PARAMETER,
    OPERATOR_ONLY,
    presented_key,
)
from calbridge.functions.contract import (
    CONTRACT_ATTRIBUTE,
    HTML,
    Answer,
    Contract,
    Query,
    QueryText,
    RawBody,
)
from calbridge.functions.http import as_trigger, error_response, validation_failed
from calbridge.functions.operator_session import (
    OperatorSession,
    authenticate,
    check_form_token,
    cleared_cookie_header,
    cookie_header,
    form_token,
    log_in,
)
from calbridge.model import End, HoldStatus
from calbridge.services import dashboard, decisions, subscriptions
from calbridge.services import sync as sync_service

bp = func.Blueprint()
log = logging.getLogger(__name__)
ANONYMOUS = func.AuthLevel.ANONYMOUS
FORM_TYPE = "application/x-www-form-urlencoded"
# A form here holds a token and a choice or a key: anything much larger is not one of ours.
MAX_FORM_BYTES = 4096
MAX_FORM_FIELDS = 8


class Page:
    """What a route handler gets: the request, the container, the operator's session,
    and the response's CSP nonce."""

    def __init__(self, req: func.HttpRequest, c: Container, session: OperatorSession) -> None:
        self.req, self.c, self.session = req, c, session
        self.nonce = secrets.token_urlsafe(16)
        self._form: dict[str, str] | None = None

    def token_for(self, action: str) -> str:
        return form_token(self.c.settings, self.session, action)

    def form(self) -> dict[str, str]:
        """The POSTed form (url-encoded, UTF-8, small); 400/413 for anything else."""
        if self._form is None:
            self._form = read_form(self.req)
        return self._form

    def check_form(self, action: str) -> None:
        """403 unless the form carries this session's token for `action`."""
        check_form_token(self.c.settings, self.session, action, self.form().get("csrf"))

    def html(self, body: str, status: int = 200) -> func.HttpResponse:
        return func.HttpResponse(body, status_code=status, mimetype="text/html",
                                 charset="utf-8", headers=security_headers(self.nonce))


def security_headers(nonce: str) -> dict[str, str]:
    """What every answer of the page carries: nothing inline runs without the nonce, no
    framing, no referrer, no caching."""
    return {
        "Content-Security-Policy": (
            f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
            "form-action 'self'; frame-ancestors 'none'; "
            "base-uri 'none'"),
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }


def read_form(req: func.HttpRequest) -> dict[str, str]:
    raw = req.get_body() or b""
    if not raw:
        return {}  # no fields: the form's token is missing (403), not the form (400)
    kind = (req.headers.get("content-type") or "").split(";")[0].strip().lower()
    if kind != FORM_TYPE:
        raise BadRequest(f"send the form as {FORM_TYPE}")
    if len(raw) > MAX_FORM_BYTES:
        raise PayloadTooLarge(f"a form here is at most {MAX_FORM_BYTES} bytes")
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True,
                          max_num_fields=MAX_FORM_FIELDS, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("the form is not valid UTF-8 url-encoded data") from None
    return dict(pairs)


def _is_https(req: func.HttpRequest) -> bool:
    forwarded = (req.headers.get("x-forwarded-proto") or "").split(",")[0].strip().lower()
    return req.url.lower().startswith("https://") or forwarded == "https"


def _wants_html(req: func.HttpRequest) -> bool:
    return "text/html" in (req.headers.get("accept") or "")


def _refusal(req: func.HttpRequest, exc: CalbridgeError) -> func.HttpResponse:
    """An error as a page for a browser (the log-in form for 401), else the API's JSON."""
    nonce = secrets.token_urlsafe(16)
    headers = security_headers(nonce)
    if not _wants_html(req):
        response = error_response(exc)
        for name, value in headers.items():
            response.headers[name] = value
        return response
    body = (status_page.login_page(exc.message, nonce) if exc.status == 401
            else status_page.error_page(exc.status, exc.message, nonce))
    return func.HttpResponse(body, status_code=exc.status, mimetype="text/html",
                             charset="utf-8", headers=headers)


# What the page's routes answer: a page (200), or a redirect back to it after an action
# or a log-in (303, no body); errors as a page for a browser, else the JSON envelope.
PAGE_ANSWERS: Mapping[int, tuple[Answer, ...]] = {200: (HTML,), 303: ()}
PAGE_ERRORS = frozenset({401, 403, 409, 422})
FORM = RawBody("an HTML form (url-encoded): the action's `token` from the page, or the "
               "log-in form's `key`", media_type="application/x-www-form-urlencoded")
SEARCH = QueryText("q", "show only the mappings whose ends, bridges, direction or problem "
                   "contain this text")
SORT = QueryText("sort", "the mapping column to sort by",
                 choices=tuple(s.value for s in dashboard.MappingSort),
                 default=dashboard.MappingSort.NAME.value)
ORDER = QueryText("order", "sort order", choices=("asc", "desc"), default="asc")
DONE = QueryText("done", "a notice to show: what the last action did")


def page(handler: Callable[[Page], func.HttpResponse] | None = None, *,
         signed_in: bool = True, query: tuple[Query, ...] = (),
         body: RawBody | None = FORM) -> Any:
    """Wrap a route of the page: the operator's session (unless `signed_in` is False, for
    the log-in form itself), security headers, the session cookie when it is new, and
    errors shown as a page or JSON. `query` and `body` are documented in the contract."""
    if handler is None:
        return lambda inner: page(inner, signed_in=signed_in, query=query, body=body)
    wrapped = handler

    def wrapper(req: func.HttpRequest) -> func.HttpResponse:
        try:
            c = container()
            session = (authenticate(c.settings, req.headers,
                                    presented_key(req.headers, req.params))
                       if signed_in else OperatorSession(""))
            view = Page(req, c, session)
            response = wrapped(view)
            if view.session.fresh:
                response.headers["Set-Cookie"] = cookie_header(view.session,
                                                               secure=_is_https(req))
            return response
        except CalbridgeError as exc:
            if exc.status >= 500:
                log.warning("status page request failed", extra={
                    "route": req.url.split("?")[0], "code": exc.code})
            return _refusal(req, exc)
        except ValidationError as exc:
            return _refusal(req, validation_failed(exc))
        except Exception:
            log.exception("unhandled error", extra={"route": req.url.split("?")[0]})
            return _refusal(req, CalbridgeError("internal error; see the logs"))

    as_trigger(wrapper, handler)
    setattr(wrapper, CALLERS_ATTRIBUTE, OPERATOR_ONLY)
    setattr(wrapper, CHECKS_KEY_ATTRIBUTE, signed_in)
    setattr(wrapper, CONTRACT_ATTRIBUTE, Contract(
        callers=OPERATOR_ONLY, answers=PAGE_ANSWERS, body=body, query=query,
        errors=PAGE_ERRORS))
    return wrapper


def _see_other(location: str, view: Page | None = None) -> func.HttpResponse:
    headers = security_headers(view.nonce if view else secrets.token_urlsafe(16))
    headers["Location"] = location
    return func.HttpResponse(status_code=303, headers=headers)


def _done(notice: str) -> func.HttpResponse:
    return _see_other("/dashboard?" + urlencode({"done": notice}))


# ---------------------------------------------------------------------- the page

@bp.route(route="dashboard", methods=["GET"], auth_level=ANONYMOUS)
@page(query=(SEARCH, SORT, ORDER, DONE), body=None)
def show_dashboard(view: Page) -> func.HttpResponse:
    """The operator's status page (HTML): bridges, mappings (`?q=` filters, `?sort=`
    name|last_sync|in_step|pending|errors|conflicts|holds, `?order=` asc|desc), held
    deletions, conflicts, queues, push subscriptions, failed operations and the last day's
    activity. Needs the operator key once (`x-functions-key` or `?code=`; a `code` is
    taken out of the address by a 303) or the session cookie it sets; 401 without, 403
    for the booking system's key."""
    req = view.req
    if view.session.fresh and KEY_PARAMETER in req.params:
        # Keep the key out of the address bar, history and logs from here on.
        rest = {k: v for k, v in req.params.items() if k != KEY_PARAMETER}
        return _see_other("/dashboard" + (f"?{urlencode(rest)}" if rest else ""), view)
    sort = dashboard.mapping_sort(SORT.read(req))
    order = ORDER.read(req)
    text = (SEARCH.read(req) or "")[:200]
    status = dashboard.status_view(view.c)
    rows = dashboard.select_mappings(status.mappings, text=text, sort=sort,
                                     descending=order == "desc")
    body = status_page.dashboard(status, rows, text=text, sort=sort, descending=order == "desc",
                                 notice=DONE.read(req), token_for=view.token_for,
                                 nonce=view.nonce,
                                 logged_in=view.c.settings.function_key is not None)
    return view.html(body, 503 if status.storage.get("status") != "healthy" else 200)


@bp.route(route="dashboard/login", methods=["POST"], auth_level=ANONYMOUS)
@page(signed_in=False)
def log_in_to_dashboard(view: Page) -> func.HttpResponse:
    """The log-in form (`key` = the operator key, url-encoded): sets the session cookie
    and redirects (303) to the status page; 422 without a key, 401 for a wrong one, 403
    for the booking system's."""
    key = view.form().get("key", "")
    if not key:
        raise ValidationFailed("the form needs the operator key", details={"fields": [
            {"field": "key", "message": "required"}]})
    view.session = log_in(view.c.settings, key)
    return _see_other("/dashboard", view)


@bp.route(route="dashboard/logout", methods=["POST"], auth_level=ANONYMOUS)
@page
def log_out_of_dashboard(view: Page) -> func.HttpResponse:
    """Ends the session: clears the cookie (the form's token is required) and shows the
    log-in form."""
    view.check_form(status_page.action_path("logout"))
    response = _see_other("/dashboard", view)
    response.headers["Set-Cookie"] = cleared_cookie_header(secure=_is_https(view.req))
    return response


# ---------------------------------------------------------------------- actions

def _hold_decision(view: Page, confirm: bool) -> func.HttpResponse:
    hold_id = view.req.route_params["hold_id"]
    action = status_page.action_path("holds", hold_id, "confirm" if confirm else "reject")
    if view.req.method.upper() == "POST":
        view.check_form(action)
        if confirm:
            decisions.confirm_hold(view.c, hold_id)
        else:
            decisions.reject_hold(view.c, hold_id)
        return _done("hold-confirmed" if confirm else "hold-rejected")
    hold = view.c.storage.holds.get(hold_id)
    if hold.status is not HoldStatus.HELD:
        raise AlreadyExists(f"deletion hold {hold_id!r} was already {hold.status.value}")
    mapping = view.c.storage.mappings.get(hold.mapping_id)
    explanation = status_page.hold_explanation(hold, dashboard.mapping_label(mapping.a, mapping.b),
                                               dashboard.hold_titles(view.c, hold), confirm)
    count = len(hold.link_ids)
    return view.html(status_page.confirm_page(
        "Confirm the held deletions" if confirm else "Reject the held deletions", explanation,
        action, f"Delete {count} events" if confirm else f"Restore {count} events",
        view.token_for, view.nonce, danger=confirm))


@bp.route(route="dashboard/holds/{hold_id}/confirm", methods=["GET", "POST"],
          auth_level=ANONYMOUS)
@page
def confirm_held_deletions(view: Page) -> func.HttpResponse:
    """GET: what confirming this mass-deletion hold deletes, with the button that does it.
    POST (form: `csrf`): carries the deletions out, as `POST /bridge/holds/{id}/confirm`,
    then 303 to the status page; 403 without this session's form token, 409 when the
    hold was decided already."""
    return _hold_decision(view, confirm=True)


@bp.route(route="dashboard/holds/{hold_id}/reject", methods=["GET", "POST"],
          auth_level=ANONYMOUS)
@page
def reject_held_deletions(view: Page) -> func.HttpResponse:
    """GET: what rejecting this hold restores. POST (form: `csrf`): drops the deletions
    and restores the missing events, as `POST /bridge/holds/{id}/reject`, then 303."""
    return _hold_decision(view, confirm=False)


@bp.route(route="dashboard/conflicts/{link_id}", methods=["GET", "POST"],
          auth_level=ANONYMOUS)
@page
def resolve_conflict_by_choice(view: Page) -> func.HttpResponse:
    """GET: both versions of a conflicting event, field by field. POST (form: `csrf`,
    `winner` = a|b): writes the chosen end's version over the other, as
    `POST /bridge/conflicts/{id}/resolve`, then 303; 404 when it is not in conflict."""
    link_id = view.req.route_params["link_id"]
    action = status_page.action_path("conflicts", link_id)
    if view.req.method.upper() == "POST":
        view.check_form(action)
        try:
            winner = End(view.form().get("winner", ""))
        except ValueError:
            raise ValidationFailed("winner must be a or b", details={"fields": [
                {"field": "winner", "message": "expected a or b"}]}) from None
        decisions.resolve_conflict(view.c, link_id, winner)
        return _done("conflict-resolved")
    conflict = decisions.get_conflict(view.c, link_id)
    return view.html(status_page.conflict_page(conflict, action, view.token_for, view.nonce))


@bp.route(route="dashboard/retry", methods=["GET", "POST"], auth_level=ANONYMOUS)
@page
def retry_failed_items(view: Page) -> func.HttpResponse:
    """GET: how many items are pending or failed. POST (form: `csrf`): retries them now,
    as `POST /bridge/process-pending`, then 303."""
    action = status_page.action_path("retry")
    if view.req.method.upper() == "POST":
        view.check_form(action)
        sync_service.process_pending(view.c, manual=True,
                                     deadline=sync_service.request_deadline(view.c))
        return _done("retried")
    waiting = sync_service.pending_items(view.c)
    retryable = [item for item in waiting if item["status"] != "conflict"]
    gave_up = sum(item["gave_up"] for item in retryable)
    explanation = (f"<p>{len(retryable)} item(s) are pending or failed; {gave_up} of them "
                   "used up their attempts and are retried only when forced. Retrying "
                   "tries each now, without waiting for its backoff.</p>")
    return view.html(status_page.confirm_page("Retry failed items now", explanation, action,
                                              "Retry now", view.token_for, view.nonce))


@bp.route(route="dashboard/subscriptions/{subscription_id}/renew", methods=["GET", "POST"],
          auth_level=ANONYMOUS)
@page
def renew_push_subscription(view: Page) -> func.HttpResponse:
    """GET: the subscription and its expiry. POST (form: `csrf`): renews it now, as
    `POST /webhook/renew/{id}`, then 303; 404 for an unknown subscription."""
    subscription_id = view.req.route_params["subscription_id"]
    action = status_page.action_path("subscriptions", subscription_id, "renew")
    if view.req.method.upper() == "POST":
        view.check_form(action)
        subscriptions.renew_by_id(view.c, subscription_id)
        return _done("subscription-renewed")
    shown = subscriptions.public(view.c, subscriptions.find(view.c, subscription_id))
    explanation = status_page.subscription_explanation(shown)
    return view.html(status_page.confirm_page("Renew a push subscription", explanation, action,
                                              "Renew now", view.token_for, view.nonce))
