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
from calbridge.functions.callers import BOOKING_SYSTEM_AND_OPERATOR
from calbridge.functions.http import api, json_response, ok, read_json, refused_input
from calbridge.model import utcnow
from calbridge.services import subscriptions, webhooks
from calbridge.store.queues import NOTIFICATIONS

bp = func.Blueprint()
log = logging.getLogger(__name__)
ANONYMOUS = func.AuthLevel.ANONYMOUS
# The calendar system the usage guide's `/webhook/*` endpoints are about.
OUTLOOK = "outlook"


def _handshake(token: str) -> func.HttpResponse:
    """Echo the decoded token as plain text, never as something a browser renders."""
    return func.HttpResponse(token, status_code=200, mimetype="text/plain", charset="utf-8",
                             headers={"X-Content-Type-Options": "nosniff",
                                      "Cache-Control": "no-store",
                                      "Content-Security-Policy": "default-src 'none'"})


def _receive(req: func.HttpRequest, c: Container, bridge: str) -> func.HttpResponse:
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
        return json_response({"success": True, "replayed": True,
                              "message": "this delivery was accepted before; nothing changed",
                              **receipt.model_dump(exclude={"replayed"})}, 200)
    return json_response({"success": True, **receipt.model_dump(exclude={"replayed"})}, 202)


def _url_or_none(c: Container, bridge: str) -> str | None:
    return f"{c.settings.webhook_base_url.rstrip('/')}/bridges/webhook/{bridge}" \
        if c.settings.webhook_base_url else None


@bp.route(route="bridges/webhook/{bridge}", methods=["GET", "POST"], auth_level=ANONYMOUS)
@api(callers=BOOKING_SYSTEM_AND_OPERATOR)  # anonymous: each notice is verified itself
def receive_bridge_webhook(req: func.HttpRequest, c: Container) -> func.HttpResponse:
    return _receive(req, c, req.route_params["bridge"])


@bp.route(route="webhook/outlook-notifications", methods=["GET", "POST"],
          auth_level=ANONYMOUS)
@api(callers=BOOKING_SYSTEM_AND_OPERATOR)  # anonymous: each notice is verified itself
def receive_outlook_notifications(req: func.HttpRequest, c: Container) -> func.HttpResponse:
    return _receive(req, c, subscriptions.bridge_of_type(c, OUTLOOK).name)


@bp.route(route="webhook/outlook-lifecycle", methods=["GET", "POST"], auth_level=ANONYMOUS)
@api(callers=BOOKING_SYSTEM_AND_OPERATOR)  # anonymous: each notice is verified itself
def receive_outlook_lifecycle(req: func.HttpRequest, c: Container) -> func.HttpResponse:
    return _receive(req, c, subscriptions.bridge_of_type(c, OUTLOOK).name)


# ------------------------------------------------------------------ subscriptions


def _subscribe(req: func.HttpRequest, c: Container, bridge: str) -> func.HttpResponse:
    body = read_json(req, subscriptions.SubscriptionRequest, c.settings.max_body_bytes)
    assert body is not None
    with refused_input(calendar_id=body.calendar_id):
        created, new = subscriptions.subscribe_calendar(c, bridge, body.calendar_id)
    return ok(201 if new else 200,
              message="Webhook subscription created" if new
              else "A live subscription for this calendar exists already",
              subscription=subscriptions.public(c, created))


@bp.route(route="webhook/create", methods=["POST"])
@api
def create_outlook_subscription(req: func.HttpRequest, c: Container) -> func.HttpResponse:
    return _subscribe(req, c, subscriptions.bridge_of_type(c, OUTLOOK).name)


@bp.route(route="bridges/{bridge}/subscriptions", methods=["POST"])
@api
def create_bridge_subscription(req: func.HttpRequest, c: Container) -> func.HttpResponse:
    return _subscribe(req, c, req.route_params["bridge"])


def _listing(c: Container) -> func.HttpResponse:
    now = utcnow()
    found = [subscriptions.public(c, s, now) for s in subscriptions.list_subscriptions(c)]
    return ok(subscriptions=found, count=len(found))


@bp.route(route="webhook/subscriptions", methods=["GET"])
@api
def list_outlook_subscriptions(req: func.HttpRequest, c: Container) -> func.HttpResponse:
    return _listing(c)


@bp.route(route="bridges/subscriptions", methods=["GET"])
@api
def list_bridge_subscriptions(req: func.HttpRequest, c: Container) -> func.HttpResponse:
    return _listing(c)


@bp.route(route="webhook/delete/{subscription_id}", methods=["DELETE"])
@api
def delete_subscription(req: func.HttpRequest, c: Container) -> func.HttpResponse:
    removed = subscriptions.delete(c, req.route_params["subscription_id"])
    return ok(message="Webhook subscription deleted",
              subscription=subscriptions.public(c, removed))


@bp.route(route="webhook/renew/{subscription_id}", methods=["POST"])
@api
def renew_subscription(req: func.HttpRequest, c: Container) -> func.HttpResponse:
    renewed = subscriptions.renew_by_id(c, req.route_params["subscription_id"])
    return ok(message="Webhook subscription renewed",
              subscription=subscriptions.public(c, renewed))


# ------------------------------------------------------------------ unattended


@bp.timer_trigger(schedule="%SUBSCRIPTION_RENEWAL_SCHEDULE%", arg_name="timer")
def maintain_subscriptions_on_schedule(timer: func.TimerRequest) -> None:
    report = subscriptions.maintain(container())
    forgotten = webhooks.forget_expired_deliveries(container())
    log.info("subscription maintenance", extra={
        **{k: len(v) for k, v in report.items() if isinstance(v, list)},
        "deliveries_forgotten": forgotten})


@bp.queue_trigger(arg_name="msg", queue_name=NOTIFICATIONS, connection="AzureWebJobsStorage")
def process_notification(msg: func.QueueMessage) -> None:
    # An error raised here (the event could not be read, storage is down) makes the host
    # retry the message, and poison it after 5 attempts.
    webhooks.process_message(container(), msg.get_body())
