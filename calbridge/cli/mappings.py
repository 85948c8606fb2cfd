"""`calbridge mappings list | add | remove`: resource mappings over `/mappings/resources`."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any
from urllib.parse import quote

from calbridge.cli.api import BridgeApi, add_connection_options
from calbridge.cli.failures import EXIT_OK
from calbridge.cli.render import table
from calbridge.model import ConflictPolicy, Direction

PATH = "/mappings/resources"


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("mappings", help="list, add and remove resource mappings",
                                 description="Resource mappings: which booking resource "
                                             "syncs with which calendar.")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    listing = actions.add_parser("list", help="list resource mappings")
    add_connection_options(listing)
    listing.add_argument("--json", action="store_true", help="print the mappings as JSON")
    listing.set_defaults(run=list_mappings)

    adding = actions.add_parser("add", help="map a booking resource to a calendar")
    add_connection_options(adding)
    adding.add_argument("resource_id", metavar="RESOURCE_ID",
                        help="the booking system's resource id")
    adding.add_argument("calendar_system", metavar="CALENDAR_SYSTEM",
                        help="the bridge that holds the calendar (e.g. outlook)")
    adding.add_argument("calendar_id", metavar="CALENDAR_ID",
                        help="the calendar's id in that system (e.g. a room's address)")
    adding.add_argument("--name", help="a readable name for the calendar")
    adding.add_argument("--inactive", action="store_true",
                        help="store the mapping without syncing it yet")
    adding.add_argument("--direction", default=Direction.BOTH.value,
                        choices=[*(d.value for d in Direction), "to_calendar", "from_calendar"],
                        help="a_to_b (to_calendar) runs from the booking resource only; "
                             "default: %(default)s")
    adding.add_argument("--conflict-policy", choices=[p.value for p in ConflictPolicy],
                        default=ConflictPolicy.ORIGIN_WINS.value, help="default: %(default)s")
    adding.set_defaults(run=add_mapping)

    removing = actions.add_parser("remove", help="remove a resource mapping")
    add_connection_options(removing)
    removing.add_argument("mapping_id", metavar="MAPPING_ID")
    removing.set_defaults(run=remove_mapping)


def list_mappings(args: argparse.Namespace) -> int:
    mappings = BridgeApi.from_args(args).call("GET", PATH).get("mappings", [])
    if args.json:
        print(json.dumps(mappings, indent=2, sort_keys=True))
    elif mappings:
        print(mappings_table(mappings))
    else:
        print("no resource mappings")
    return EXIT_OK


def add_mapping(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {
        "booking_system_resource_id": args.resource_id,
        "calendar_system": args.calendar_system,
        "calendar_resource_id": args.calendar_id,
        "active": not args.inactive,
        "sync_direction": Direction(args.direction).value,
        "conflict_policy": args.conflict_policy,
    }
    if args.name:
        body["calendar_resource_name"] = args.name
    created = BridgeApi.from_args(args).call("POST", PATH, json=body)
    mapping = created.get("mapping") or {}
    print(f"created mapping {created.get('id') or mapping.get('id')}: {args.resource_id} -> "
          f"{args.calendar_system}:{args.calendar_id}")
    if created.get("warning"):
        print(f"warning: {created['warning']}", file=sys.stderr)
    return EXIT_OK


def remove_mapping(args: argparse.Namespace) -> int:
    BridgeApi.from_args(args).call("DELETE", f"{PATH}/{quote(args.mapping_id, safe='')}")
    print(f"removed mapping {args.mapping_id}")
    return EXIT_OK


def mappings_table(mappings: list[dict[str, Any]]) -> str:
    return table(
        ["ID", "END A", "END B", "NAME", "ACTIVE", "DIRECTION", "POLICY"],
        [[m.get("id"), _end(m.get("a")), _end(m.get("b")), (m.get("b") or {}).get("name"),
          m.get("active"), m.get("direction"), m.get("conflict_policy")] for m in mappings])


def _end(end: dict[str, Any] | None) -> str | None:
    return f"{end.get('bridge')}:{end.get('calendar_id')}" if end else None
