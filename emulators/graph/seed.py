"""The emulator's starting state: tenant, registered app, mailboxes (rooms and users).

A JSON seed file has the same shape as ``DEFAULT_SEED``; keys it leaves out keep their
defaults. Each mailbox may carry ``events`` (Graph event JSON) created on every reset.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

# Fixed, obviously fake identifiers so local configuration stays stable across restarts.
DEFAULT_SEED: dict[str, Any] = {
    "tenant_id": "5e3c7b1a-4f2d-4c8e-9a61-2b7d0c9e4f10",
    "tenant_domain": "example.org",
    "app": {
        "client_id": "3f1d2c4b-7a8e-4b6f-9c0d-1e2f3a4b5c6d",
        "client_secret": "graph-emulator-test-secret",
        "display_name": "calbridge (emulated app registration)",
    },
    "mailboxes": [
        {
            "kind": "room",
            "id": "a1c3e5f7-0b2d-4f6a-8c1e-3a5b7c9d1e01",
            "placeId": "b2d4f6a8-1c3e-4a7b-9d2f-4b6c8d0e2f01",
            "userPrincipalName": "room-a@rooms.example.org",
            "displayName": "Conference Room A",
            "capacity": 8,
            "building": "Main Building",
            "floorNumber": 1,
            "floorLabel": "1st floor",
            "isWheelChairAccessible": True,
            "tags": ["display", "whiteboard"],
        },
        {
            "kind": "room",
            "id": "a1c3e5f7-0b2d-4f6a-8c1e-3a5b7c9d1e02",
            "placeId": "b2d4f6a8-1c3e-4a7b-9d2f-4b6c8d0e2f02",
            "userPrincipalName": "room-b@rooms.example.org",
            "displayName": "Conference Room B",
            "capacity": 12,
            "building": "Main Building",
            "floorNumber": 2,
            "floorLabel": "2nd floor",
            "isWheelChairAccessible": True,
            "tags": ["video conference"],
        },
        {
            "kind": "room",
            "id": "a1c3e5f7-0b2d-4f6a-8c1e-3a5b7c9d1e03",
            "placeId": "b2d4f6a8-1c3e-4a7b-9d2f-4b6c8d0e2f03",
            "userPrincipalName": "room-c@rooms.example.org",
            "displayName": "Board Room C",
            "capacity": 20,
            "building": "Annex",
            "floorNumber": 0,
            "floorLabel": "Ground floor",
            "isWheelChairAccessible": False,
            "tags": ["projector"],
        },
        {
            "kind": "user",
            "id": "c3e5a7b9-2d4f-4b8c-8e3a-5c7d9e1f3a01",
            "userPrincipalName": "alex@example.org",
            "displayName": "Alex Wilber",
            "givenName": "Alex",
            "surname": "Wilber",
            "jobTitle": "Office Manager",
        },
    ],
}


# The mailboxes the usage guide's examples name, as written there: its resource mapping
# (`conference-room-a@company.com`, "Conference Room A", whose id its bridge example
# writes as `room-calendar-id`) and its webhook subscription (`room1@company.com`).
# `make serve` and `make demo` add them beside the default ones; tests keep the default.
GUIDE_MAILBOXES: list[dict[str, Any]] = [
    {
        "kind": "room",
        "id": "room-calendar-id",
        "placeId": "b2d4f6a8-1c3e-4a7b-9d2f-4b6c8d0e2f11",
        "userPrincipalName": "conference-room-a@company.com",
        "displayName": "Conference Room A",
        "capacity": 10,
        "building": "Headquarters",
        "floorNumber": 1,
        "floorLabel": "1st floor",
        "isWheelChairAccessible": True,
        "tags": ["display"],
    },
    {
        "kind": "room",
        "id": "a1c3e5f7-0b2d-4f6a-8c1e-3a5b7c9d1e12",
        "placeId": "b2d4f6a8-1c3e-4a7b-9d2f-4b6c8d0e2f12",
        "userPrincipalName": "room1@company.com",
        "displayName": "Room 1",
        "capacity": 6,
        "building": "Headquarters",
        "floorNumber": 2,
        "floorLabel": "2nd floor",
        "isWheelChairAccessible": True,
        "tags": [],
    },
]


def with_guide_examples(seed: dict[str, Any]) -> dict[str, Any]:
    """``seed`` plus the usage guide's example mailboxes (those it lacks)."""
    result = copy.deepcopy(seed)
    known = {m["userPrincipalName"].lower() for m in result.get("mailboxes", [])}
    result["mailboxes"] = [*result.get("mailboxes", []),
                           *(copy.deepcopy(m) for m in GUIDE_MAILBOXES
                             if m["userPrincipalName"].lower() not in known)]
    return result


def load_seed(path: str | Path | None) -> dict[str, Any]:
    """The default seed, overlaid with the JSON file at ``path`` when given."""
    seed = copy.deepcopy(DEFAULT_SEED)
    if path is None:
        return seed
    overlay = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(overlay, dict):
        raise ValueError("a seed file must hold a JSON object")
    for key, value in overlay.items():
        if key == "app" and isinstance(value, dict):
            seed["app"].update(value)
        else:
            seed[key] = value
    return seed
