"""`calbridge holds list | confirm | reject`: mass deletions the sync engine held back for
an operator (`/bridge/holds`)."""

from __future__ import annotations

import argparse
import json
from typing import Any
from urllib.parse import quote

from calbridge.cli import results
from calbridge.cli.api import BridgeApi, add_connection_options
from calbridge.cli.failures import EXIT_OK, CommandFailed
from calbridge.cli.render import moment, table

PATH = "/bridge/holds"


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "holds", help="list, confirm and reject held mass deletions",
        description="A run that would delete an unusual share of a calendar's events holds "
                    "those deletions until an operator confirms them (they are carried out) "
                    "or rejects them (the missing events are restored).")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    listing = actions.add_parser("list", help="list held deletions")
    add_connection_options(listing)
    listing.add_argument("--all", action="store_true",
                         help="also holds already confirmed or rejected")
    listing.add_argument("--json", action="store_true", help="print the holds as JSON")
    listing.set_defaults(run=list_holds)

    confirming = actions.add_parser(
        "confirm", help="carry out the held deletions",
        description="Carry out the held deletions; each is checked against its source first.")
    rejecting = actions.add_parser(
        "reject", help="drop the held deletions and restore the missing events",
        description="The deletions were a mistake: drop them and restore the missing events "
                    "on the side they disappeared from, from the copies on the other side.")
    for action, run in ((confirming, confirm_hold), (rejecting, reject_hold)):
        add_connection_options(action)
        action.add_argument("hold_id", metavar="HOLD_ID")
        action.set_defaults(run=run)


def list_holds(args: argparse.Namespace) -> int:
    params = {"status": "all"} if args.all else None
    holds = BridgeApi.from_args(args).call("GET", PATH, params=params).get("holds", [])
    if args.json:
        print(json.dumps(holds, indent=2, sort_keys=True))
    elif holds:
        print(holds_table(holds))
    else:
        print("no holds" if args.all else "no held deletions")
    return EXIT_OK


def confirm_hold(args: argparse.Namespace) -> int:
    return _decide(args, "confirm", "confirmed")


def reject_hold(args: argparse.Namespace) -> int:
    return _decide(args, "reject", "rejected, missing events restored")


def _decide(args: argparse.Namespace, action: str, done: str) -> int:
    answer = BridgeApi.from_args(args).call(
        "POST", f"{PATH}/{quote(args.hold_id, safe='')}/{action}")
    block = answer.get("results") or {}
    print(f"hold {args.hold_id} {done}: {results.counts_line(block)}")
    if block.get("errors"):
        failed = [op for op in block.get("operations") or [] if op.get("status") == "failed"]
        print(results.operations_table([("", op) for op in failed], "error"))
        raise CommandFailed(f"{block['errors']} operations failed")
    return EXIT_OK


def holds_table(holds: list[dict[str, Any]]) -> str:
    return table(
        ["HOLD ID", "MAPPING ID", "FROM", "DELETIONS", "OF", "STATUS", "HELD AT (UTC)", "REASON"],
        [[h.get("id"), h.get("mapping_id"), h.get("source"), len(h.get("link_ids") or []),
          h.get("active_links"), h.get("status"), moment(h.get("created_at")), h.get("reason")]
         for h in holds])
