"""`calbridge subscriptions list | create | renew`: push subscriptions with calendar
systems (`/bridges/subscriptions`, `/webhook/create`, `/webhook/renew/{id}`). Their
client state is a secret: the API never shows it and neither does this command."""

from __future__ import annotations

import argparse
import json
from typing import Any
from urllib.parse import quote

from calbridge.cli.api import BridgeApi, add_connection_options
from calbridge.cli.failures import EXIT_OK, CommandFailed, Unreachable, UsageError
from calbridge.cli.render import moment, table

SECRET_FIELDS = {"client_state", "clientState"}


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "subscriptions", help="list, create and renew push subscriptions",
        description="Push subscriptions make a calendar system notify calbridge of changes "
                    "(they need WEBHOOK_BASE_URL). The renewal timer keeps them alive; these "
                    "commands look and act now.")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    listing = actions.add_parser("list", help="list push subscriptions")
    add_connection_options(listing)
    listing.add_argument("--json", action="store_true", help="print the subscriptions as JSON")
    listing.set_defaults(run=list_subscriptions)

    creating = actions.add_parser(
        "create", help="subscribe a mapped calendar to change notifications",
        description="Subscribe a calendar of an active mapping to change notifications; a "
                    "live subscription for it is kept rather than doubled.")
    add_connection_options(creating)
    creating.add_argument("calendar_id", metavar="CALENDAR_ID",
                          help="the calendar's id (e.g. a room's address)")
    creating.add_argument("--bridge", default=None,
                          help="the bridge holding the calendar (default: the Outlook bridge)")
    creating.set_defaults(run=create_subscription)

    renewing = actions.add_parser("renew", help="extend subscriptions' lifetime now")
    add_connection_options(renewing)
    renewing.add_argument("subscription_id", metavar="SUBSCRIPTION_ID", nargs="?")
    renewing.add_argument("--all", action="store_true", help="renew every subscription")
    renewing.set_defaults(run=renew_subscriptions)


def list_subscriptions(args: argparse.Namespace) -> int:
    found = [_public(s) for s in
             BridgeApi.from_args(args).call("GET", "/bridges/subscriptions")
             .get("subscriptions", [])]
    if args.json:
        print(json.dumps(found, indent=2, sort_keys=True))
    elif found:
        print(subscriptions_table(found))
    else:
        print("no push subscriptions")
    return EXIT_OK


def create_subscription(args: argparse.Namespace) -> int:
    path = ("/webhook/create" if args.bridge is None
            else f"/bridges/{quote(args.bridge, safe='')}/subscriptions")
    answer = BridgeApi.from_args(args).call("POST", path, json={"calendar_id": args.calendar_id})
    subscription = answer.get("subscription") or {}
    print(f"{answer.get('message') or 'subscription'}: {subscription.get('id')} for "
          f"{subscription.get('bridge')}:{subscription.get('calendar_id')}, expires "
          f"{moment(subscription.get('expires_at'))} UTC")
    return EXIT_OK


def renew_subscriptions(args: argparse.Namespace) -> int:
    if args.all == (args.subscription_id is not None):
        raise UsageError("name one SUBSCRIPTION_ID, or --all")
    api = BridgeApi.from_args(args)
    wanted = ([s.get("id") for s in api.call("GET", "/bridges/subscriptions")
               .get("subscriptions", [])] if args.all else [args.subscription_id])
    failed = []
    for subscription_id in wanted:
        try:
            renewed = api.call("POST", f"/webhook/renew/{quote(str(subscription_id), safe='')}")
        except Unreachable:
            raise
        except CommandFailed as exc:
            if not args.all:
                raise
            failed.append(subscription_id)
            print(f"subscription {subscription_id} not renewed: {exc.message}")
            continue
        current = renewed.get("subscription") or {}
        # A system whose subscriptions cannot be extended renews by replacing them.
        replaced = (f" as {current.get('id')}" if current.get("id") not in (None, subscription_id)
                    else "")
        print(f"subscription {subscription_id} renewed{replaced}, expires "
              f"{moment(current.get('expires_at'))} UTC")
    if args.all and not wanted:
        print("no push subscriptions")
    if failed:
        raise CommandFailed(f"{len(failed)} of {len(wanted)} subscriptions not renewed")
    return EXIT_OK


def subscriptions_table(subscriptions: list[dict[str, Any]]) -> str:
    return table(
        ["ID", "BRIDGE", "CALENDAR", "STATUS", "EXPIRES (UTC)", "LAST ERROR"],
        [[s.get("id"), s.get("bridge"), s.get("calendar_id"), s.get("status"),
          moment(s.get("expires_at")), s.get("last_error")] for s in subscriptions])


def _public(subscription: dict[str, Any]) -> dict[str, Any]:
    """Whatever the API sends, the client state is not shown."""
    return {k: v for k, v in subscription.items() if k not in SECRET_FIELDS}
