"""`/_admin`: unauthenticated controls for tests, demos and benchmarks (never in Google)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .api import Request, Response, bad_request, not_found
from .service import GoogleRouter

if TYPE_CHECKING:
    from .service import CalendarService


class AdminApi:
    """Reset, inspect, inject faults, count requests, expire sync tokens and channels,
    delete a calendar."""

    def __init__(self, service: CalendarService) -> None:
        self.service = service
        self.router = GoogleRouter()
        add = self.router.add
        add("POST", "/_admin/reset", self.reset)
        add("GET", "/_admin/state", self.state)
        add("GET", "/_admin/faults", self.list_faults)
        add("POST", "/_admin/faults", self.add_fault)
        add("DELETE", "/_admin/faults", self.clear_faults)
        add("GET", "/_admin/requests", self.request_counts)
        add("DELETE", "/_admin/requests", self.reset_request_counts)
        add("POST", "/_admin/sync-tokens/expire", self.expire_sync_tokens)
        add("GET", "/_admin/channels", self.list_channels)
        add("POST", "/_admin/channels/expire", self.expire_channels)
        add("DELETE", "/_admin/calendars/{calendarId}", self.delete_calendar)

    def handle(self, req: Request) -> Response:
        """Answer an admin request."""
        match = self.router.match(req.method, req.path)
        response: Response = match.route.handler(req, match.params)
        return response

    @staticmethod
    def _object(req: Request) -> dict[str, Any]:
        if not req.body.strip():
            return {}
        try:
            body = json.loads(req.body)
        except ValueError as exc:
            raise bad_request("A JSON object is expected.") from exc
        if not isinstance(body, dict):
            raise bad_request("A JSON object is expected.")
        return body

    def reset(self, req: Request, params: dict[str, str]) -> Response:
        """Back to the seed."""
        self.service.reset()
        return Response(204)

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

    def list_faults(self, req: Request, params: dict[str, str]) -> Response:
        """Active faults."""
        return Response(200, {"faults": self.service.faults.list()})

    def add_fault(self, req: Request, params: dict[str, str]) -> Response:
        """`{"match": {"method", "path_regex", "calendar"}, "status", "code", "retry_after",
        "latency_ms", "times"}`."""
        try:
            fault = self.service.faults.add(self._object(req))
        except (ValueError, TypeError, KeyError) as exc:
            raise bad_request(f"Invalid fault: {exc}") from exc
        return Response(201, self.service.faults.as_json(fault))

    def clear_faults(self, req: Request, params: dict[str, str]) -> Response:
        """Remove every fault."""
        self.service.faults.clear()
        return Response(204)

    def request_counts(self, req: Request, params: dict[str, str]) -> Response:
        """Requests by route template, by calendar and by status."""
        return Response(200, self.service.counter.snapshot())

    def reset_request_counts(self, req: Request, params: dict[str, str]) -> Response:
        """Zero the counts."""
        self.service.counter.reset()
        return Response(204)

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


