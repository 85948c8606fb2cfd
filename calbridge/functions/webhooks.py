"""Webhooks: every bridge's notifications (and the validation handshake its adapter
declares), the usage guide's Outlook endpoints, push subscription management, the
renewal timer and the `notifications` queue trigger.

Receiving endpoints are anonymous (calendar systems present no function key); they trust
nothing: a client state or a signature, size limits, schema checks.
"""

from __future__ import annotations

import logging

import azure.functions as func

from calbridge.bootstrap import Container, container
from calbridge.functions.answers import (
    SubscriptionDone,
    Subscriptions,
    WebhookAlive,
    WebhookReceipt,
    WebhookReplayed,
)
from calbridge.functions.callers import BOOKING_SYSTEM_AND_OPERATOR
from calbridge.functions.contract import PLAIN_TEXT, Body, RawBody, Reply, api, ok
from calbridge.functions.http import refused_input
from calbridge.model import utcnow
from calbridge.services import subscriptions, webhooks
from calbridge.services.subscriptions import SubscriptionRequest
from calbridge.store.queues import NOTIFICATIONS

bp = func.Blueprint()
log = logging.getLogger(__name__)
ANONYMOUS = func.AuthLevel.ANONYMOUS
# The calendar system the usage guide's `/webhook/*` endpoints are about.
OUTLOOK = "outlook"
# What a receiving endpoint answers: the handshake echo (plain text) or that it is alive,
# a delivery accepted before (200), or what a new delivery queued (202). A notification
# the adapter cannot trust is a 401; no bridge of the guide's type, a 404.
RECEIVED = {200: (WebhookAlive, WebhookReplayed, PLAIN_TEXT), 202: WebhookReceipt}
NOTIFICATION = RawBody(
    "A calendar system's change notification, authenticated by the bridge's adapter (Graph: "
    "`value[]` with each subscription's `clientState`; Google: channel headers and token; "
    "booking system: a signature header). A validation handshake (Graph's "
    "`validationToken` query parameter) is echoed as text/plain.")
SUBSCRIPTION = Body(SubscriptionRequest, examples={"guide": {"calendar_id": "room1@company.com"}})


def _handshake(token: str) -> func.HttpResponse:
    """Echo the decoded token as plain text, never as something a browser renders."""
    return func.HttpResponse(token, status_code=200, mimetype="text/plain", charset="utf-8",
                             headers={"X-Content-Type-Options": "nosniff",
                                      "Cache-Control": "no-store",
                                      "Content-Security-Policy": "default-src 'none'"})


def _receive(req: func.HttpRequest, c: Container, bridge: str
             ) -> Reply | func.HttpResponse:
    token = webhooks.handshake(c.bridge(bridge), req.params)
    if token is not None:
        return _handshake(token)
    if req.method.upper() == "GET":
        return ok(message=f"{bridge} webhook endpoint is alive", bridge=bridge,
                  notification_url=_url_or_none(c, bridge))
    receipt = webhooks.receive(c, bridge, dict(req.headers), req.get_body() or b"",
                               apply_now=True)
    if receipt.replayed:
        # A delivery accepted before: 200 so the sender stops retrying, and nothing new
        # is queued (a 409 would read as a failure and be retried).
        return ok(replayed=True, message="this delivery was accepted before; nothing changed",
                  **receipt.model_dump(exclude={"replayed"}))
    return ok(202, **receipt.model_dump(exclude={"replayed"}))


def _url_or_none(c: Container, bridge: str) -> str | None:
    return f"{c.settings.webhook_base_url.rstrip('/')}/bridges/webhook/{bridge}" \
        if c.settings.webhook_base_url else None


@bp.route(route="bridges/webhook/{bridge}", methods=["GET", "POST"], auth_level=ANONYMOUS)
@api(callers=BOOKING_SYSTEM_AND_OPERATOR, answers=RECEIVED, body=NOTIFICATION,
     errors=(401,))
def receive_bridge_webhook(req: func.HttpRequest, c: Container) -> Reply | func.HttpResponse:
    """A bridge's notifications (anonymous: each notice is verified itself)."""
    return _receive(req, c, req.route_params["bridge"])


@bp.route(route="webhook/outlook-notifications", methods=["GET", "POST"],
          auth_level=ANONYMOUS)
@api(callers=BOOKING_SYSTEM_AND_OPERATOR, answers=RECEIVED, body=NOTIFICATION,
     errors=(401, 404))
def receive_outlook_notifications(req: func.HttpRequest, c: Container) -> Reply | func.HttpResponse:
    """The usage guide's Graph notification URL."""
    return _receive(req, c, subscriptions.bridge_of_type(c, OUTLOOK).name)


@bp.route(route="webhook/outlook-lifecycle", methods=["GET", "POST"], auth_level=ANONYMOUS)
@api(callers=BOOKING_SYSTEM_AND_OPERATOR, answers=RECEIVED, body=NOTIFICATION,
     errors=(401, 404))
def receive_outlook_lifecycle(req: func.HttpRequest, c: Container) -> Reply | func.HttpResponse:
    """Graph's lifecycle notifications (missed, reauthorization required, removed)."""
    return _receive(req, c, subscriptions.bridge_of_type(c, OUTLOOK).name)


# ------------------------------------------------------------------ subscriptions


def _subscribe(c: Container, bridge: str, body: SubscriptionRequest) -> Reply:
    with refused_input(calendar_id=body.calendar_id):
        created, new = subscriptions.subscribe_calendar(c, bridge, body.calendar_id)
    return ok(201 if new else 200,
              message="Webhook subscription created" if new
              else "A live subscription for this calendar exists already",
              subscription=subscriptions.public(c, created))


@bp.route(route="webhook/create", methods=["POST"])
@api(answers={201: SubscriptionDone, 200: SubscriptionDone}, body=SUBSCRIPTION,
     errors=(404, 409, 502))
def create_outlook_subscription(req: func.HttpRequest, c: Container,
                                body: SubscriptionRequest) -> Reply:
    """Subscribe to an Outlook calendar's changes (200: a live one exists already)."""
    return _subscribe(c, subscriptions.bridge_of_type(c, OUTLOOK).name, body)


@bp.route(route="bridges/{bridge}/subscriptions", methods=["POST"])
@api(answers={201: SubscriptionDone, 200: SubscriptionDone}, body=SUBSCRIPTION,
     errors=(409, 502))
def create_bridge_subscription(req: func.HttpRequest, c: Container,
                               body: SubscriptionRequest) -> Reply:
    """Subscribe to a calendar's changes on any bridge with push (200: a live one exists
    already)."""
    return _subscribe(c, req.route_params["bridge"], body)


def _listing(c: Container) -> Reply:
    now = utcnow()
    found = [subscriptions.public(c, s, now) for s in subscriptions.list_subscriptions(c)]
    return ok(subscriptions=found, count=len(found))


@bp.route(route="webhook/subscriptions", methods=["GET"])
@api(answers={200: Subscriptions})
def list_outlook_subscriptions(req: func.HttpRequest, c: Container) -> Reply:
    """Push subscriptions, each with its status and minutes left."""
    return _listing(c)


@bp.route(route="bridges/subscriptions", methods=["GET"])
@api(answers={200: Subscriptions})
def list_bridge_subscriptions(req: func.HttpRequest, c: Container) -> Reply:
    """Push subscriptions, each with its status and minutes left."""
    return _listing(c)


@bp.route(route="webhook/delete/{subscription_id}", methods=["DELETE"])
@api(answers={200: SubscriptionDone}, errors=(502,))
def delete_subscription(req: func.HttpRequest, c: Container) -> Reply:
    """Stop a push subscription with its calendar system and forget it."""
    removed = subscriptions.delete(c, req.route_params["subscription_id"])
    return ok(message="Webhook subscription deleted",
              subscription=subscriptions.public(c, removed))


@bp.route(route="webhook/renew/{subscription_id}", methods=["POST"])
@api(answers={200: SubscriptionDone}, errors=(409, 502))
def renew_subscription(req: func.HttpRequest, c: Container) -> Reply:
    """Extend a push subscription now, before the renewal timer would; one the calendar
    system no longer has is made again (a new id)."""
    renewed, remade = subscriptions.renew_by_id(c, req.route_params["subscription_id"])
    return ok(message=("Webhook subscription was gone from its calendar system; made again"
                       if remade else "Webhook subscription renewed"),
              subscription=subscriptions.public(c, renewed))


# ------------------------------------------------------------------ unattended


@bp.timer_trigger(schedule="%SUBSCRIPTION_RENEWAL_SCHEDULE%", arg_name="timer")
def maintain_subscriptions_on_schedule(timer: func.TimerRequest) -> None:
    report = subscriptions.maintain(container())
    forgotten = webhooks.forget_expired_deliveries(container())
    # Prefixed: `created` is a log record's own attribute, and logging refuses to set it.
    log.info("subscription maintenance", extra={
        **{f"subscriptions_{k}": len(v) for k, v in report.items() if isinstance(v, list)},
        "deliveries_forgotten": forgotten})


@bp.queue_trigger(arg_name="msg", queue_name=NOTIFICATIONS, connection="AzureWebJobsStorage")
def process_notification(msg: func.QueueMessage) -> None:
    # An error raised here (the event could not be read, storage is down) makes the host
    # retry the message, and poison it after 5 attempts.
    webhooks.process_message(container(), msg.get_body())
