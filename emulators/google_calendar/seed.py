"""The emulator's starting state: a project with one service account (domain-wide
delegation enabled), one OAuth client with refresh tokens, users, and calendars with who
can reach them.

Access is seeded, not computed: each calendar lists `access` as {principal: role}, where a
principal is a user's e-mail or the service account's e-mail (a token minted without a
subject acts as the service account). Roles are Google's `accessRole` values: `owner`,
`writer`, `reader`. A JSON seed file overlays the default (top-level keys replace).

Rooms are Workspace calendar resources: a calendar with a `resource` object (the Directory
API's CalendarResource fields) is listed by `resources.calendars.list` to users marked
`admin`; `listed: false` keeps it out of every calendar list (nobody subscribed to it).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

CALENDAR_SCOPE = "https://www.googleapis.com/auth/calendar"
ROOMS_SCOPE = "https://www.googleapis.com/auth/admin.directory.resource.calendar.readonly"
SERVICE_ACCOUNT = "calbridge-sync@calbridge-emulated.iam.gserviceaccount.com"

# Fixed, obviously fake identifiers so local configuration stays stable across restarts.
DEFAULT_SEED: dict[str, Any] = {
    "project_id": "calbridge-emulated",
    "domain": "example.org",
    "service_account": {
        "client_email": SERVICE_ACCOUNT,
        "client_id": "104857600000000000001",
        # Domain-wide delegation as a Workspace admin grants it: to these scopes only.
        "delegation": True,
        "delegated_scopes": [CALENDAR_SCOPE, "https://www.googleapis.com/auth/calendar.events",
                             ROOMS_SCOPE],
    },
    # The Workspace account's customer id (`my_customer` names it for its own users).
    "customer_id": "C0emu1ated",
    "oauth_client": {
        "client_id": "1048576000000-calbridge.apps.googleusercontent.com",
        "client_secret": "google-emulator-test-secret",
        # refresh token -> the user it was issued to
        "refresh_tokens": {"1//emulated-refresh-token-alex": "alex@example.org"},
    },
    "users": [
        # An administrator who may read calendar resources.
        {"email": "alex@example.org", "name": "Alex Wilber", "admin": True},
        {"email": "sam@example.org", "name": "Sam Rivera"},
    ],
    "calendars": [
        {"id": "alex@example.org", "summary": "alex@example.org", "timeZone": "Europe/Berlin",
         "access": {"alex@example.org": "owner"}},
        {"id": "sam@example.org", "summary": "sam@example.org", "timeZone": "America/New_York",
         "access": {"sam@example.org": "owner"}},
        {"id": SERVICE_ACCOUNT, "summary": SERVICE_ACCOUNT, "timeZone": "UTC",
         "access": {SERVICE_ACCOUNT: "owner"}},
        {"id": "room-a@rooms.example.org",
         "resource": {"resourceId": "1000000000001", "resourceName": "Conference Room A",
                      "generatedResourceName": "Main-1-Conference Room A (8)",
                      "resourceCategory": "CONFERENCE_ROOM", "capacity": 8,
                      "buildingId": "main", "floorName": "1"}, "summary": "Conference Room A",
         "description": "Main Building, 1st floor, 8 seats", "timeZone": "Europe/Berlin",
         "access": {"alex@example.org": "writer", SERVICE_ACCOUNT: "writer"}},
        {"id": "room-b@rooms.example.org",
         "resource": {"resourceId": "1000000000002", "resourceName": "Conference Room B",
                      "generatedResourceName": "Main-2-Conference Room B (12)",
                      "resourceCategory": "CONFERENCE_ROOM", "capacity": 12,
                      "buildingId": "main", "floorName": "2"}, "summary": "Conference Room B",
         "description": "Main Building, 2nd floor, 12 seats", "timeZone": "Europe/Berlin",
         "access": {"alex@example.org": "writer", SERVICE_ACCOUNT: "writer"}},
        {"id": "room-c@rooms.example.org",
         "resource": {"resourceId": "1000000000003", "resourceName": "Board Room C",
                      "generatedResourceName": "Annex-0-Board Room C (20)",
                      "resourceCategory": "CONFERENCE_ROOM", "capacity": 20,
                      "buildingId": "annex", "floorName": "0"}, "summary": "Board Room C",
         "description": "Annex, ground floor, 20 seats", "timeZone": "Europe/Berlin",
         "access": {"alex@example.org": "writer", "sam@example.org": "reader",
                    SERVICE_ACCOUNT: "writer"}},
        # A room nobody subscribed to: in no calendar list, found through the Directory.
        {"id": "room-d@rooms.example.org", "summary": "Studio D", "listed": False,
         "resource": {"resourceId": "1000000000004", "resourceName": "Studio D",
                      "generatedResourceName": "Annex-1-Studio D (4)",
                      "resourceCategory": "CONFERENCE_ROOM", "capacity": 4,
                      "buildingId": "annex", "floorName": "1"},
         "description": "Annex, 1st floor, 4 seats", "timeZone": "Europe/Berlin",
         "access": {"alex@example.org": "writer", SERVICE_ACCOUNT: "writer"}},
        # Equipment: a calendar resource that is not a room.
        {"id": "projector-1@rooms.example.org", "summary": "Projector 1", "listed": False,
         "resource": {"resourceId": "1000000000005", "resourceName": "Projector 1",
                      "resourceCategory": "OTHER", "resourceType": "Projector"},
         "timeZone": "Europe/Berlin",
         "access": {"alex@example.org": "writer", SERVICE_ACCOUNT: "writer"}},
    ],
}


def load_seed(path: str | Path | None) -> dict[str, Any]:
    """The default seed, overlaid with the JSON file at ``path`` when given."""
    seed = copy.deepcopy(DEFAULT_SEED)
    if path is None:
        return seed
    overlay = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(overlay, dict):
        raise ValueError("a seed file must hold a JSON object")
    seed.update(overlay)
    return seed
