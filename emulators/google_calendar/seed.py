"""The emulator's starting state: a project with one service account (domain-wide
delegation enabled), one OAuth client with refresh tokens, users, and calendars with who
can reach them.

Access is seeded, not computed: each calendar lists `access` as {principal: role}, where a
principal is a user's e-mail or the service account's e-mail (a token minted without a
subject acts as the service account). Roles are Google's `accessRole` values: `owner`,
`writer`, `reader`. A JSON seed file overlays the default (top-level keys replace).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

CALENDAR_SCOPE = "https://www.googleapis.com/auth/calendar"
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
        "delegated_scopes": [CALENDAR_SCOPE, "https://www.googleapis.com/auth/calendar.events"],
    },
    "oauth_client": {
        "client_id": "1048576000000-calbridge.apps.googleusercontent.com",
        "client_secret": "google-emulator-test-secret",
        # refresh token -> the user it was issued to
        "refresh_tokens": {"1//emulated-refresh-token-alex": "alex@example.org"},
    },
    "users": [
        {"email": "alex@example.org", "name": "Alex Wilber"},
        {"email": "sam@example.org", "name": "Sam Rivera"},
    ],
    "calendars": [
        {"id": "alex@example.org", "summary": "alex@example.org", "timeZone": "Europe/Berlin",
         "access": {"alex@example.org": "owner"}},
        {"id": "sam@example.org", "summary": "sam@example.org", "timeZone": "America/New_York",
         "access": {"sam@example.org": "owner"}},
        {"id": SERVICE_ACCOUNT, "summary": SERVICE_ACCOUNT, "timeZone": "UTC",
         "access": {SERVICE_ACCOUNT: "owner"}},
        {"id": "room-a@rooms.example.org", "summary": "Conference Room A",
         "description": "Main Building, 1st floor, 8 seats", "timeZone": "Europe/Berlin",
         "access": {"alex@example.org": "writer", SERVICE_ACCOUNT: "writer"}},
        {"id": "room-b@rooms.example.org", "summary": "Conference Room B",
         "description": "Main Building, 2nd floor, 12 seats", "timeZone": "Europe/Berlin",
         "access": {"alex@example.org": "writer", SERVICE_ACCOUNT: "writer"}},
        {"id": "room-c@rooms.example.org", "summary": "Board Room C",
         "description": "Annex, ground floor, 20 seats", "timeZone": "Europe/Berlin",
         "access": {"alex@example.org": "writer", "sam@example.org": "reader",
                    SERVICE_ACCOUNT: "writer"}},
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
