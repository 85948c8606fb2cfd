"""The status page through the local host, as a browser or a script reaches it: who gets
in (the operator key once, then a session cookie; never the booking system's key), what
the cookie carries, that forms need their token and change nothing without it, and that
what comes from outside is shown as text."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from calbridge.config import Settings
from calbridge.host.azurite import Azurite
from calbridge.model import DeletionHold, End, HoldStatus
from calbridge.store import Storage
from examples.booking_system import BookingSystemServer
from tests.fixtures.booking import BookingApi
from tests.fixtures.host import E2E_BOOKING_KEY, FUNCTION_KEY, Api, HostProcess, host_env
from tests.fixtures.two_bridges import stamp

BOOKING_KEY = "dashboard-booking-system-key"
HTML_NAME = "<script>window.__pwned=1</script><b>Music room</b>"
HTML = {"Accept": "text/html"}


@dataclass
class Site:
    url: str
    api: Api
    storage: Storage
    mapping_id: str

    def get(self, path: str, **kwargs: object) -> requests.Response:
        return requests.get(self.url + path, allow_redirects=False, timeout=30,
                            **kwargs)  # type: ignore[arg-type]

    def post(self, path: str, **kwargs: object) -> requests.Response:
        return requests.post(self.url + path, allow_redirects=False, timeout=30,
                             **kwargs)  # type: ignore[arg-type]

    def logged_in(self) -> requests.Session:
        session = requests.Session()
        answer = session.post(self.url + "/dashboard/login", data={"key": FUNCTION_KEY},
                              allow_redirects=False, timeout=30)
        assert answer.status_code == 303, answer.text
        return session

    def hold(self) -> DeletionHold:
        """A mass deletion held on the mapping, as the guard stores one."""
        return self.storage.holds.add(DeletionHold(
            mapping_id=self.mapping_id, source=End.A, link_ids=[], active_links=12,
            reason="10 of 12 synced events would be deleted (83 %)"))

    def hold_status(self, hold_id: str) -> str:
        holds = self.api("GET", "/bridge/holds", params={"status": "all"}).json()["holds"]
        return next(h["status"] for h in holds if h["id"] == hold_id)


@pytest.fixture(scope="module")
def site(azurite: Azurite, e2e_booking_system: BookingSystemServer,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A host with an operator key and a booking system key, and two booking resources
    mapped, one end named with HTML."""
    e2e_booking_system.reset()  # bookings other modules left would be synced here too
    env = host_env(azurite, e2e_booking_system, CALBRIDGE_BOOKING_SYSTEM_KEY=BOOKING_KEY,
                   CALBRIDGE_TABLE_PREFIX="d" + uuid.uuid4().hex[:10])
    host = HostProcess(env, Path(tmp_path_factory.mktemp("dashboard")) / "host.log").start()
    try:
        api = Api(host.url)
        created = api("POST", "/mappings/resources", json={
            "a": {"bridge": "booking_system", "calendar_id": "room_101"},
            "b": {"bridge": "booking_system", "calendar_id": "room_102", "name": HTML_NAME}})
        assert created.status_code == 201, created.text
        storage = Storage(Settings.from_env(env))
        storage.ensure()
        yield Site(host.url, api, storage, created.json()["id"])
    finally:
        host.stop()


def form_token(page: str, action: str) -> str:
    """The token of the form posting to `action` on a page."""
    found = re.search(rf'<form[^>]*action="{re.escape(action)}">'
                      r'<input type="hidden" name="csrf" value="([^"]+)">', page)
    assert found, f"no form for {action}"
    return found.group(1)


def test_without_a_key_the_page_asks_for_one(site: Site) -> None:
    answer = site.get("/dashboard")
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "unauthorized"
    page = site.get("/dashboard", headers=HTML)
    assert page.status_code == 401 and page.headers["Content-Type"].startswith("text/html")
    assert 'action="/dashboard/login"' in page.text and 'name="key"' in page.text
    assert "Music room" not in page.text  # nothing of the bridge's state
    assert site.get("/dashboard", params={"code": "not-the-key"}).status_code == 401
    assert site.post("/dashboard/login", data={"key": "not-the-key"}).status_code == 401


def test_the_booking_system_key_does_not_open_it(site: Site) -> None:
    for answer in (site.get("/dashboard", headers={"x-functions-key": BOOKING_KEY}),
                   site.get("/dashboard", params={"code": BOOKING_KEY}),
                   site.post("/dashboard/login", data={"key": BOOKING_KEY}),
                   site.get("/dashboard/retry", headers={"x-functions-key": BOOKING_KEY})):
        assert answer.status_code == 403, answer.text
        assert answer.json()["error"]["code"] == "forbidden"
        assert "Set-Cookie" not in answer.headers and BOOKING_KEY not in answer.text


def test_a_key_in_the_address_becomes_a_session_cookie(site: Site) -> None:
    answer = site.get("/dashboard", params={"code": FUNCTION_KEY, "sort": "errors"})
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/dashboard?sort=errors"  # the key is gone
    cookie = answer.headers["Set-Cookie"]
    name, _, rest = cookie.partition("=")
    value = rest.split(";")[0]
    flags = {flag.strip() for flag in cookie.split(";")[1:]}
    assert name == "calbridge_dashboard" and value and FUNCTION_KEY not in cookie
    assert {"HttpOnly", "SameSite=Strict", "Path=/dashboard"} <= flags
    assert "Secure" not in flags  # plain http on loopback
    page = site.get("/dashboard", cookies={name: value})
    assert page.status_code == 200 and "calbridge status" in page.text

    # Behind https (as in Azure, whose front end says so) the cookie is Secure too.
    forwarded = site.get("/dashboard", headers={"x-functions-key": FUNCTION_KEY,
                                                "X-Forwarded-Proto": "https"})
    assert forwarded.status_code == 200
    assert "Secure" in {f.strip() for f in forwarded.headers["Set-Cookie"].split(";")}

    tampered = value[:-1] + ("0" if value[-1] != "0" else "1")
    assert site.get("/dashboard", cookies={name: tampered}).status_code == 401


def test_what_comes_from_outside_is_shown_as_text(site: Site) -> None:
    session = site.logged_in()
    page = session.get(site.url + "/dashboard", timeout=30)
    assert page.status_code == 200
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;&lt;b&gt;Music room&lt;/b&gt;" \
        in page.text
    assert "<script>window" not in page.text and "<b>Music room" not in page.text
    csp = page.headers["Content-Security-Policy"]
    nonce = re.search(r"script-src 'nonce-([^']+)'", csp).group(1)  # type: ignore[union-attr]
    assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    scripts = re.findall(r"<script[^>]*>", page.text)
    assert scripts == [f'<script nonce="{nonce}">']
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["Cache-Control"] == "no-store"


def test_an_action_needs_its_form_token_and_changes_nothing_without(site: Site) -> None:
    hold = site.hold()
    session = site.logged_in()
    action = f"/dashboard/holds/{hold.id}/confirm"
    confirm_page = session.get(site.url + action, timeout=30)
    assert confirm_page.status_code == 200 and "Delete 0 events" in confirm_page.text
    reject_token = form_token(session.get(site.url + f"/dashboard/holds/{hold.id}/reject",
                                          timeout=30).text, f"/dashboard/holds/{hold.id}/reject")
    for form in ({}, {"csrf": ""}, {"csrf": "0" * 64}, {"csrf": reject_token}):
        refused = session.post(site.url + action, data=form, allow_redirects=False, timeout=30)
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["code"] == "form_token_rejected"
    # A token of the session is no use without the session.
    token = form_token(confirm_page.text, action)
    assert site.post(action, data={"csrf": token}).status_code == 401
    assert site.hold_status(hold.id) == HoldStatus.HELD.value

    done = session.post(site.url + action, data={"csrf": token}, allow_redirects=False,
                        timeout=30)
    assert done.status_code == 303 and done.headers["Location"] == "/dashboard?done=hold-confirmed"
    assert site.hold_status(hold.id) == HoldStatus.CONFIRMED.value
    again = session.post(site.url + action, data={"csrf": token}, allow_redirects=False,
                         timeout=30)
    assert again.status_code == 409  # decided already
    assert session.get(site.url + action, timeout=30).status_code == 409


def test_bad_input_is_a_clear_error(site: Site) -> None:
    session = site.logged_in()
    sort = session.get(site.url + "/dashboard", params={"sort": "nonsense"}, timeout=30)
    assert sort.status_code == 422 and sort.json()["error"]["details"]["fields"][0][
        "field"] == "sort"
    as_json = session.post(site.url + "/dashboard/retry", json={"csrf": "x"}, timeout=30)
    assert as_json.status_code == 400
    unknown = session.get(site.url + "/dashboard/conflicts/nothing-here", timeout=30)
    assert unknown.status_code == 404


def test_logging_out_ends_the_session(site: Site) -> None:
    session = site.logged_in()
    page = session.get(site.url + "/dashboard", timeout=30).text
    out = session.post(site.url + "/dashboard/logout",
                       data={"csrf": form_token(page, "/dashboard/logout")},
                       allow_redirects=False, timeout=30)
    assert out.status_code == 303 and "Max-Age=0" in out.headers["Set-Cookie"]
    assert session.get(site.url + "/dashboard", timeout=30).status_code == 401


def test_a_conflict_is_shown_field_by_field_and_resolved_by_choosing_a_side(
        site: Site, e2e_booking_system: BookingSystemServer) -> None:
    bookings = BookingApi(e2e_booking_system.base_url, E2E_BOOKING_KEY)
    policy = site.api("PUT", f"/mappings/resources/{site.mapping_id}",
                      json={"conflict_policy": "manual"})
    assert policy.status_code == 200, policy.text
    original = bookings.create(resource_id="room_101", title="Choir practice",
                               start_time=stamp(24), end_time=stamp(26))
    assert site.api("POST", "/bridges/sync/booking_system/booking_system").status_code == 200
    [copy] = [b for b in bookings.list_all(resource_id="room_102")
              if b["title"] == "Choir practice"]
    for booking, title in ((original, "Choir practice (moved)"), (copy, HTML_NAME)):
        edited = bookings.request("PUT", f"/api/events/{booking['id']}", json={"title": title})
        assert edited.status_code == 200, edited.text
    synced = site.api("POST", "/bridges/sync/booking_system/booking_system").json()
    assert synced["results"]["conflicts"] >= 1, synced
    [conflict] = site.api("GET", "/bridge/conflicts").json()["conflicts"]

    session = site.logged_in()
    listed = session.get(site.url + "/dashboard", timeout=30).text
    action = f"/dashboard/conflicts/{conflict['id']}"
    assert f'href="{action}"' in listed
    page = session.get(site.url + action, timeout=30).text
    title_row = re.search(r'<tr class="diff"><th>title</th><td>(.*?)</td><td>(.*?)</td>', page)
    assert title_row and title_row.groups() == ("Choir practice (moved)",
                                                html.escape(HTML_NAME, quote=True))
    assert "<script>window" not in page
    token = form_token(page, action)
    refused = session.post(site.url + action, data={"winner": "a"}, allow_redirects=False,
                           timeout=30)
    assert refused.status_code == 403
    assert site.api("GET", "/bridge/conflicts").json()["count"] == 1
    wrong = session.post(site.url + action, data={"csrf": token, "winner": "c"},
                         allow_redirects=False, timeout=30)
    assert wrong.status_code == 422

    done = session.post(site.url + action, data={"csrf": token, "winner": "a"},
                        allow_redirects=False, timeout=30)
    assert done.status_code == 303, done.text
    assert site.api("GET", "/bridge/conflicts").json()["count"] == 0
    assert bookings.request("GET", f"/api/events/{copy['id']}").json()["title"] == \
        "Choir practice (moved)"
    bookings.close()


def test_failed_items_are_retried_after_a_confirm_step(site: Site) -> None:
    session = site.logged_in()
    page = session.get(site.url + "/dashboard/retry", timeout=30)
    assert page.status_code == 200 and "pending or failed" in page.text
    done = session.post(site.url + "/dashboard/retry",
                        data={"csrf": form_token(page.text, "/dashboard/retry")},
                        allow_redirects=False, timeout=30)
    assert done.status_code == 303 and done.headers["Location"] == "/dashboard?done=retried"
    shown = session.get(site.url + done.headers["Location"], timeout=30).text
    assert "Pending and failed items were retried." in shown


def test_a_local_host_without_a_key_leaves_the_page_open_as_its_other_routes(
        azurite: Azurite, e2e_booking_system: BookingSystemServer, tmp_path: Path) -> None:
    env = host_env(azurite, e2e_booking_system, CALBRIDGE_FUNCTION_KEY="",
                   CALBRIDGE_BOOKING_SYSTEM_KEY=BOOKING_KEY,
                   CALBRIDGE_TABLE_PREFIX="o" + uuid.uuid4().hex[:10])
    host = HostProcess(env, tmp_path / "host.log").start()
    try:
        assert requests.get(host.url + "/bridges", timeout=30).status_code == 200
        page = requests.get(host.url + "/dashboard", timeout=30)
        assert page.status_code == 200 and "calbridge status" in page.text
        assert "Set-Cookie" not in page.headers and "Log out" not in page.text
        refused = requests.get(host.url + "/dashboard", timeout=30,
                               headers={"x-functions-key": BOOKING_KEY})
        assert refused.status_code == 403
        # Forms still need the page's token: another site cannot post them.
        assert requests.post(host.url + "/dashboard/retry", timeout=30).status_code == 403
        token = form_token(requests.get(host.url + "/dashboard/retry", timeout=30).text,
                           "/dashboard/retry")
        done = requests.post(host.url + "/dashboard/retry", data={"csrf": token},
                             allow_redirects=False, timeout=30)
        assert done.status_code == 303
    finally:
        host.stop()
