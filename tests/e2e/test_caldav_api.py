"""CalDAV through the API, as the usage guide's curl examples drive it: a booking resource
and an Outlook room each mapped to a calendar on a real Radicale or Xandikos server, with
another CalDAV client editing and deleting behind calbridge's back."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from icalendar import Calendar as ICalendar

from calbridge.bridges.caldav import dav
from calbridge.host.azurite import Azurite
from examples.booking_system import BookingSystemServer
from tests.fixtures.booking import BookingApi
from tests.fixtures.caldav_servers import CalDavServer
from tests.fixtures.graph import GraphClient, weekly_series
from tests.fixtures.host import E2E_BOOKING_KEY, Api, HostProcess, host_env
from tests.fixtures.two_bridges import RESOURCE, ROOM, outlook_settings

IMMUTABLE = {"Prefer": 'IdType="ImmutableId"'}


@pytest.fixture
def host(azurite: Azurite, e2e_booking_system: BookingSystemServer, graph: GraphClient,
         caldav_server: CalDavServer, tmp_path: Path) -> Iterator[Api]:
    """The local host with the booking system, Outlook (the Graph emulator) and CalDAV."""
    e2e_booking_system.reset()
    caldav = {k: v for k, v in caldav_server.env().items() if k.startswith("CALDAV_")}
    env = host_env(azurite, e2e_booking_system,
                   CALBRIDGE_BRIDGES="booking_system,outlook,caldav",
                   CALBRIDGE_TABLE_PREFIX="d" + uuid.uuid4().hex[:10],
                   **outlook_settings(graph.emulator), **caldav)
    process = HostProcess(env, tmp_path / "host.log").start()
    yield Api(process.url)
    process.stop()


@pytest.fixture
def bookings(e2e_booking_system: BookingSystemServer) -> Iterator[BookingApi]:
    api = BookingApi(e2e_booking_system.base_url, E2E_BOOKING_KEY)
    yield api
    api.close()


def map_ends(api: Api, a: tuple[str, str], b: tuple[str, str]) -> None:
    answer = api("POST", "/mappings/resources", json={
        "a": {"bridge": a[0], "calendar_id": a[1]}, "b": {"bridge": b[0], "calendar_id": b[1]}})
    assert answer.status_code == 201, answer.text
    assert answer.json()["verified"] is True


def poll(api: Api) -> dict[str, Any]:
    answer = api("POST", "/bridges/poll-changes")
    assert answer.status_code == 200, answer.text
    return answer.json()["results"]


def resources(server: CalDavServer, calendar: str) -> dict[str, tuple[str, ICalendar]]:
    """Every resource in the calendar with its etag, as another CalDAV client reads them."""
    session = server.session()
    listing = session.request(
        "PROPFIND", server.url.rstrip("/") + calendar, data=dav.propfind([dav.GETETAG]),
        headers={"Depth": "1", "Content-Type": dav.XML_TYPE}, timeout=15)
    found = {}
    for member in dav.parse_multistatus(listing.content, server.url).responses:
        if member.href.endswith("/"):
            continue
        name = dav.last_segment(member.href)
        body = session.get(server.url.rstrip("/") + calendar + name, timeout=15)
        found[name] = (body.headers["ETag"], ICalendar.from_ical(body.content))
    return found


def soon(hours: int = 0) -> datetime:
    return (datetime.now(UTC) + timedelta(days=3)).replace(
        hour=9, minute=0, second=0, microsecond=0) + timedelta(hours=hours)


def stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def live(bookings: BookingApi) -> list[dict[str, Any]]:
    return [b for b in bookings.list_all(resource_id=RESOURCE) if b.get("active") in (1, True)]


def test_a_booking_and_its_caldav_copy_follow_each_other_through_the_api(
        host: Api, bookings: BookingApi, caldav_server: CalDavServer) -> None:
    calendar = caldav_server.new_calendar()
    map_ends(host, ("booking_system", RESOURCE), ("caldav", calendar))
    bookings.create(resource_id=RESOURCE, title="Choir", start_time=stamp(soon()),
                    end_time=stamp(soon(1)))
    poll(host)
    [(name, (etag, copy))] = resources(caldav_server, calendar).items()
    [event] = copy.walk("VEVENT")
    assert (str(event["SUMMARY"]), event.decoded("DTSTART")) == ("Choir", soon())

    # Another CalDAV client retitles the copy: the booking follows, nothing echoes.
    event["SUMMARY"] = "Choir (altos only)"
    assert caldav_server.put(calendar, name, copy.to_ical().decode(),
                             headers={"If-Match": etag}).status_code in (201, 204)
    poll(host)
    assert [b["title"] for b in live(bookings)] == ["Choir (altos only)"]
    assert poll(host)["processed"] == 0
    assert len(resources(caldav_server, calendar)) == 1

    # And deletes it: the booking is cancelled.
    gone = caldav_server.session().delete(caldav_server.url.rstrip("/") + calendar + name,
                                          timeout=15)
    assert gone.status_code in (200, 204)
    poll(host)
    assert live(bookings) == []


def test_an_outlook_series_stays_one_caldav_series_through_the_api(
        host: Api, graph: GraphClient, caldav_server: CalDavServer) -> None:
    calendar = caldav_server.new_calendar()
    map_ends(host, ("outlook", ROOM), ("caldav", calendar))
    first = soon() + timedelta(days=(7 - soon().weekday()) % 7)  # a Monday, 09:00 UTC
    made = graph.post(f"/users/{ROOM}/events", headers=IMMUTABLE,
                      json=weekly_series(first))
    assert made.status_code == 201, made.text
    poll(host)
    [(name, (_, copy))] = resources(caldav_server, calendar).items()
    masters = [c for c in copy.walk("VEVENT") if "RECURRENCE-ID" not in c]
    assert len(masters) == 1 and "FREQ=WEEKLY" in masters[0]["RRULE"].to_ical().decode()
    assert masters[0]["DTSTART"].params["TZID"] == "Europe/Berlin"
    # No occurrence was changed on its own: none is written as an override.
    assert len(copy.walk("VEVENT")) == 1

    # The series retitled in Outlook: still one resource, one master, retitled.
    renamed = graph.patch(f"/users/{ROOM}/events/{made.json()['id']}", headers=IMMUTABLE,
                          json={"subject": "Weekly sync (new room)"})
    assert renamed.status_code == 200, renamed.text
    poll(host)
    after = resources(caldav_server, calendar)
    assert list(after) == [name]
    [master] = after[name][1].walk("VEVENT")  # still no override
    assert str(master["SUMMARY"]) == "Weekly sync (new room)"
    assert "FREQ=WEEKLY" in master["RRULE"].to_ical().decode()
