"""Nothing is flattened on the way back: events born on either side keep what the other
side cannot carry (an HTML body, a Windows zone name, who booked them) through edits
made on the other side, and the guide's ids mean what the guide says."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from calbridge.bridges.outlook.convert import instant_from_graph, marker_expand
from tests.fixtures.booking import BookingApi
from tests.fixtures.graph import GraphClient
from tests.fixtures.host import Api
from tests.fixtures.two_bridges import DAY, RESOURCE, ROOM, book, stamp

HTML_BODY = ("<html><body><p><b>Agenda</b></p><ul><li>Budget</li><li>Roads</li></ul>"
             "<p>Coffee at <i>9:45</i></p></body></html>")


def sync(api: Api, source: str, target: str) -> dict[str, Any]:
    answer = api("POST", f"/bridges/sync/{source}/{target}")
    assert answer.status_code == 200, answer.text
    return answer.json()["results"]


def outlook_event(graph: GraphClient, event_id: str) -> dict[str, Any]:
    answer = graph.get(f"/users/{ROOM}/events/{event_id}", params={"$expand": marker_expand()},
                       headers={"Prefer": 'IdType="ImmutableId"'})
    assert answer.status_code == 200, answer.text
    return answer.json()


def invite_the_room(graph: GraphClient) -> dict[str, Any]:
    """Ann's meeting in the room's calendar, as Exchange keeps it: HTML body, a Windows
    zone, Ann as organizer."""
    day = DAY.date().isoformat()
    answer = graph.admin("POST", f"/users/{ROOM}/invitations", json={
        "subject": "Planning committee",
        "body": {"contentType": "html", "content": HTML_BODY},
        "start": {"dateTime": f"{day}T10:00:00", "timeZone": "W. Europe Standard Time"},
        "end": {"dateTime": f"{day}T11:30:00", "timeZone": "W. Europe Standard Time"},
        "location": {"displayName": "Conference Room A"},
        "organizer": {"name": "Ann Booker", "address": "ann.booker@example.org"}})
    assert answer.status_code == 201, answer.text
    return outlook_event(graph, answer.json()["id"])


def test_an_outlook_meeting_renamed_in_the_booking_system_keeps_its_body_and_zone(
        mapped_host: Api, bookings: BookingApi, graph: GraphClient) -> None:
    meeting = invite_the_room(graph)
    imported = sync(mapped_host, "outlook", "booking_system")
    assert imported["created"] == 1
    [booking] = bookings.list_all(resource_id=RESOURCE)
    # The guide's contract: the booking names the Outlook event it came from.
    assert (booking["source_system"], booking["external_id"]) == ("outlook", meeting["id"])
    assert booking["organizer"] == {"name": "Ann Booker", "email": "ann.booker@example.org"}
    assert "Budget" in booking["description"] and "<" not in booking["description"]
    [operation] = imported["operations"]
    assert (operation["external_id"], operation["internal_id"]) == (meeting["id"],
                                                                   str(booking["id"]))

    renamed = bookings.request("PUT", f"/api/events/{booking['id']}",
                               json={"title": "Planning committee (budget)"})
    assert renamed.status_code == 200, renamed.text
    back = sync(mapped_host, "booking_system", "outlook")
    assert back["updated"] == 1
    [operation] = [op for op in back["operations"] if op["status"] == "completed"]
    assert (operation["external_id"], operation["internal_id"]) == (meeting["id"],
                                                                   str(booking["id"]))
    after = outlook_event(graph, meeting["id"])
    assert after["subject"] == "Planning committee (budget)"
    assert after["body"] == meeting["body"]
    assert after["originalStartTimeZone"] == "W. Europe Standard Time"
    assert after["organizer"] == meeting["organizer"]

    # A new time is written in the meeting's own zone, under its own name.
    start = datetime.fromisoformat(booking["start_time"]) + timedelta(hours=1)
    end = datetime.fromisoformat(booking["end_time"]) + timedelta(hours=1)
    moved = bookings.request("PUT", f"/api/events/{booking['id']}", json={
        "start_time": start.isoformat(), "end_time": end.isoformat()})
    assert moved.status_code == 200, moved.text
    assert sync(mapped_host, "booking_system", "outlook")["updated"] == 1
    after = outlook_event(graph, meeting["id"])
    assert after["originalStartTimeZone"] == "W. Europe Standard Time"
    assert after["body"] == meeting["body"]
    assert instant_from_graph(after["start"]) == start
    assert start.astimezone(ZoneInfo("Europe/Berlin")).hour == 11

    assert sync(mapped_host, "outlook", "booking_system")["processed"] == 0
    assert sync(mapped_host, "booking_system", "outlook")["processed"] == 0


def test_the_booker_stays_the_organizer_through_an_outlook_edit(
        mapped_host: Api, bookings: BookingApi, graph: GraphClient) -> None:
    booking = bookings.create(resource_id=RESOURCE, title="Tenants' meeting",
                              start_time=stamp(0), end_time=stamp(1), timezone="Europe/Oslo",
                              organizer={"name": "Ann Booker", "email": "ann@example.org"})
    sync(mapped_host, "booking_system", "outlook")
    [link] = mapped_host("GET", "/bridge/completed").json()["completed"]
    copy = outlook_event(graph, link["external_id"])
    # Graph makes the room the organizer of what an app writes; the booker is kept too.
    assert copy["organizer"]["emailAddress"]["address"] == ROOM
    assert any(prop["value"] == "Ann Booker <ann@example.org>"
               for prop in copy["singleValueExtendedProperties"])

    edited = graph.patch(f"/users/{ROOM}/events/{copy['id']}",
                         json={"location": {"displayName": "Annex, room 3"}})
    assert edited.status_code == 200, edited.text
    assert sync(mapped_host, "outlook", "booking_system")["updated"] == 1
    stored = bookings.request("GET", f"/api/events/{booking['id']}").json()
    assert stored["location"] == "Annex, room 3"
    assert stored["organizer"] == {"name": "Ann Booker", "email": "ann@example.org"}
    assert stored["timezone"] == "Europe/Oslo"  # the calendar never carried it
    assert stored["title"] == "Tenants' meeting"


def test_a_conflict_decided_by_policy_is_counted_and_its_loser_listed(
        mapped_host: Api, bookings: BookingApi, graph: GraphClient) -> None:
    booking = book(bookings, "Choir")
    sync(mapped_host, "booking_system", "outlook")
    [copy] = graph.get(f"/users/{ROOM}/events",
                       headers={"Prefer": 'IdType="ImmutableId"'}).json()["value"]
    bookings.request("PUT", f"/api/events/{booking['id']}", json={"title": "Choir (booking)"})
    graph.patch(f"/users/{ROOM}/events/{copy['id']}", json={"subject": "Choir (Outlook)"})

    first = sync(mapped_host, "outlook", "booking_system")
    assert first["conflicts"] == 1
    resolved = mapped_host("GET", "/bridge/conflicts", params={"status": "resolved"}).json()
    [conflict] = resolved["conflicts"]
    assert conflict["conflict"]["winner"] == "a"  # origin_wins: the booking (end a) was first
    assert conflict["conflict"]["fields"]["title"] == {"kept": "Choir (booking)",
                                                       "lost": "Choir (Outlook)"}
    assert mapped_host("GET", "/bridge/conflicts").json()["count"] == 0  # none waiting
    sync(mapped_host, "booking_system", "outlook")
    assert outlook_event(graph, copy["id"])["subject"] == "Choir (booking)"
    assert mapped_host("GET", "/bridge/conflicts",
                       params={"status": "bogus"}).status_code == 422
