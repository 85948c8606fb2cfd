"""`calbridge status`: bridge health, storage and link counts (`/bridges/health` and
`/bridge/stats`); exits 1 unless everything is healthy."""

from __future__ import annotations

import argparse
import json
from typing import Any

from calbridge.cli.api import BridgeApi, add_connection_options
from calbridge.cli.failures import EXIT_FAILED, EXIT_OK, CommandFailed
from calbridge.cli.render import table


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "status", help="health of the bridges, storage and sync state",
        description="Show every bridge's health, storage and event links by status. "
                    "Exits 0 when healthy, 1 when degraded or unhealthy.")
    add_connection_options(parser)
    parser.add_argument("--json", action="store_true",
                        help="print {\"health\": ..., \"stats\": ...} as JSON for scripts")
    parser.set_defaults(run=show_status)


def show_status(args: argparse.Namespace) -> int:
    api = BridgeApi.from_args(args)
    health = api.call("GET", "/bridges/health", accept=(503,))
    try:
        stats: dict[str, Any] | None = api.call("GET", "/bridge/stats").get("statistics")
        stats_error = None
    except CommandFailed as exc:  # storage down: health still says why
        stats, stats_error = None, exc.message
    if args.json:
        print(json.dumps({"health": health, "stats": stats}, indent=2, sort_keys=True))
    else:
        print(status_text(api.url, health, stats, stats_error))
    return EXIT_OK if health.get("status") == "healthy" else EXIT_FAILED


def status_text(url: str, health: dict[str, Any], stats: dict[str, Any] | None,
                stats_error: str | None = None) -> str:
    sections = [f"calbridge at {url}: {health.get('status', 'unknown')}"]

    bridges = health.get("bridges") or {}
    sections.append(table(
        ["BRIDGE", "STATUS", "LATENCY", "CALENDARS", "LAST SYNC", "ERROR"],
        [[name, b.get("status"), _ms(b.get("latency_ms")), b.get("calendars_available"),
          b.get("last_sync"), b.get("error")] for name, b in sorted(bridges.items())])
        if bridges else "no bridges configured")

    storage = health.get("storage") or {}
    sections.append(table(["STORAGE", "LATENCY", "ERROR"],
                          [[storage.get("status"), _ms(storage.get("latency_ms")),
                            storage.get("error")]]))

    resources = health.get("resource_mappings") or {}
    sections.append(f"resource mappings: {resources.get('total', 0)} "
                    f"({resources.get('active', 0)} active)")
    for problem in health.get("unsyncable_mappings") or []:
        sections[-1] += (f"\nnot syncing: mapping {problem.get('resource_mapping_id')} "
                         f"({problem.get('resource_id')} ↔ {problem.get('calendar_resource_id')})"
                         f": {problem.get('error')}")
    if health.get("holds"):
        sections[-1] += (f"\nmass deletions held for an operator: {health['holds']} "
                         "(GET /bridge/holds)")
    subscriptions = health.get("subscriptions")
    if isinstance(subscriptions, dict) and subscriptions:
        sections[-1] += "\npush subscriptions: " + ", ".join(
            f"{key} {value}" for key, value in subscriptions.items())

    if stats is not None:
        summary = stats.get("summary") or {}
        sections.append(table(["LINK STATUS", "COUNT"],
                              [*summary.items(), ["total", stats.get("total", 0)]]))
        operations = stats.get("operations") or {}
        if operations:
            sections.append(table(
                ["OPERATION", "RESULTS"],
                [[kind, ", ".join(f"{status} {count}" for status, count in sorted(by.items()))]
                 for kind, by in sorted(operations.items())]))
    elif stats_error:
        sections.append(f"statistics unavailable: {stats_error}")
    return "\n\n".join(sections)


def _ms(value: Any) -> str | None:
    return None if value is None else f"{value:.0f} ms"
