"""The status page in a real browser, on a bridge in trouble: a mapping whose calendars
exist nowhere, and a mass deletion held after ten of twelve Outlook events were deleted,
one of them a booking titled with HTML. The operator logs in with the key, sees both,
confirms the hold through its confirm page, renews the room's push subscription, and the
API shows both done."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Browser

from calbridge.host.azurite import Azurite
from examples.booking_system import BookingSystemServer
from tests.fixtures.booking import BookingApi
from tests.fixtures.browser import ARTIFACTS
from tests.fixtures.graph import GraphClient
from tests.fixtures.host import FUNCTION_KEY
from tests.fixtures.two_bridges import (
    GUIDE_MAPPING,
    ROOM,
    book,
    booking_outage,
    graph_outage,
    outlook_events,
    start_bridge,
)

HTML_TITLE = "<script>window.__pwned=1</script><b>Gala night</b>"
BOOKED, KEPT = 12, ("Session 1", "Session 2")


def test_an_operator_confirms_a_held_mass_deletion_in_the_browser(
        azurite: Azurite, e2e_booking_system: BookingSystemServer, graph: GraphClient,
        bookings: BookingApi, chromium: Browser, tmp_path: Path) -> None:
    host, api = start_bridge(azurite, e2e_booking_system, graph, tmp_path, push=True)
    try:
        booking_outage(e2e_booking_system)
        graph_outage(graph)
        bad = api("POST", "/mappings/resources", json=GUIDE_MAPPING)
        assert bad.status_code == 201 and bad.json()["verified"] is False, bad.text
        book(bookings, HTML_TITLE)
        for n in range(1, BOOKED):
            book(bookings, f"Session {n}", hours=n)
        there = api("POST", "/bridges/sync/booking_system/outlook").json()["results"]
        assert there["created"] == BOOKED, there
        for event in outlook_events(graph):
            if event["subject"] not in KEPT:
                assert graph.delete(f"/users/{ROOM}/events/{event['id']}").status_code == 204
        back = api("POST", "/bridges/sync/outlook/booking_system").json()["results"]
        assert back["held"] == BOOKED - len(KEPT), back
        # Subscribed once the hold is there, so no notice of the deletions races the runs.
        subscribed = api("POST", "/webhook/create", json={"calendar_id": ROOM})
        assert subscribed.status_code == 201, subscribed.text

        context = chromium.new_context(viewport={"width": 390, "height": 844})  # a phone
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto(f"{host.url}/dashboard")
        page.fill("input[name=key]", FUNCTION_KEY)
        page.click("button:has-text('Log in')")
        page.wait_for_url(f"{host.url}/dashboard")

        [cookie] = context.cookies()
        assert (cookie["httpOnly"], cookie["sameSite"], cookie["path"]) == (
            True, "Strict", "/dashboard")
        assert FUNCTION_KEY not in cookie["value"]
        failing = page.locator(f"tr[data-mapping='{bad.json()['id']}']")
        assert "calendar missing" in failing.inner_text()
        held = page.locator(".attention", has_text="Held mass deletion")
        assert f"{BOOKED - len(KEPT)} of {BOOKED}" in held.inner_text()
        # The page names a few of the held events (which ones depends on the links' ids):
        # whichever they are, no script ran and no element was made of a title.
        assert len(held.locator("q").all_inner_texts()) == 5
        assert page.evaluate("typeof window.__pwned") == "undefined"
        assert page.locator("b", has_text="Gala night").count() == 0
        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / "dashboard.png"
        page.screenshot(path=str(shot), full_page=True)
        print(f"status page screenshot: {shot}")

        held.locator("a", has_text="Confirm").click()
        page.wait_for_url("**/confirm")
        # The confirm step lists every held event: the HTML title among them, as text.
        assert HTML_TITLE in page.locator("li").all_inner_texts()
        assert page.evaluate("typeof window.__pwned") == "undefined"
        assert page.locator("b", has_text="Gala night").count() == 0
        page.click(f"button:has-text('Delete {BOOKED - len(KEPT)} events')")
        page.wait_for_url(f"{host.url}/dashboard?done=hold-confirmed")
        assert "were carried out" in page.locator(".notice").inner_text()
        assert page.locator(".attention", has_text="Held mass deletion").count() == 0
        assert page.evaluate("typeof window.__pwned") == "undefined"

        subscription = page.locator("tr", has_text=ROOM).filter(has_text="min left")
        assert "healthy" in subscription.inner_text()
        subscription.locator("a", has_text="Renew").click()
        page.wait_for_url("**/renew")
        page.click("button:has-text('Renew now')")
        page.wait_for_url(f"{host.url}/dashboard?done=subscription-renewed")
        context.close()

        assert api("GET", "/bridge/holds").json()["count"] == 0
        [decided] = api("GET", "/bridge/holds", params={"status": "all"}).json()["holds"]
        assert decided["status"] == "confirmed"
        assert len(bookings.list_all(resource_id="room_101", active="true")) == len(KEPT)
        [renewed] = api("GET", "/webhook/subscriptions").json()["subscriptions"]
        assert renewed["renewed_at"] is not None
    finally:
        host.stop()
