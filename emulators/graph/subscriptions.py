"""`/subscriptions`: the validation handshake, change notifications and lifecycle events.

Outlook event subscriptions may last at most 10080 minutes (under 7 days). Both the
notification URL and the lifecycle URL are validated on creation. Change notifications are
posted from background threads, three tries within about ten seconds; expired
subscriptions are dropped and stop notifying.

Recurring series: a notification always names the series master, never an occurrence.
Creating or deleting a series notifies `created` / `deleted` for the master; any change to
the series or to one of its occurrences (an exception, a cancelled occurrence) notifies
`updated` for the master. That is what Graph is observed to send ("Removal of a recurring
event instance causes only update notification on the SeriesMaster event"); the docs name
no occurrence-level notification. A subscriber reads the master's instances (or runs a
calendarView delta round) to learn which occurrences changed.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import uuid
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from .api import ApiRequest, ApiResponse, GraphError, iso_utc, parse_iso, utc_now
from .calendar_api import wants_immutable_ids
from .notifier import Notifier, check_url
from .routing import Router
from .store import EventRecord

if TYPE_CHECKING:
    from .service import GraphService

MAX_MINUTES = 10080
CHANGE_TYPES = {"created", "updated", "deleted"}
LIFECYCLE_EVENTS = {"reauthorizationRequired", "subscriptionRemoved", "missed"}
_RESOURCE = re.compile(
    r"^/?users/([^/?]+)/(?:events|calendar/events|calendars/([^/?]+)/events)/?(?:\?.*)?$",
    re.IGNORECASE,
)


@dataclass
class Subscription:
    """One change-notification subscription."""

    id: str
    resource: str
    change_types: list[str]
    notification_url: str
    lifecycle_url: str | None
    expiration: dt.datetime
    client_state: str | None
    mailbox_id: str
    calendar_id: str | None
    immutable_ids: bool
    application_id: str


class SubscriptionApi:
    """Handlers for /subscriptions plus the notification fan-out."""

    def __init__(self, service: GraphService, notifier: Notifier) -> None:
        self.service = service
        self.store = service.store
        self.notifier = notifier
        self.lock = threading.Lock()
        self.subscriptions: dict[str, Subscription] = {}
        self.store.listeners.append(self.on_event_change)
        # Kept with the calendars, so a restarted `make serve` still notifies.
        self.store.kept["subscriptions"] = (self._save, self._load)

    def _save(self) -> list[dict[str, Any]]:
        with self.lock:
            return [{**asdict(sub), "expiration": iso_utc(sub.expiration)}
                    for sub in self.subscriptions.values()]

    def _load(self, saved: list[dict[str, Any]]) -> None:
        with self.lock:
            self.subscriptions = {item["id"]: Subscription(
                **{**item, "expiration": parse_iso(item["expiration"])}) for item in saved}

    def register(self, router: Router) -> None:
        """Add the subscription routes to ``router``."""
        router.add("POST", "/subscriptions", self.create_subscription)
        router.add("GET", "/subscriptions", self.list_subscriptions)
        router.add("GET", "/subscriptions/{sid}", self.get_subscription)
        router.add("PATCH", "/subscriptions/{sid}", self.renew_subscription)
        router.add("DELETE", "/subscriptions/{sid}", self.delete_subscription)

    def reset(self) -> None:
        """Forget every subscription."""
        with self.lock:
            self.subscriptions.clear()

    # JSON ---------------------------------------------------------------------------------

    def to_json(self, sub: Subscription) -> dict[str, Any]:
        """The subscription as Graph returns it."""
        return {
            "id": sub.id,
            "resource": sub.resource,
            "applicationId": sub.application_id,
            "changeType": ",".join(sub.change_types),
            "clientState": sub.client_state,
            "notificationUrl": sub.notification_url,
            "notificationQueryOptions": None,
            "lifecycleNotificationUrl": sub.lifecycle_url,
            "expirationDateTime": iso_utc(sub.expiration),
            "creatorId": sub.application_id,
            "includeResourceData": False,
            "latestSupportedTlsVersion": "v1_2",
            "encryptionCertificate": None,
            "encryptionCertificateId": None,
            "notificationUrlAppId": None,
        }

    def _expiration(self, value: Any) -> dt.datetime:
        if not isinstance(value, str) or not value:
            raise GraphError(400, "InvalidRequest", "expirationDateTime is required.")
        try:
            moment = parse_iso(value)
        except ValueError as exc:
            raise GraphError(400, "InvalidRequest", "expirationDateTime is invalid.") from exc
        now = utc_now()
        if moment <= now:
            raise GraphError(
                400, "InvalidRequest", "Subscription expiration must be in the future."
            )
        if moment > now + dt.timedelta(minutes=MAX_MINUTES):
            raise GraphError(
                400,
                "InvalidRequest",
                f"Subscription expiration can only be {MAX_MINUTES} minutes in the future.",
            )
        return moment

    def _live(self, sid: str) -> Subscription:
        self._purge_expired()
        with self.lock:
            sub = self.subscriptions.get(sid)
        if sub is None:
            raise GraphError(
                404, "ResourceNotFound", f"The object was not found: subscription '{sid}'."
            )
        return sub

    def _purge_expired(self) -> None:
        now = utc_now()
        with self.lock:
            for sid in [s.id for s in self.subscriptions.values() if s.expiration <= now]:
                del self.subscriptions[sid]

    # handlers -----------------------------------------------------------------------------

    def create_subscription(self, req: ApiRequest, params: dict[str, str]) -> ApiResponse:
        """POST /subscriptions: validate, handshake with the endpoints, store."""
        body = req.json()
        if not isinstance(body, dict):
            raise GraphError(400, "BadRequest", "A subscription object is expected.")
        change_types = [c.strip() for c in str(body.get("changeType", "")).split(",") if c.strip()]
        if not change_types or not set(change_types) <= CHANGE_TYPES:
            raise GraphError(
                400, "InvalidRequest",
                f"Invalid changeType '{body.get('changeType')}'; use created, updated, deleted.",
            )
        resource = str(body.get("resource") or "")
        found = _RESOURCE.match(resource)
        if not found:
            raise GraphError(
                400, "InvalidRequest",
                f"Resource '{resource}' is not supported; use users/{{id}}/events.",
            )
        mailbox = self.store.mailbox(found.group(1))
        calendar_id = None
        if found.group(2):
            calendar_id = self.store.calendar(mailbox, found.group(2)).id
        elif "/calendar/" in resource.lower():
            calendar_id = mailbox.default_calendar.id
        expiration = self._expiration(body.get("expirationDateTime"))
        client_state = body.get("clientState")
        if client_state is not None and len(str(client_state)) > 255:
            raise GraphError(400, "InvalidRequest", "clientState is limited to 255 characters.")
        notification_url = str(body.get("notificationUrl") or "")
        check_url(notification_url, "notificationUrl")
        lifecycle_url = body.get("lifecycleNotificationUrl")
        if lifecycle_url:
            check_url(str(lifecycle_url), "lifecycleNotificationUrl")
        sid = str(uuid.uuid4())
        token = (
            "Validation: Testing client application reachability for subscription "
            f"Request-Id: {req.request_id}"
        )
        self.notifier.validate(notification_url, token)
        if lifecycle_url and lifecycle_url != notification_url:
            self.notifier.validate(str(lifecycle_url), token)
        sub = Subscription(
            id=sid,
            resource=resource,
            change_types=change_types,
            notification_url=notification_url,
            lifecycle_url=str(lifecycle_url) if lifecycle_url else None,
            expiration=expiration,
            client_state=str(client_state) if client_state is not None else None,
            mailbox_id=mailbox.id,
            calendar_id=calendar_id,
            immutable_ids=wants_immutable_ids(req),
            application_id=self.service.identity.client_id,
        )
        with self.lock:
            self.subscriptions[sid] = sub
        self.store.state_changed()
        out = {"@odata.context": f"{self.service.graph_url}/$metadata#subscriptions/$entity",
               **self.to_json(sub)}
        return ApiResponse(201, out)

    def list_subscriptions(self, req: ApiRequest, params: dict[str, str]) -> ApiResponse:
        """GET /subscriptions."""
        self._purge_expired()
        with self.lock:
            values = [self.to_json(s) for s in self.subscriptions.values()]
        return ApiResponse(200, {
            "@odata.context": f"{self.service.graph_url}/$metadata#subscriptions",
            "value": values,
        })

    def get_subscription(self, req: ApiRequest, params: dict[str, str]) -> ApiResponse:
        """GET /subscriptions/{id}."""
        return ApiResponse(200, self.to_json(self._live(params["sid"])))

    def renew_subscription(self, req: ApiRequest, params: dict[str, str]) -> ApiResponse:
        """PATCH /subscriptions/{id}: a new expirationDateTime (and optionally notificationUrl)."""
        sub = self._live(params["sid"])
        body = req.json()
        if not isinstance(body, dict):
            raise GraphError(400, "BadRequest", "A subscription object is expected.")
        if "expirationDateTime" in body:
            sub.expiration = self._expiration(body["expirationDateTime"])
        if body.get("notificationUrl") and body["notificationUrl"] != sub.notification_url:
            check_url(str(body["notificationUrl"]), "notificationUrl")
            self.notifier.validate(
                str(body["notificationUrl"]),
                "Validation: Testing client application reachability for subscription "
                f"Request-Id: {req.request_id}",
            )
            sub.notification_url = str(body["notificationUrl"])
        self.store.state_changed()
        return ApiResponse(200, self.to_json(sub))

    def delete_subscription(self, req: ApiRequest, params: dict[str, str]) -> ApiResponse:
        """DELETE /subscriptions/{id} → 204."""
        sub = self._live(params["sid"])
        with self.lock:
            self.subscriptions.pop(sub.id, None)
        self.store.state_changed()
        return ApiResponse(204)

    # notifications ------------------------------------------------------------------------

    def on_event_change(self, change_type: str, record: EventRecord) -> None:
        """Store listener: queue a notification for every matching live subscription."""
        now = utc_now()
        with self.lock:
            matching = [
                s for s in self.subscriptions.values()
                if s.expiration > now
                and s.mailbox_id == record.mailbox_id
                and (s.calendar_id is None or s.calendar_id == record.calendar_id)
                and change_type in s.change_types
            ]
        for sub in matching:
            event_id = record.immutable_id if sub.immutable_ids else record.id
            path = f"Users/{record.mailbox_id}/Events/{event_id}"
            notification = {
                "subscriptionId": sub.id,
                "subscriptionExpirationDateTime": iso_utc(sub.expiration),
                "changeType": change_type,
                "resource": path,
                "resourceData": {
                    "@odata.type": "#Microsoft.Graph.Event",
                    "@odata.id": path,
                    "@odata.etag": f'W/"{record.change_key}"',
                    "id": event_id,
                },
                "clientState": sub.client_state,
                "tenantId": self.service.identity.tenant_id,
            }
            self.notifier.send(sub.notification_url, {"value": [notification]})

    def send_lifecycle(self, sid: str, event: str) -> dict[str, Any]:
        """Post a lifecycle notification (admin); `subscriptionRemoved` also deletes it."""
        if event not in LIFECYCLE_EVENTS:
            raise GraphError(400, "BadRequest", f"Unknown lifecycle event '{event}'.")
        sub = self._live(sid)
        if not sub.lifecycle_url:
            raise GraphError(400, "BadRequest", "The subscription has no lifecycleNotificationUrl.")
        notification = {
            "subscriptionId": sub.id,
            "subscriptionExpirationDateTime": iso_utc(sub.expiration),
            "tenantId": self.service.identity.tenant_id,
            "clientState": sub.client_state,
            "lifecycleEvent": event,
        }
        if event == "missed":
            notification["resource"] = sub.resource
        self.notifier.send(sub.lifecycle_url, {"value": [notification]})
        if event == "subscriptionRemoved":
            with self.lock:
                self.subscriptions.pop(sub.id, None)
        return notification

    def summary(self) -> list[dict[str, Any]]:
        """Subscriptions for the admin state view (clientState omitted)."""
        self._purge_expired()
        with self.lock:
            return [
                {k: v for k, v in self.to_json(s).items() if k != "clientState"}
                for s in self.subscriptions.values()
            ]
