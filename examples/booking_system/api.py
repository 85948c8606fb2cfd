"""The JSON API (``/api/*``, needs ``X-API-Key``) and the test controls (``/_admin/*``)."""

from __future__ import annotations

from typing import Any

from .admin import read_fault
from .errors import InvalidField
from .payloads import parse_json_object
from .web import BookingApp, Request, Response, Route, json_response


def _event_headers(event: dict[str, Any]) -> dict[str, str]:
    return {"ETag": f'"{event["version"]}"', "Location": f"/api/events/{event['id']}"}


def _body(request: Request) -> dict[str, Any]:
    return parse_json_object(request.body)


# Resources


def list_resources(app: BookingApp, request: Request) -> Response:
    """``GET /api/resources``."""
    return json_response(200, {"resources": app.bookings.list_resources()})


def add_resource(app: BookingApp, request: Request) -> Response:
    """``POST /api/resources`` with ``{"name", "id"?, "location"?}``."""
    resource = app.bookings.add_resource(_body(request))
    return json_response(201, {"id": resource["id"], "resource": resource},
                         {"Location": f"/api/resources/{resource['id']}"})


def show_resource(app: BookingApp, request: Request) -> Response:
    """``GET /api/resources/{id}``."""
    return json_response(200, app.bookings.get_resource(request.params["id"]))


# Events


def list_events(app: BookingApp, request: Request) -> Response:
    """``GET /api/events``: a page of bookings in change order, filtered by the query."""
    return json_response(200, app.bookings.list_events(request.query))


def create_event(app: BookingApp, request: Request) -> Response:
    """``POST /api/events``: 201 when created, 200 with the existing booking on a repeat."""
    event, created = app.bookings.create_event(_body(request))
    return json_response(201 if created else 200, {"id": event["id"], "event": event},
                         _event_headers(event))


def show_event(app: BookingApp, request: Request) -> Response:
    """``GET /api/events/{id}``."""
    event = app.bookings.get_event(request.params["id"])
    return json_response(200, event, _event_headers(event))


def update_event(app: BookingApp, request: Request) -> Response:
    """``PUT /api/events/{id}`` (partial; ``If-Match: <version>`` optional)."""
    event = app.bookings.update_event(
        request.params["id"], _body(request), request.header("If-Match")
    )
    return json_response(200, {"id": event["id"], "event": event}, _event_headers(event))


def cancel_event(app: BookingApp, request: Request) -> Response:
    """``DELETE /api/events/{id}`` cancels; ``?purge=true`` removes the row."""
    event_id, if_match = request.params["id"], request.header("If-Match")
    if request.query.get("purge", "").lower() in ("true", "1"):
        event = app.bookings.purge_event(event_id, if_match)
        return json_response(200, {"id": event["id"], "purged": True, "event": event})
    event = app.bookings.cancel_event(event_id, if_match)
    return json_response(200, {"id": event["id"], "active": False, "event": event},
                         _event_headers(event))


# Test controls


def reset(app: BookingApp, request: Request) -> Response:
    """``POST /_admin/reset`` (``{"seed": false}`` leaves it empty): data, faults, counts."""
    body = parse_json_object(request.body) if request.body.strip() else {}
    seed = body.get("seed", app.seed)
    if not isinstance(seed, bool):
        raise InvalidField("seed", "must be true or false")
    app.reset(seed=seed)
    return json_response(200, {"reset": True, "seeded": seed})


def add_fault(app: BookingApp, request: Request) -> Response:
    """``POST /_admin/faults`` ``{"status", "retry_after", "times", "path_regex", ...}``."""
    app.faults.add(read_fault(_body(request)))
    return json_response(201, {"faults": app.faults.describe()})


def list_faults(app: BookingApp, request: Request) -> Response:
    """``GET /_admin/faults``: the armed faults and their remaining times."""
    return json_response(200, {"faults": app.faults.describe()})


def clear_faults(app: BookingApp, request: Request) -> Response:
    """``DELETE /_admin/faults``."""
    app.faults.clear()
    return json_response(200, {"faults": []})


def request_counts(app: BookingApp, request: Request) -> Response:
    """``GET /_admin/requests``: counts by method and route template."""
    return json_response(200, app.requests.describe())


def webhook_stats(app: BookingApp, request: Request) -> Response:
    """``GET /_admin/webhooks``: deliveries attempted, succeeded, failed, retried, dropped."""
    return json_response(200, app.bookings.notifier.stats())


def configure_webhook(app: BookingApp, request: Request) -> Response:
    """``PUT /_admin/webhook`` ``{"url", "secret"}``: where change notifications go."""
    body = _body(request)
    url, secret = body.get("url"), body.get("secret")
    if url is not None and not isinstance(url, str):
        raise InvalidField("url", "must be a string or null")
    if secret is not None and not isinstance(secret, str):
        raise InvalidField("secret", "must be a string or null")
    try:
        app.bookings.notifier.configure(url, secret)
    except ValueError as exc:
        raise InvalidField("url", str(exc)) from None
    return json_response(200, {"url": url})


def health(app: BookingApp, request: Request) -> Response:
    """``GET /healthz`` (no key): the server answers."""
    return json_response(200, {"status": "ok"})


ROUTES = [
    Route("GET", "/healthz", health, needs_key=False),
    Route("GET", "/api/resources", list_resources),
    Route("POST", "/api/resources", add_resource),
    Route("GET", "/api/resources/{id}", show_resource),
    Route("GET", "/api/events", list_events),
    Route("POST", "/api/events", create_event),
    Route("GET", "/api/events/{id}", show_event),
    Route("PUT", "/api/events/{id}", update_event),
    Route("DELETE", "/api/events/{id}", cancel_event),
    Route("POST", "/_admin/reset", reset, needs_key=False),
    Route("GET", "/_admin/faults", list_faults, needs_key=False),
    Route("POST", "/_admin/faults", add_fault, needs_key=False),
    Route("DELETE", "/_admin/faults", clear_faults, needs_key=False),
    Route("GET", "/_admin/requests", request_counts, needs_key=False),
    Route("GET", "/_admin/webhooks", webhook_stats, needs_key=False),
    Route("PUT", "/_admin/webhook", configure_webhook, needs_key=False),
]
