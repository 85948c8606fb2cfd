"""The local host with known secret values, driven through failing and working requests:
none of the secret values ends up in its log, in text or JSON format."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from calbridge.host.azurite import Azurite
from calbridge.store.clients import DEV_KEY
from emulators.graph import GraphEmulator
from examples.booking_system import BookingSystemServer
from tests.fixtures.host import E2E_BOOKING_KEY, FUNCTION_KEY, Api, HostProcess, host_env

OUTLOOK_SECRET = "refused-outlook-secret-" + uuid.uuid4().hex[:8]
WEBHOOK_SECRET = "booking-webhook-secret-" + uuid.uuid4().hex[:8]


def secrets() -> dict[str, str]:
    return {"CALBRIDGE_FUNCTION_KEY": FUNCTION_KEY, "BOOKING_SYSTEM_API_KEY": E2E_BOOKING_KEY,
            "BOOKING_SYSTEM_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "OUTLOOK_CLIENT_SECRET": OUTLOOK_SECRET, "storage account key": DEV_KEY}


def exercise(api: Api, url: str) -> None:
    """Requests that fail in every way the API knows, and a few that work."""
    wrong = Api(url, key="not-the-key")
    assert wrong("GET", "/mappings/resources").status_code == 401
    assert Api(url, key=None)("GET", "/bridges", params={"code": "wrong"}).status_code == 401
    assert api("GET", "/bridges", params={"code": FUNCTION_KEY}).status_code == 200
    assert api("POST", "/mappings/resources", data=b"{not json").status_code == 400
    assert api("POST", "/mappings/resources", json={"calendar_system": 5}).status_code == 422
    # Outlook refuses the client secret: 502, and warnings from the adapter and the API.
    calendars = api("GET", "/bridges/outlook/calendars")
    assert calendars.status_code == 502, calendars.text
    assert calendars.json()["error"]["code"] == "upstream_auth_failed"
    # A Host header holding a secret ends up in the logged route of a failed request.
    assert api("GET", "/bridges/outlook/calendars",
               headers={"Host": f"{FUNCTION_KEY}.example"}).status_code == 502
    report = api("GET", "/bridges/health").json()
    assert report["bridges"]["outlook"]["status"] == "unhealthy"
    created = api("POST", "/mappings/resources", json={
        "booking_system_resource_id": "room_101", "calendar_system": "outlook",
        "calendar_resource_id": "room-a@rooms.example.org"})
    assert created.status_code == 201, created.text
    api("POST", "/bridges/sync/booking_system/outlook")  # fails upstream; status may vary
    api("POST", "/bridges/webhook/booking_system", data=b'{"events": []}',
        headers={"X-Signature": "sha256=" + "0" * 64})


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_no_secret_reaches_the_host_log(azurite: Azurite,
                                         e2e_booking_system: BookingSystemServer,
                                         graph_emulator: GraphEmulator, tmp_path: Path,
                                         log_format: str) -> None:
    env = host_env(azurite, e2e_booking_system,
                   CALBRIDGE_BRIDGES="booking_system,outlook",
                   CALBRIDGE_TABLE_PREFIX="r" + uuid.uuid4().hex[:10],
                   CALBRIDGE_LOG_FORMAT=log_format,
                   BOOKING_SYSTEM_WEBHOOK_SECRET=WEBHOOK_SECRET,
                   OUTLOOK_TENANT_ID=graph_emulator.tenant_id,
                   OUTLOOK_CLIENT_ID=graph_emulator.client_id,
                   OUTLOOK_CLIENT_SECRET=OUTLOOK_SECRET,
                   OUTLOOK_AUTHORITY_HOST=graph_emulator.authority_host,
                   GRAPH_BASE_URL=graph_emulator.graph_url,
                   OUTLOOK_CA_BUNDLE=graph_emulator.ca_path)
    log_path = tmp_path / "host.log"
    host = HostProcess(env, log_path).start()
    try:
        exercise(Api(host.url), host.url)
    finally:
        host.stop()

    log = log_path.read_text()
    assert "request failed" in log and "***" in log, log  # the secret Host was masked
    for name, value in secrets().items():
        assert value not in log, f"{name} appears in the host log"
    if log_format == "json":
        entries = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
        failed = [e for e in entries if e["message"] == "request failed"]
        assert failed and all(e["code"] == "upstream_auth_failed" for e in failed)
        assert any(e.get("bridge") == "outlook" for e in entries)
