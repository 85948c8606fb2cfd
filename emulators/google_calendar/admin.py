"""`/_admin`: unauthenticated controls for tests, demos and benchmarks (never in Google)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import admin
from .api import GoogleError, Request, Response, bad_request, not_found
from .service import GoogleRouter

if TYPE_CHECKING:
    from .service import CalendarService


class AdminApi(admin.AdminApi):
    """Reset, inspect, inject faults, count requests, expire sync tokens and channels,
    delete a calendar."""

    response_type = Response
    service: CalendarService

    def __init__(self, service: CalendarService) -> None:
        super().__init__(service, GoogleRouter())
        add = self.router.add
        add("POST", "/_admin/sync-tokens/expire", self.expire_sync_tokens)
        add("GET", "/_admin/channels", self.list_channels)
        add("POST", "/_admin/channels/expire", self.expire_channels)
        add("DELETE", "/_admin/calendars/{calendarId}", self.delete_calendar)

    def bad_request(self, message: str) -> GoogleError:
        return bad_request(message)

    def state(self, req: Request, params: dict[str, str]) -> Response:
        """Calendars with event counts, channels, faults, push counters, sync epoch."""
        store = self.service.store
        with store.lock:
            calendars = [{"id": c.id, "summary": c.summary, "timeZone": c.time_zone,
                          "access": dict(c.access), "deleted": c.deleted,
                          "events": sum(1 for e in store.calendar_events(c.id)
                                        if e.status != "cancelled")}
                         for c in store.calendars.values()]
            body = {"calendars": calendars, "version": store.version, "epoch": store.epoch}
        body.update({
            "service_account": self.service.identity.client_email,
            "channels": self.service.channels.summary(),
            "faults": self.service.faults.list(),
            "push": {"delivered": self.service.pusher.delivered,
                     "failed": self.service.pusher.failed},
        })
        return Response(200, body)

    def expire_sync_tokens(self, req: Request, params: dict[str, str]) -> Response:
        """Every sync token issued so far answers 410 from now on."""
        return Response(200, {"epoch": self.service.store.expire_sync_tokens()})

    def list_channels(self, req: Request, params: dict[str, str]) -> Response:
        """Push channels, stopped and expired ones included."""
        return Response(200, {"channels": self.service.channels.summary()})

    def expire_channels(self, req: Request, params: dict[str, str]) -> Response:
        """End every channel now, as if its expiration had passed."""
        return Response(200, {"expired": self.service.channels.expire_all()})

    def delete_calendar(self, req: Request, params: dict[str, str]) -> Response:
        """Delete a calendar: its channels get `not_exists`, the API answers 404 for it."""
        if not self.service.store.delete_calendar(params["calendarId"]):
            raise not_found()
        return Response(204)
