"""The real-time part of `make demo`: a Graph subscription against the emulator, then
changes made straight in Outlook and in the booking system arriving on the other side
by push alone, with the delay measured."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from calbridge.host.stack import DEMO_BOOKING_KEY, LocalStack

Call = Callable[..., dict[str, Any]]
SLOT = (datetime.now(UTC) + timedelta(days=2)).replace(hour=14, minute=0, second=0,
                                                       microsecond=0)


def _graph_session(stack: LocalStack) -> tuple[requests.Session, str]:
    """A session on the Graph emulator with an app token, as calbridge itself gets one."""
    graph: Any = stack.graph
    session = requests.Session()
    session.verify = graph.ca_path
    session.trust_env = False
    token = session.post(f"{graph.authority_host}/{graph.tenant_id}/oauth2/v2.0/token", data={
        "grant_type": "client_credentials", "client_id": graph.client_id,
        "client_secret": graph.client_secret,
        "scope": "https://graph.microsoft.com/.default"}, timeout=30).json()["access_token"]
    session.headers["Authorization"] = f"Bearer {token}"
    return session, graph.graph_url


def _wait(check: Callable[[], bool], timeout: float = 30.0) -> float | None:
    """Seconds until `check()` holds, or None after `timeout`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():
            return time.monotonic() - started
        time.sleep(0.05)
    return None


def _mapped_room(call: Call) -> tuple[str, str]:
    for mapping in call("GET", "/mappings/resources").get("mappings", []):
        if mapping.get("active") and mapping.get("calendar_system") == "outlook":
            return mapping["booking_system_resource_id"], mapping["calendar_resource_id"]
    call("POST", "/mappings/resources", json={
        "booking_system_resource_id": "room_101", "calendar_system": "outlook",
        "calendar_resource_id": "room-a@rooms.example.org",
        "calendar_resource_name": "Conference Room A", "active": True})
    return "room_101", "room-a@rooms.example.org"


def show_realtime(stack: LocalStack, call: Call) -> dict[str, float | None]:
    """Subscribe a mapped room, change things on each side without calling sync, and
    print how long each change took to arrive. Returns the measured delays."""
    resource, room = _mapped_room(call)
    answer = call("POST", "/webhook/create", json={"calendar_id": room})
    subscription = answer.get("subscription") or {}
    print(f"  subscription {subscription.get('id')} on {room}, expires "
          f"{subscription.get('expires_at')}; Graph sends changes to "
          f"{stack.url}/bridges/webhook/outlook")

    graph, graph_url = _graph_session(stack)
    booking: Any = stack.booking
    bookings = requests.Session()
    bookings.headers["X-API-Key"] = DEMO_BOOKING_KEY

    def booking_titles() -> list[str]:
        page = bookings.get(f"{booking.base_url}/api/events",
                            params={"resource_id": resource}, timeout=10).json()
        return [b["title"] for b in page.get("events", []) if b.get("active") in (1, True)]

    def outlook_subjects() -> list[str]:
        page = graph.get(f"{graph_url}/users/{room}/events", params={"$top": "200"},
                         timeout=10).json()
        return [e["subject"] for e in page.get("value", [])]

    delays: dict[str, float | None] = {}
    start = SLOT.strftime("%Y-%m-%dT%H:%M:%S")
    end = (SLOT + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")
    print("  In Outlook (Graph, no calbridge call): create 'Drop-in design review'")
    event = graph.post(f"{graph_url}/users/{room}/events", json={
        "subject": "Drop-in design review", "start": {"dateTime": start, "timeZone": "UTC"},
        "end": {"dateTime": end, "timeZone": "UTC"}}, timeout=10).json()
    delays["outlook_create"] = _wait(lambda: "Drop-in design review" in booking_titles())
    _report("in the booking system", delays["outlook_create"])

    print("  In Outlook: rename it to 'Design review (moved)'")
    graph.patch(f"{graph_url}/users/{room}/events/{event['id']}",
                json={"subject": "Design review (moved)"}, timeout=10)
    delays["outlook_edit"] = _wait(lambda: "Design review (moved)" in booking_titles())
    _report("in the booking system", delays["outlook_edit"])

    print("  In the booking system: book 'Chess club' (its signed webhook tells calbridge)")
    bookings.post(f"{booking.base_url}/api/events", json={
        "resource_id": resource, "title": "Chess club",
        "start_time": (SLOT + timedelta(hours=3)).isoformat().replace("+00:00", "Z"),
        "end_time": (SLOT + timedelta(hours=4)).isoformat().replace("+00:00", "Z")},
        timeout=10).raise_for_status()
    delays["booking_create"] = _wait(lambda: "Chess club" in outlook_subjects())
    _report("in Outlook", delays["booking_create"])

    health = call("GET", "/bridges/health").get("subscriptions", {})
    print(f"  subscriptions: {health.get('total', 0)} total, {health.get('expiring', 0)} "
          f"expiring, {health.get('failing', 0)} failing")
    return delays


def _report(where: str, delay: float | None) -> None:
    if delay is None:
        print(f"    → not {where} after 30 s (is the notifications queue trigger running?)")
    else:
        print(f"    → {where} after {delay * 1000:.0f} ms, without any sync call")
