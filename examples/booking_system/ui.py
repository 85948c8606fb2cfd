"""The page for people: ``GET /`` lists resources and bookings, forms post to ``/ui/...``.

The page and its forms need no API key; this example is meant for local use only. A
per-process form token stops other web pages from posting to the forms.
"""

from __future__ import annotations

import hmac
from datetime import UTC, date, datetime, timedelta
from html import escape
from typing import Any
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

from .errors import ApiError, Forbidden, InvalidField
from .web import BookingApp, Request, Response, Route

DEFAULT_REFRESH_SECONDS = 5
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}
_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
table { border-collapse: collapse; width: 100%; margin-bottom: 2rem; }
th, td { border-bottom: 1px solid #ddd; padding: .35rem .5rem; text-align: left; }
th { background: #f3f3f3; }
tr.cancelled td { color: #888; text-decoration: line-through; }
tr.cancelled td.actions, tr.cancelled td.status { text-decoration: none; }
form.inline { display: inline; }
fieldset { margin-bottom: 2rem; }
.note { color: #666; font-size: .9rem; }
"""


def _html_response(status: int, title: str, content: str, refresh: int = 0) -> Response:
    meta = f'<meta http-equiv="refresh" content="{refresh}">' if refresh else ""
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title>{meta}<style>{_STYLE}</style></head>"
        f"<body>{content}</body></html>"
    )
    return Response(status, page.encode(), "text/html; charset=utf-8", dict(_SECURITY_HEADERS))


def _redirect_home() -> Response:
    return Response(303, b"", "text/plain; charset=utf-8", {"Location": "/"})


def _when(event: dict[str, Any]) -> str:
    """Human-readable times, in the booking's own zone when it has one."""
    if event["all_day"]:
        first = date.fromisoformat(event["start_time"])
        last = date.fromisoformat(event["end_time"]) - timedelta(days=1)
        span = first.isoformat() if last <= first else f"{first} \u2013 {last}"
        return f"{span} (all day)"
    zone_name = event["timezone"] or "UTC"
    zone = ZoneInfo(zone_name)
    start = datetime.fromisoformat(event["start_time"]).astimezone(zone)
    end = datetime.fromisoformat(event["end_time"]).astimezone(zone)
    end_text = end.strftime("%H:%M") if end.date() == start.date() else end.strftime(
        "%Y-%m-%d %H:%M"
    )
    return f"{start:%Y-%m-%d %H:%M} \u2013 {end_text} {zone_name}"


def _token_field(app: BookingApp) -> str:
    return f'<input type="hidden" name="token" value="{escape(app.ui_token)}">'


def _event_row(app: BookingApp, event: dict[str, Any]) -> str:
    event_id = escape(event["id"])
    token = _token_field(app)
    if event["active"]:
        toggle = (
            f'<form class="inline" method="post" action="/ui/events/{event_id}/cancel">'
            f'{token}<button type="submit">Cancel</button></form>'
        )
    else:
        toggle = (
            f'<form class="inline" method="post" action="/ui/events/{event_id}/reactivate">'
            f'{token}<button type="submit">Re-enable</button></form>'
        )
    rename = (
        f'<form class="inline" method="post" action="/ui/events/{event_id}/title">{token}'
        f'<input name="title" value="{escape(event["title"])}" size="24" required>'
        '<button type="submit">Save title</button></form>'
    )
    source = event["source_system"] or "booking system"
    if event["external_id"]:
        source = f"{source} ({event['external_id']})"
    status = "active" if event["active"] else "cancelled"
    return (
        f'<tr class="{status}"><td>{event_id}</td><td>{escape(event["title"])}</td>'
        f"<td>{escape(_when(event))}</td><td class=\"status\">{status}</td>"
        f"<td>{escape(source)}</td><td>{event['version']}</td>"
        f"<td>{escape(event['updated_at'])}</td>"
        f'<td class="actions">{rename} {toggle}</td></tr>'
    )


def _create_form(app: BookingApp, resources: list[dict[str, Any]]) -> str:
    options = "".join(
        f'<option value="{escape(r["id"])}">{escape(r["name"])}</option>' for r in resources
    )
    return (
        '<fieldset><legend>New booking</legend>'
        f'<form method="post" action="/ui/events">{_token_field(app)}'
        f'<label>Resource <select name="resource_id">{options}</select></label> '
        '<label>Title <input name="title" required></label> '
        '<label>Start <input type="datetime-local" name="start" required></label> '
        '<label>End <input type="datetime-local" name="end" required></label> '
        '<label>Time zone <input name="timezone" value="UTC" size="16"></label> '
        '<label><input type="checkbox" name="all_day"> All day (dates only, end day '
        'included)</label> '
        '<button type="submit">Book</button></form></fieldset>'
    )


def show_page(app: BookingApp, request: Request) -> Response:
    """``GET /``: every resource with its bookings (``?refresh=0`` stops auto-refresh)."""
    refresh_text = request.query.get("refresh", str(DEFAULT_REFRESH_SECONDS))
    refresh = int(refresh_text) if refresh_text.isdigit() and int(refresh_text) <= 3600 else 0
    resources = app.bookings.list_resources()
    sections = []
    for resource in resources:
        rows = "".join(
            _event_row(app, event) for event in app.bookings.store.events_by_start(resource["id"])
        ) or '<tr><td colspan="8">No bookings.</td></tr>'
        location = f" — {escape(resource['location'])}" if resource["location"] else ""
        sections.append(
            f"<h2>{escape(resource['name'])} <small>({escape(resource['id'])}){location}"
            "</small></h2><table><thead><tr><th>#</th><th>Title</th><th>When</th>"
            "<th>Status</th><th>Source</th><th>Version</th><th>Updated (UTC)</th>"
            f"<th>Actions</th></tr></thead><tbody>{rows}</tbody></table>"
        )
    toggle = (
        '<a href="/?refresh=0">Pause auto-refresh</a>' if refresh else
        f'<a href="/?refresh={DEFAULT_REFRESH_SECONDS}">Resume auto-refresh</a>'
    )
    content = (
        "<h1>Municipal room booking</h1>"
        '<p class="note">Example booking system for local use: this page and its forms need '
        f"no API key. {toggle}</p>"
        f"{_create_form(app, resources)}{''.join(sections) or '<p>No resources.</p>'}"
    )
    return _html_response(200, "Municipal room booking", content, refresh)


def _form(app: BookingApp, request: Request) -> dict[str, str]:
    fields = {
        key: values[-1]
        for key, values in parse_qs(
            request.body.decode("utf-8", "replace"), keep_blank_values=True
        ).items()
    }
    token = fields.get("token", "")
    if not hmac.compare_digest(token.encode(), app.ui_token.encode()):
        raise Forbidden("the form is out of date; reload the page")
    return fields


def _error_page(error: ApiError) -> Response:
    content = (
        f"<h1>Could not save</h1><p>{escape(error.message)}</p>"
        '<p><a href="/">Back to the bookings</a></p>'
    )
    return _html_response(error.status, "Could not save", content)


def _form_times(fields: dict[str, str]) -> dict[str, Any]:
    zone_name = fields.get("timezone", "").strip() or "UTC"
    try:
        zone = ZoneInfo(zone_name)
    except (KeyError, ValueError):
        raise InvalidField("timezone", f"unknown time zone {zone_name!r}") from None
    try:
        start = datetime.fromisoformat(fields.get("start", ""))
        end = datetime.fromisoformat(fields.get("end", ""))
    except ValueError:
        raise InvalidField("start", "enter a start and an end") from None
    if fields.get("all_day"):
        return {
            "all_day": True, "timezone": zone_name,
            "start_time": start.date().isoformat(),
            "end_time": (end.date() + timedelta(days=1)).isoformat(),
        }
    return {
        "all_day": False, "timezone": zone_name,
        "start_time": start.replace(tzinfo=zone).astimezone(UTC).isoformat(),
        "end_time": end.replace(tzinfo=zone).astimezone(UTC).isoformat(),
    }


def _form_action(app: BookingApp, request: Request, action: Any) -> Response:
    try:
        fields = _form(app, request)
        action(fields)
    except ApiError as error:
        return _error_page(error)
    return _redirect_home()


def book_from_form(app: BookingApp, request: Request) -> Response:
    """``POST /ui/events``: a new booking from the form."""
    def create(fields: dict[str, str]) -> None:
        app.bookings.create_event({
            "resource_id": fields.get("resource_id", ""),
            "title": fields.get("title", ""),
            **_form_times(fields),
        })
    return _form_action(app, request, create)


def rename_from_form(app: BookingApp, request: Request) -> Response:
    """``POST /ui/events/{id}/title``."""
    return _form_action(app, request, lambda fields: app.bookings.update_event(
        request.params["id"], {"title": fields.get("title", "")}
    ))


def cancel_from_form(app: BookingApp, request: Request) -> Response:
    """``POST /ui/events/{id}/cancel``."""
    return _form_action(app, request, lambda fields: app.bookings.cancel_event(
        request.params["id"]
    ))


def reactivate_from_form(app: BookingApp, request: Request) -> Response:
    """``POST /ui/events/{id}/reactivate``."""
    return _form_action(app, request, lambda fields: app.bookings.update_event(
        request.params["id"], {"active": True}
    ))


ROUTES = [
    Route("GET", "/", show_page, needs_key=False),
    Route("POST", "/ui/events", book_from_form, needs_key=False),
    Route("POST", "/ui/events/{id}/title", rename_from_form, needs_key=False),
    Route("POST", "/ui/events/{id}/cancel", cancel_from_form, needs_key=False),
    Route("POST", "/ui/events/{id}/reactivate", reactivate_from_form, needs_key=False),
]
