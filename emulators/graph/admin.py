"""`/_admin`: unauthenticated controls for tests, benchmarks and demos (never in Graph)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .api import ApiRequest, ApiResponse, GraphError
from .routing import Router

if TYPE_CHECKING:
    from .service import GraphService


class AdminApi:
    """Reset, inspect, inject faults, throttle, count, expire delta tokens, lifecycle events."""

    def __init__(self, service: GraphService) -> None:
        self.service = service
        self.router = Router()
        add = self.router.add
        add("POST", "/_admin/reset", self.reset)
        add("GET", "/_admin/state", self.state)
        add("GET", "/_admin/faults", self.list_faults)
        add("POST", "/_admin/faults", self.add_fault)
        add("DELETE", "/_admin/faults", self.clear_faults)
        add("GET", "/_admin/throttle", self.get_throttle)
        add("POST", "/_admin/throttle", self.set_throttle)
        add("GET", "/_admin/requests", self.request_counts)
        add("DELETE", "/_admin/requests", self.reset_request_counts)
        add("POST", "/_admin/delta/expire", self.expire_delta_tokens)
        add("POST", "/_admin/subscriptions/{sid}/lifecycle", self.lifecycle)
        add("POST", "/_admin/users/{user}/invitations", self.invitation)

    def handle(self, req: ApiRequest) -> ApiResponse:
        """Answer an admin request."""
        match = self.router.match(req.method, req.path)
        return match.route.handler(req, match.params)

    @staticmethod
    def _json_object(req: ApiRequest) -> dict[str, Any]:
        body = req.json() if req.body.strip() else {}
        if not isinstance(body, dict):
            raise GraphError(400, "BadRequest", "A JSON object is expected.")
        return body

    def reset(self, req: ApiRequest, params: dict[str, str]) -> ApiResponse:
        """Back to the seed."""
        self.service.reset()
        return ApiResponse(204)

    def state(self, req: ApiRequest, params: dict[str, str]) -> ApiResponse:
        """Mailboxes with event counts, subscriptions, faults, throttle settings."""
        store = self.service.store
        with store.lock:
            mailboxes = [
                {
                    "id": m.id,
                    "userPrincipalName": m.upn,
                    "displayName": m.display_name,
                    "kind": m.kind,
                    "calendars": [
                        {"id": c.id, "name": c.name, "isDefaultCalendar": c.is_default}
                        for c in m.calendars.values()
                    ],
                    "events": sum(1 for e in store.events.values() if e.mailbox_id == m.id),
                }
                for m in store.mailboxes.values()
            ]
        body = {
            "tenant_id": self.service.identity.tenant_id,
            "client_id": self.service.identity.client_id,
            "mailboxes": mailboxes,
            "events_total": len(store.events),
            "subscriptions": self.service.subscriptions.summary(),
            "faults": self.service.faults.list(),
            "throttle": self.service.throttle.settings(),
            "notifications": {
                "delivered": self.service.notifier.delivered,
                "failed": self.service.notifier.failed,
            },
        }
        return ApiResponse(200, body)

    def list_faults(self, req: ApiRequest, params: dict[str, str]) -> ApiResponse:
        """Active faults."""
        return ApiResponse(200, {"faults": self.service.faults.list()})

    def add_fault(self, req: ApiRequest, params: dict[str, str]) -> ApiResponse:
        """Inject a fault: `{"match": {...}, "status", "retry_after", "latency_ms", "times"}`."""
        try:
            fault = self.service.faults.add(self._json_object(req))
        except (ValueError, TypeError, KeyError) as exc:
            raise GraphError(400, "BadRequest", f"Invalid fault: {exc}") from exc
        return ApiResponse(201, self.service.faults.as_json(fault))

    def clear_faults(self, req: ApiRequest, params: dict[str, str]) -> ApiResponse:
        """Remove every fault."""
        self.service.faults.clear()
        return ApiResponse(204)

    def get_throttle(self, req: ApiRequest, params: dict[str, str]) -> ApiResponse:
        """Current throttle settings."""
        return ApiResponse(200, self.service.throttle.settings())

    def set_throttle(self, req: ApiRequest, params: dict[str, str]) -> ApiResponse:
        """`{"enabled": true, "limit": 10000, "window_seconds": 600, "concurrency": 4}`."""
        try:
            settings = self.service.throttle.configure(self._json_object(req))
        except (ValueError, TypeError) as exc:
            raise GraphError(400, "BadRequest", f"Invalid throttle settings: {exc}") from exc
        return ApiResponse(200, settings)

    def request_counts(self, req: ApiRequest, params: dict[str, str]) -> ApiResponse:
        """Requests by route template and method, and per mailbox."""
        return ApiResponse(200, self.service.counter.snapshot())

    def reset_request_counts(self, req: ApiRequest, params: dict[str, str]) -> ApiResponse:
        """Zero the counts."""
        self.service.counter.reset()
        return ApiResponse(204)

    def expire_delta_tokens(self, req: ApiRequest, params: dict[str, str]) -> ApiResponse:
        """Invalidate every delta and skip token (next use answers 410)."""
        return ApiResponse(200, {"expired": self.service.delta.tokens.expire_all()})

    def invitation(self, req: ApiRequest, params: dict[str, str]) -> ApiResponse:
        """A meeting someone else organised, accepted into this mailbox's calendar (what a
        room's calendar mostly holds): a Graph event body plus `organizer`
        (`{"name", "address"}`). Graph itself never lets an app set the organizer."""
        from .events import new_record, validate_payload

        body = self._json_object(req)
        organizer = body.pop("organizer", None)
        if not isinstance(organizer, dict) or not organizer.get("address"):
            raise GraphError(400, "BadRequest", "An invitation needs organizer.address.")
        store = self.service.store
        mailbox = store.mailbox(params["user"])
        payload = validate_payload(body, creating=True)
        with store.lock:
            record = new_record(mailbox, store.calendar(mailbox, None).id, payload)
            record.fields["_organizer"] = {"name": str(organizer.get("name") or ""),
                                           "address": str(organizer["address"])}
            store.add(record)
        return ApiResponse(201, {"id": record.immutable_id, "changeKey": record.change_key})

    def lifecycle(self, req: ApiRequest, params: dict[str, str]) -> ApiResponse:
        """Send `{"event": "missed" | "reauthorizationRequired" | "subscriptionRemoved"}`."""
        event = str(self._json_object(req).get("event", ""))
        sent = self.service.subscriptions.send_lifecycle(params["sid"], event)
        return ApiResponse(202, {"sent": sent})
