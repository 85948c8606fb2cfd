"""`make demo`: start the local stack on free ports and show a newcomer what calbridge
does, step by step, through its HTTP API — then stop everything again."""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from calbridge.demo_realtime import show_realtime
from calbridge.host.stack import (
    CALDAV_USER,
    DEMO_BOOKING_KEY,
    DEMO_WEBHOOK_SECRET,
    GOOGLE_SUBJECT,
    LocalStack,
    Ports,
)

KEY = "demo-function-key"
# The demo's bookings: tomorrow morning, well inside the sync window.
SOON = (datetime.now(UTC) + timedelta(days=1)).replace(hour=9, minute=0, second=0,
                                                      microsecond=0)


class Walkthrough:
    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.session = requests.Session()
        self.session.headers["x-functions-key"] = KEY
        self.step = 0

    def call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self.session.request(method, self.stack.url + path, timeout=60, **kwargs)
        print(f"  $ curl -X {method} {self.stack.url}{path}"
              + (f" -d '{json.dumps(kwargs['json'])}'" if "json" in kwargs else ""))
        print(f"  → HTTP {response.status_code}")
        return response.json()

    def title(self, text: str) -> None:
        self.step += 1
        print(f"\n── {self.step}. {text} " + "─" * max(0, 60 - len(text)))

    def run(self) -> None:
        self.title("The bridges calbridge is configured with")
        for bridge in self.call("GET", "/bridges")["bridges"]:
            caps = ", ".join(k for k, v in bridge["capabilities"].items() if v)
            print(f"    {bridge['name']:<16} type={bridge['type']:<15} can: {caps}")

        self.title("Resources in your booking system, rooms in Outlook")
        resources = self.call("GET", "/bridges/booking_system/calendars")["calendars"]
        rooms = self.call("GET", "/bridges/outlook/calendars")["calendars"]
        for resource in resources:
            print(f"    booking system  {resource['id']:<12} {resource['name']}")
        for room in rooms:
            print(f"    outlook         {room['id']:<28} {room['name']}")

        self.title("Map two booking resources to two Outlook rooms")
        rooms_by_resource = dict(zip(("room_101", "room_102"), (r["id"] for r in rooms),
                                     strict=False))
        for resource_id, room_id in rooms_by_resource.items():
            created = self.call("POST", "/mappings/resources", json={
                "booking_system_resource_id": resource_id, "calendar_system": "outlook",
                "calendar_resource_id": room_id, "active": True})
            print(f"    {resource_id} ↔ {room_id}  (mapping {created['id'][:8]}…)")
        again = self.call("POST", "/mappings/resources", json={
            "booking_system_resource_id": "room_101", "calendar_system": "outlook",
            "calendar_resource_id": rooms_by_resource["room_101"]})
        print(f"    mapping the same pair again: {again['error']['message']}")

        self.title("Bookings are made in your booking system")
        # Step by step first: the booking system's push notifications wait until the
        # real-time part at the end.
        self.stack.booking.set_webhook(None, None)  # type: ignore[union-attr]
        people = BookingSystem(self.stack)
        council = people.book("room_101", "Council meeting", hours=0)
        people.book("room_101", "Choir practice", hours=3)
        people.book("room_102", "Chess club", hours=1)
        for booking in people.bookings():
            print(f"    #{booking['id']:<4} {booking['resource_id']:<9} {booking['title']}")

        self.title("Sync them into Outlook")
        self.report(self.call("POST", "/bridges/sync/booking_system/outlook"))
        outlook = Outlook(self.stack)
        self.show_outlook(outlook, rooms_by_resource.values())

        self.title("Google Calendar too: room_101 is also a room calendar in Google")
        google_room = "room-a@rooms.example.org"
        created = self.call("POST", "/mappings/resources", json={
            "a": {"bridge": "booking_system", "calendar_id": "room_101"},
            "b": {"bridge": "google_calendar", "calendar_id": google_room}})
        print(f"    room_101 ↔ Google {google_room}  (mapping {created['id'][:8]}…)")
        self.report(self.call("POST", "/bridges/sync/booking_system/google_calendar"))
        google = Google(self.stack)
        print(f"    Google {google_room}: " + "; ".join(google.titles(google_room)))

        self.title("And a CalDAV calendar (Radicale): room_102's bookings in the music room")
        music_room = f"/{CALDAV_USER}/music-room/"
        created = self.call("POST", "/mappings/resources", json={
            "a": {"bridge": "booking_system", "calendar_id": "room_102"},
            "b": {"bridge": "caldav", "calendar_id": music_room}})
        print(f"    room_102 ↔ CalDAV {music_room}  (mapping {created['id'][:8]}…)")
        self.report(self.call("POST", "/bridges/sync/booking_system/caldav"))
        print(f"    CalDAV {music_room}: " + "; ".join(caldav_titles(self.stack, music_room)))

        self.title("Someone edits a meeting in Outlook; sync it back")
        room_a = rooms_by_resource["room_101"]
        event = next(e for e in outlook.events(room_a) if e["subject"] == "Council meeting")
        outlook.rename(room_a, event["id"], "Council meeting (moved to the big hall)")
        print("    Outlook: 'Council meeting' → 'Council meeting (moved to the big hall)'")
        self.report(self.call("POST", "/bridges/sync/outlook/booking_system"))
        print(f"    booking #{council['id']} is now: {people.get(council['id'])['title']!r}")

        self.title("Sync again, both ways: nothing to do, no echo")
        self.report(self.call("POST", "/bridges/sync/booking_system/outlook"))
        self.report(self.call("POST", "/bridges/sync/outlook/booking_system"))

        self.title("The council meeting is cancelled in the booking system")
        people.cancel(council["id"])
        self.report(self.call("POST", "/bridges/sync/booking_system/outlook"))
        self.show_outlook(outlook, [room_a])

        self.title("…and re-enabled: it gets a fresh Outlook event")
        people.reenable(council["id"])
        self.report(self.call("POST", "/bridges/sync/booking_system/outlook"))
        self.show_outlook(outlook, [room_a])

        self.title("Google follows the same changes")
        self.report(self.call("POST", "/bridges/sync/booking_system/google_calendar"))
        print(f"    Google {google_room}: " + "; ".join(google.titles(google_room)))

        self.title("Final state of both sides")
        print(f"    {'booking system':<52} outlook")
        linked = {e.get("subject"): e for room in rooms_by_resource.values()
                  for e in outlook.events(room)}
        for booking in people.bookings():
            state = "active" if booking["active"] else "cancelled"
            mirror = linked.get(booking["title"])
            seen = "✓ " + mirror["subject"] if mirror else "—"
            print(f"    #{booking['id']:<4} {booking['title'][:30]:<31} {state:<10}  {seen}")

        self.title("Real time: no sync calls, changes arrive by push")
        self.stack.booking.set_webhook(  # type: ignore[union-attr]
            f"{self.stack.url}/bridges/webhook/booking_system", DEMO_WEBHOOK_SECRET)
        show_realtime(self.stack, self.call)

        self.title("Health and statistics")
        health = self.call("GET", "/bridges/health")
        for name, report in health["bridges"].items():
            print(f"    {name:<16} {report['status']:<9} {report['latency_ms']} ms, "
                  f"{report['calendars_available']} calendars")
        summary = self.call("GET", "/bridge/stats")["statistics"]["summary"]
        print("    event links: " + ", ".join(f"{k} {v}" for k, v in summary.items() if v))

    def report(self, answer: dict[str, Any]) -> None:
        results = answer["results"]
        print(f"    created {results['created']}, updated {results['updated']}, "
              f"deleted {results['deleted']}, errors {results['errors']}, "
              f"success rate {results['success_rate']}")
        for op in results["operations"]:
            if op["status"] != "skipped":
                print(f"      {op['operation']:<7} {op['source_system']} → {op['target_system']}"
                      f"  {op['title'] or '':<40} {op['status']}")

    def show_outlook(self, outlook: Outlook, rooms: Iterable[str]) -> None:
        for room in rooms:
            titles = sorted(e["subject"] for e in outlook.events(room)) or ["(empty)"]
            print(f"    Outlook {room}: " + "; ".join(titles))


class BookingSystem:
    """The people using the example booking system, through its own API."""

    def __init__(self, stack: LocalStack) -> None:
        self.url = stack.booking.base_url  # type: ignore[union-attr]
        self.session = requests.Session()
        self.session.headers["X-API-Key"] = DEMO_BOOKING_KEY

    def book(self, resource: str, title: str, hours: int) -> dict[str, Any]:
        start = SOON + timedelta(hours=hours)
        answer = self.session.post(f"{self.url}/api/events", timeout=30, json={
            "resource_id": resource, "title": title,
            "start_time": start.isoformat().replace("+00:00", "Z"),
            "end_time": (start + timedelta(hours=1)).isoformat().replace("+00:00", "Z")})
        answer.raise_for_status()
        return answer.json()["event"]

    def get(self, booking_id: str) -> dict[str, Any]:
        return self.session.get(f"{self.url}/api/events/{booking_id}", timeout=30).json()

    def bookings(self) -> list[dict[str, Any]]:
        return self.session.get(f"{self.url}/api/events", timeout=30).json()["events"]

    def cancel(self, booking_id: str) -> None:
        self.session.delete(f"{self.url}/api/events/{booking_id}", timeout=30).raise_for_status()

    def reenable(self, booking_id: str) -> None:
        self.session.put(f"{self.url}/api/events/{booking_id}", json={"active": True},
                         timeout=30).raise_for_status()


class Outlook:
    """People editing room calendars, through the Graph emulator's API."""

    def __init__(self, stack: LocalStack) -> None:
        graph = stack.graph
        self.url = graph.graph_url  # type: ignore[union-attr]
        self.session = requests.Session()
        self.session.verify = graph.ca_path  # type: ignore[union-attr]
        self.session.trust_env = False  # REQUESTS_CA_BUNDLE must not replace the CA
        token = self.session.post(
            f"{graph.authority_host}/{graph.tenant_id}/oauth2/v2.0/token",  # type: ignore[union-attr]
            data={"grant_type": "client_credentials", "client_id": graph.client_id,  # type: ignore[union-attr]
                  "client_secret": graph.client_secret,  # type: ignore[union-attr]
                  "scope": "https://graph.microsoft.com/.default"}, timeout=30).json()
        self.session.headers["Authorization"] = f"Bearer {token['access_token']}"

    def events(self, room: str) -> list[dict[str, Any]]:
        window = {"startDateTime": (SOON - timedelta(days=1)).isoformat(),
                  "endDateTime": (SOON + timedelta(days=2)).isoformat()}
        answer = self.session.get(f"{self.url}/users/{room}/calendarView", params=window,
                                  timeout=30)
        answer.raise_for_status()
        return answer.json()["value"]

    def rename(self, room: str, event_id: str, subject: str) -> None:
        self.session.patch(f"{self.url}/users/{room}/events/{event_id}",
                           json={"subject": subject}, timeout=30).raise_for_status()


def caldav_titles(stack: LocalStack, calendar: str) -> list[str]:
    """The summaries of a CalDAV calendar's events, read as a desktop client would (a
    calendar-query REPORT for VEVENTs), parsed with icalendar."""
    import icalendar
    from defusedxml import ElementTree as ET

    assert stack.caldav is not None
    body = ('<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">'
            '<d:prop><c:calendar-data/></d:prop><c:filter><c:comp-filter name="VCALENDAR">'
            '<c:comp-filter name="VEVENT"/></c:comp-filter></c:filter></c:calendar-query>')
    with stack.caldav.session() as session:
        answer = session.request("REPORT", stack.caldav.url.rstrip("/") + calendar,
                                 data=body, timeout=30, headers={
                                     "Depth": "1", "Content-Type": "application/xml"})
    answer.raise_for_status()
    titles = []
    for data in ET.fromstring(answer.content).iter("{urn:ietf:params:xml:ns:caldav}"
                                                    "calendar-data"):
        for event in icalendar.Calendar.from_ical(data.text or "").walk("VEVENT"):
            titles.append(str(event.get("SUMMARY", "")))
    return sorted(titles)


class Google:
    """People looking at a Google room calendar, through the Google Calendar emulator."""

    def __init__(self, stack: LocalStack) -> None:
        google = stack.google
        self.url = google.api_url  # type: ignore[union-attr]
        self.session = requests.Session()
        self.session.verify = google.ca_path  # type: ignore[union-attr]
        self.session.trust_env = False
        token = google.issue_token(GOOGLE_SUBJECT)  # type: ignore[union-attr]
        self.session.headers["Authorization"] = f"Bearer {token}"

    def titles(self, calendar: str) -> list[str]:
        answer = self.session.get(f"{self.url}/calendars/{calendar}/events", params={
            "singleEvents": "true", "timeMin": (SOON - timedelta(days=1)).isoformat(),
            "timeMax": (SOON + timedelta(days=2)).isoformat()}, timeout=30)
        answer.raise_for_status()
        return [item.get("summary", "") for item in answer.json()["items"]
                if item.get("status") != "cancelled"]


def main() -> int:
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="calbridge-demo-") as folder:
        stack = LocalStack(ports=Ports.free(), persistent=False, function_key=KEY,
                           workdir=Path(folder))
        print("Starting Azurite, the example booking system, the Graph and Google Calendar "
              "emulators, a Radicale CalDAV server and the Functions host on 127.0.0.1 …")
        # The walkthrough triggers every sync itself, so the timers stay quiet.
        os.environ.setdefault("SYNC_SCHEDULE", "0 0 0 1 1 *")
        os.environ.setdefault("DELETION_SYNC_SCHEDULE", "0 0 0 1 1 *")
        stack.start()
        try:
            Walkthrough(stack).run()
        finally:
            stack.stop()
    print("\nDone. `make serve` keeps this stack running so you can try the API yourself.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
