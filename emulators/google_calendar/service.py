"""The Calendar API request pipeline: routing, request counts, bearer tokens, scopes,
injected faults, then the handler.

Scopes (looked up in each method's "Authorization" section): reading events needs one of
`calendar`, `calendar.readonly`, `calendar.events`, `calendar.events.readonly`; writing
needs `calendar` or `calendar.events`; the calendar list needs `calendar`,
`calendar.readonly` or a `calendar.calendarlist` scope. Missing → 403
`insufficientPermissions` "Request had insufficient authentication scopes.". A calendar the
caller cannot reach answers 404 `notFound`, as Google does for calendars not shared with
you; a reader writing gets 403 `requiredAccessLevel`.

Injected faults are answered as Google's usage-limit errors ("Handle API errors" guide):
403 or 429 with `rateLimitExceeded` ("Rate Limit Exceeded", domain `usageLimits`), 403
`userRateLimitExceeded` ("User Rate Limit Exceeded"), 403 `quotaExceeded` ("Calendar
usage limits exceeded."), 403 `dailyLimitExceeded` ("Daily Limit Exceeded", the project's
courtesy limit), and 5xx
`backendError` ("Backend Error"), with `Retry-After` when the fault names one.
"""

from __future__ import annotations

import threading
from typing import Any

from .. import traffic
from ..routing import Router
from .api import GoogleError, Request, Response, not_found
from .calendar_api import CalendarApi
from .channels import ChannelApi, Pusher
from .directory import DirectoryApi
from .oauth import Identity, Principal
from .store import CalendarRecord, Store

API_ROOT = "/calendar/v3"
SCOPE = "https://www.googleapis.com/auth/"
SCOPES = {
    "read": {SCOPE + s for s in ("calendar", "calendar.readonly", "calendar.events",
                                 "calendar.events.readonly")},
    "write": {SCOPE + "calendar", SCOPE + "calendar.events"},
    "calendarList": {SCOPE + s for s in ("calendar", "calendar.readonly",
                                         "calendar.calendarlist",
                                         "calendar.calendarlist.readonly")},
}
USAGE_MESSAGES = {
    "rateLimitExceeded": "Rate Limit Exceeded",
    "userRateLimitExceeded": "User Rate Limit Exceeded",
    "quotaExceeded": "Calendar usage limits exceeded.",
    "dailyLimitExceeded": "Daily Limit Exceeded",
}


class GoogleRouter(Router):
    """Google's paths are case-sensitive; an unknown one is a plain 404."""

    def no_route(self, method: str, path: str, path_matched: bool) -> Exception:
        if path_matched:
            return GoogleError(405, "httpMethodNotAllowed", "Method Not Allowed")
        return not_found()


def fault_error(fault: traffic.Fault) -> GoogleError:
    """An injected fault as the Calendar API would answer it."""
    status = fault.status or 500
    headers = fault.retry_after_header
    if status in (403, 429):
        reason = fault.code or "rateLimitExceeded"
        domain = "usageLimits" if reason in USAGE_MESSAGES else "global"
        message = fault.message or USAGE_MESSAGES.get(reason, "Forbidden")
        return GoogleError(status, reason, message, domain=domain, headers=headers)
    if status >= 500:
        return GoogleError(status, fault.code or "backendError", fault.message or "Backend Error",
                           headers=headers)
    return GoogleError(status, fault.code or "badRequest", fault.message or "Bad Request",
                       headers=headers)


class RequestCounter(traffic.RequestCounter):
    """Requests by route template, by calendar and by status."""

    scope_label = "by_calendar"


class CalendarService:
    """Everything behind `/calendar/v3`, independent of the HTTP server."""

    def __init__(self, seed: dict[str, Any], identity: Identity, ca_path: str | None) -> None:
        self.base_url = ""
        self.seed = seed
        self.identity = identity
        self.stopping = threading.Event()
        self.store = Store(seed)
        self.faults = traffic.FaultInjector(scope_key="calendar", root=API_ROOT)
        self.counter = RequestCounter()
        self.pusher = Pusher(ca_path)
        self.channels = ChannelApi(self, self.pusher)
        self.router = GoogleRouter()
        self.calendar = CalendarApi(self)
        self.calendar.register(self.router)
        # The Admin SDK Directory API (rooms) is another API root on the same host here.
        self.directory_router = GoogleRouter()
        self.directory = DirectoryApi(self)
        self.directory.register(self.directory_router)

    def reset(self) -> None:
        """Back to the seed: events, channels, sync tokens, faults, counts."""
        self.store.reset()
        self.faults.clear()
        self.counter.reset()

    def handle(self, req: Request, router: Router | None = None) -> Response:
        """Answer one Calendar API request (path below `/calendar/v3`), or one of the
        API `router` serves (the Directory API's, path below its root)."""
        try:
            match = (router or self.router).match(req.method, req.path)
        except GoogleError:
            self.counter.record(req.method, "(unmatched)", None)
            raise
        calendar_id = match.params.get("calendarId")
        try:
            principal = self.identity.authenticate(req.header("authorization"))
        except GoogleError:
            self.counter.record(req.method, match.route.template,
                                calendar_id.lower() if calendar_id else None)
            raise
        # Counted by the calendar meant: `primary` is the caller's own.
        self.counter.record(req.method, match.route.template,
                            (principal.email if calendar_id == "primary" else calendar_id.lower())
                            if calendar_id else None)
        req.principal = principal
        keys = {principal.email}
        if calendar_id:
            keys.add((principal.email if calendar_id == "primary" else calendar_id).lower())
        latency_ms, fault = self.faults.take_fault(req.method, req.path, keys)
        if latency_ms:
            self.stopping.wait(latency_ms / 1000)
        if fault is not None:
            raise fault_error(fault)
        response: Response = match.route.handler(req, match.params)
        return response

    def principal_of(self, req: Request, write: bool = False, scopes: str = "read") -> str:
        """The caller's e-mail, once its token's scopes allow the call."""
        principal: Principal = req.principal
        wanted = SCOPES["write" if write else scopes]
        if not principal.scopes & wanted:
            raise GoogleError(403, "insufficientPermissions",
                              "Request had insufficient authentication scopes.")
        return principal.email

    def calendar_for(self, calendar_id: str, principal: str, write: bool = False
                     ) -> tuple[CalendarRecord, str]:
        """A calendar the caller can reach (`primary` is the caller's own) and its role."""
        key = principal if calendar_id == "primary" else calendar_id
        calendar = self.store.calendar(key)
        if calendar is None or calendar.deleted or principal not in calendar.access:
            raise not_found()
        role = calendar.access[principal]
        if write and role not in ("writer", "owner"):
            raise GoogleError(403, "requiredAccessLevel",
                              "You need to have writer access to this calendar.")
        return calendar, role

    def stop(self) -> None:
        """Stop background work (push delivery, latency waits)."""
        self.stopping.set()
        self.pusher.stop()
