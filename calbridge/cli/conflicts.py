"""`calbridge conflicts list | resolve`: events changed on both sides under the `manual`
conflict policy (`/bridge/conflicts`), and choosing which side wins."""

from __future__ import annotations

import argparse
import json
from typing import Any
from urllib.parse import quote

from calbridge.cli import results
from calbridge.cli.api import BridgeApi, add_connection_options
from calbridge.cli.failures import EXIT_OK, CommandFailed
from calbridge.cli.render import span, table

PATH = "/bridge/conflicts"


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "conflicts", help="list and resolve sync conflicts",
        description="Events changed on both sides of a mapping whose conflict policy is "
                    "manual: nothing is written until an operator chooses the winner.")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    listing = actions.add_parser("list", help="list conflicts with both versions")
    add_connection_options(listing)
    listing.add_argument("--json", action="store_true", help="print the conflicts as JSON")
    listing.set_defaults(run=list_conflicts)

    resolving = actions.add_parser(
        "resolve", help="write the winning side's version over the other side",
        description="Write the winning side's current version over the other side (a "
                    "deleted or cancelled winner deletes the other side's copy).")
    add_connection_options(resolving)
    resolving.add_argument("link_id", metavar="LINK_ID", help="the conflict's link id")
    resolving.add_argument("--winner", required=True, choices=["a", "b", "booking", "calendar"],
                           help="the side whose version is kept")
    resolving.set_defaults(run=resolve_conflict)


def list_conflicts(args: argparse.Namespace) -> int:
    api = BridgeApi.from_args(args)
    conflicts = api.call("GET", PATH).get("conflicts", [])
    if args.json:
        print(json.dumps(conflicts, indent=2, sort_keys=True))
    elif conflicts:
        mappings = {m.get("id"): m for m in
                    api.call("GET", "/mappings/resources").get("mappings", [])}
        print(conflicts_table(conflicts, mappings))
    else:
        print("no conflicts")
    return EXIT_OK


def resolve_conflict(args: argparse.Namespace) -> int:
    answer = BridgeApi.from_args(args).call(
        "POST", f"{PATH}/{quote(args.link_id, safe='')}/resolve", json={"winner": args.winner})
    block = answer.get("results") or {}
    print(f"conflict {args.link_id} resolved, {args.winner} wins: "
          f"{results.counts_line(block)}")
    failed = [op for op in block.get("operations") or [] if op.get("status") == "failed"]
    if failed:
        raise CommandFailed(f"writing the winner failed: {failed[0].get('error')}")
    return EXIT_OK


def conflicts_table(conflicts: list[dict[str, Any]],
                    mappings: dict[str, dict[str, Any]]) -> str:
    rows = []
    for conflict in conflicts:
        versions = conflict.get("versions") or {}
        a, b = (_version(versions, end) for end in ("a", "b"))
        rows.append([conflict.get("id"), _mapping(conflict.get("resource_mapping_id"), mappings),
                     conflict.get("title"), *a, *b])
    return table(["LINK ID", "MAPPING", "TITLE", "A TITLE", "A TIME (UTC)",
                  "B TITLE", "B TIME (UTC)"], rows)


def _mapping(mapping_id: str | None, mappings: dict[str, dict[str, Any]]) -> str | None:
    mapping = mappings.get(mapping_id)
    if mapping is None:
        return mapping_id
    a, b = mapping.get("a") or {}, mapping.get("b") or {}
    return f"{a.get('calendar_id')} <-> {b.get('calendar_id')}"


def _version(versions: dict[str, Any], side: str) -> tuple[str | None, str | None]:
    """A side's title and time, or why there is none."""
    if side not in versions:
        return None, None
    version = versions[side]
    if version is None:
        return "(deleted)", None
    if "error" in version:
        return f"(unreadable: {version['error']})", None
    return version.get("title"), span(version.get("start"), version.get("end"))
