"""The Graph request pipeline: authentication, routing, faults, throttling, counting."""

from __future__ import annotations

import threading
from typing import Any

from .api import ApiRequest, ApiResponse, GraphError, error_response
from .batch import BatchApi
from .calendar_api import CalendarApi
from .delta import DeltaApi
from .events import new_record, validate_payload
from .identity import IdentityProvider
from .notifier import Notifier
from .routing import Router
from .store import Store
from .subscriptions import SubscriptionApi
from .traffic import FaultInjector, MailboxThrottle, RequestCounter


class GraphService:
    """Everything behind `/v1.0`, independent of the HTTP server."""

    def __init__(
        self,
        seed: dict[str, Any],
        tenant_id: str,
        client_id: str,
        client_secret: str,
        ca_path: str | None = None,
    ) -> None:
        self.base_url = ""
        self.stopping = threading.Event()
        self.store = Store(seed)
        self.identity = IdentityProvider(
            tenant_id, str(seed.get("tenant_domain", "example.org")), client_id, client_secret
        )
        self.faults = FaultInjector()
        self.throttle = MailboxThrottle()
        self.counter = RequestCounter()
        self.notifier = Notifier(ca_path)
        self.router = Router()
        self.calendar = CalendarApi(self)
        self.calendar.register(self.router)
        self.delta = DeltaApi(self)
        self.delta.register(self.router)
        self.subscriptions = SubscriptionApi(self, self.notifier)
        self.subscriptions.register(self.router)
        self.batch = BatchApi(self)
        self.router.add("POST", "/$batch", self.batch.run_batch)
        self._create_seed_events()

    @property
    def graph_url(self) -> str:
        """The API root, e.g. https://127.0.0.1:8443/v1.0."""
        return f"{self.base_url}/v1.0"

    def reset(self) -> None:
        """Back to the seed: events, subscriptions, delta tokens, faults, throttle, counts."""
        self.store.reset()
        self._create_seed_events()
        self.subscriptions.reset()
        self.delta.tokens.expire_all()
        self.faults.clear()
        self.throttle.configure({"enabled": False, "limit": 10_000, "window_seconds": 600,
                                 "concurrency": 4})
        self.counter.reset()

    def _create_seed_events(self) -> None:
        """Create the `events` listed per mailbox in the seed (Graph event JSON)."""
        for spec in self.store.seed.get("mailboxes", []):
            if not spec.get("events"):
                continue
            mailbox = self.store.mailbox(spec.get("id") or spec["userPrincipalName"])
            for payload in spec["events"]:
                checked = validate_payload(payload, creating=True)
                self.store.add(new_record(mailbox, mailbox.default_calendar.id, checked))

    def handle(self, req: ApiRequest) -> ApiResponse:
        """Answer one Graph request (a direct call or a `$batch` item)."""
        try:
            response = self._handle(req)
        except GraphError as error:
            response = error_response(error, req)
        response.headers.setdefault("request-id", req.request_id)
        response.headers.setdefault(
            "client-request-id", req.header("client-request-id") or req.request_id
        )
        self.counter.record_status(response.status)
        return response

    def _handle(self, req: ApiRequest) -> ApiResponse:
        try:
            match = self.router.match(req.method, req.path)
        except GraphError:
            self.counter.record(req.method, "(unmatched)", None)
            self.identity.authenticate(req.header("authorization"))
            raise
        user = match.params.get("user")
        mailbox = self.store.find_mailbox(user) if user else None
        self.counter.record(
            req.method, match.route.template, mailbox.upn if mailbox else user
        )
        claims = self.identity.authenticate(req.header("authorization"))
        keys = {mailbox.id.lower(), mailbox.upn.lower()} if mailbox else set()
        latency_ms, fault, drop_answer = self.faults.take(req.method, req.path, keys)
        app_id = str(claims.get("appid", ""))
        admitted = self.throttle.enter(app_id, mailbox.id) if mailbox else False
        try:
            if latency_ms:
                self.stopping.wait(latency_ms / 1000)
            if fault is not None:
                raise fault
            response = match.route.handler(req, match.params)
            response.drop = drop_answer
            return response
        finally:
            if admitted and mailbox:
                self.throttle.leave(app_id, mailbox.id)

    def stop(self) -> None:
        """Stop background work (notification delivery, latency waits)."""
        self.stopping.set()
        self.notifier.stop()
