"""`/_admin`: unauthenticated controls for tests, benchmarks and demos (never in Graph)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import admin
from .api import ApiRequest, ApiResponse, GraphError
from .routing import Router

if TYPE_CHECKING:
    from .service import GraphService


class AdminApi(admin.AdminApi):
    """Reset, inspect, inject faults, throttle, count, expire delta tokens, lifecycle events."""

    response_type = ApiResponse
    service: GraphService

    def __init__(self, service: GraphService) -> None:
        super().__init__(service, Router())
        add = self.router.add
        add("GET", "/_admin/throttle", self.get_throttle)
        add("POST", "/_admin/throttle", self.set_throttle)
        add("POST", "/_admin/delta/expire", self.expire_delta_tokens)
        add("POST", "/_admin/subscriptions/{sid}/lifecycle", self.lifecycle)
        add("POST", "/_admin/users/{user}/invitations", self.invitation)

    def bad_request(self, message: str) -> GraphError:
        return GraphError(400, "BadRequest", message)

    def _parse_json(self, req: ApiRequest) -> Any:
        return req.json()

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

    def get_throttle(self, req: ApiRequest, params: dict[str, str]) -> ApiResponse:
        """Current throttle settings."""
        return ApiResponse(200, self.service.throttle.settings())

    def set_throttle(self, req: ApiRequest, params: dict[str, str]) -> ApiResponse:
        """`{"enabled": true, "limit": 10000, "window_seconds": 600, "concurrency": 4}`."""
        try:
            settings = self.service.throttle.configure(self.json_object(req))
        except (ValueError, TypeError) as exc:
            raise self.bad_request(f"Invalid throttle settings: {exc}") from exc
        return ApiResponse(200, settings)

    def expire_delta_tokens(self, req: ApiRequest, params: dict[str, str]) -> ApiResponse:
        """Invalidate every delta and skip token (next use answers 410)."""
        return ApiResponse(200, {"expired": self.service.delta.tokens.expire_all()})

    def invitation(self, req: ApiRequest, params: dict[str, str]) -> ApiResponse:
        """A meeting someone else organised, accepted into this mailbox's calendar (what a
        room's calendar mostly holds): a Graph event body plus `organizer`
        (`{"name", "address"}`). Graph itself never lets an app set the organizer."""
        from .events import new_record, validate_payload

        body = self.json_object(req)
        organizer = body.pop("organizer", None)
        if not isinstance(organizer, dict) or not organizer.get("address"):
            raise self.bad_request("An invitation needs organizer.address.")
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
        event = str(self.json_object(req).get("event", ""))
        sent = self.service.subscriptions.send_lifecycle(params["sid"], event)
        return ApiResponse(202, {"sent": sent})
