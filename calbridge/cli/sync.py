"""`calbridge sync SOURCE TARGET`: sync every active mapping between two bridges, one
booking resource at a time (`POST /bridges/sync/{source}/{target}` with
`resource_ids`), with progress on stderr and a summary at the end."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import quote

from calbridge.cli import results
from calbridge.cli.api import BridgeApi, add_connection_options
from calbridge.cli.failures import EXIT_OK, CommandFailed, Unreachable, UsageError
from calbridge.cli.progress import Progress
from calbridge.cli.render import table

# One resource's first sync can take minutes; Azure ends an HTTP call after 230 s anyway.
SYNC_TIMEOUT_SECONDS = 240.0
# A mapping's direction, and the side changes come from in a run (see services.sync.allowed).
FLOWS = {"both": {"a", "b"}, "a_to_b": {"a"}, "b_to_a": {"b"}}


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "sync", help="sync every active mapping between two bridges",
        description="Sync changes from SOURCE to TARGET for every active resource mapping "
                    "between the two bridges, one booking resource at a time, with progress "
                    "on stderr (on a terminal, or with --progress) and a summary at the end. "
                    "Exits 1 when an operation failed, is in conflict or was held.")
    parser.add_argument("source", metavar="SOURCE",
                        help="the bridge changes are read from (e.g. booking_system)")
    parser.add_argument("target", metavar="TARGET",
                        help="the bridge they are written to (e.g. outlook)")
    parser.add_argument("--from", dest="from_date", type=_day_or_time, metavar="DATE",
                        help="only events in a window from DATE (YYYY-MM-DD or an ISO time; "
                             "with --to). A window leaves change cursors where they are")
    parser.add_argument("--to", dest="to_date", type=_day_or_time, metavar="DATE",
                        help="the window's end (with --from)")
    parser.add_argument("--resource", dest="resources", action="extend", nargs="+",
                        metavar="ID", help="only these booking resource ids")
    parser.add_argument("--dry-run", action="store_true",
                        help="plan only: print the operations with their reasons, change nothing")
    parser.add_argument("--json", action="store_true",
                        help="print every resource's results block and the totals as JSON")
    parser.add_argument("--progress", action="store_true",
                        help="show progress on stderr even when it is not a terminal")
    add_connection_options(parser, timeout=SYNC_TIMEOUT_SECONDS)
    parser.set_defaults(run=sync_bridges)


@dataclass
class Run:
    """One resource's sync: the API's results block, or why the call failed."""

    resource_id: str
    results: dict[str, Any] | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"resource_id": self.resource_id, "results": self.results, "error": self.error}


def sync_bridges(args: argparse.Namespace) -> int:
    if args.source == args.target:
        raise UsageError("SOURCE and TARGET must be different bridges")
    window = _window(args.from_date, args.to_date)
    api = BridgeApi.from_args(args)
    _known_bridges(api, args.source, args.target)
    resources = _resources(api.call("GET", "/mappings/resources",
                                    params={"active": "true"}).get("mappings", []),
                           args.source, args.target, args.resources)
    progress = Progress(len(resources), sys.stderr, shown=args.progress or sys.stderr.isatty(),
                        live=sys.stderr.isatty())
    path = f"/bridges/sync/{quote(args.source, safe='')}/{quote(args.target, safe='')}"
    runs: list[Run] = []
    try:
        for resource_id in resources:
            progress.start(resource_id)
            run = _sync_one(api, path, resource_id, window, args.dry_run)
            runs.append(run)
            progress.done(resource_id, f"failed: {run.error}" if run.results is None
                          else results.counts_line(run.results))
    finally:
        progress.close()

    total = results.totals(run.results for run in runs if run.results is not None)
    failed_runs = sum(run.error is not None for run in runs)
    if args.json:
        print(json.dumps({"source": args.source, "target": args.target,
                          "dry_run": args.dry_run, "runs": [run.as_dict() for run in runs],
                          "totals": total}, indent=2, sort_keys=True))
    else:
        print(report(args.source, args.target, runs, total, args.dry_run))
    problems = [text for text in (f"{failed_runs} of {len(runs)} resources could not be synced"
                                  if failed_runs else None, results.trouble(total)) if text]
    if problems:
        raise CommandFailed("; ".join(problems))
    return EXIT_OK


def _sync_one(api: BridgeApi, path: str, resource_id: str, window: dict[str, str],
              dry_run: bool) -> Run:
    body = {"resource_ids": [resource_id], "dry_run": dry_run, **window}
    try:
        return Run(resource_id, results=api.call("POST", path, json=body).get("results") or {})
    except Unreachable:
        raise
    except CommandFailed as exc:  # one resource's failure must not stop the others
        return Run(resource_id, error=exc.message)


def _known_bridges(api: BridgeApi, *names: str) -> None:
    known = {b.get("name") for b in api.call("GET", "/bridges").get("bridges", [])}
    for name in names:
        if name not in known:
            raise UsageError(f"no bridge named {name!r} (bridges: "
                             f"{', '.join(sorted(str(k) for k in known)) or 'none'})")


def _resources(mappings: list[dict[str, Any]], source: str, target: str,
               wanted: list[str] | None) -> list[str]:
    """Calendar ids at the source end of active mappings that let changes flow
    source → target."""
    found: set[str] = set()
    for mapping in mappings:
        a, b = mapping.get("a") or {}, mapping.get("b") or {}
        flows = FLOWS.get(mapping.get("direction") or "both", set())
        if not mapping.get("active", True):
            continue
        if (a.get("bridge"), b.get("bridge")) == (source, target) and "a" in flows:
            found.add(str(a.get("calendar_id")))
        if (b.get("bridge"), a.get("bridge")) == (source, target) and "b" in flows:
            found.add(str(b.get("calendar_id")))
    if wanted is None:
        return sorted(found)
    missing = [resource for resource in wanted if resource not in found]
    if missing:
        raise CommandFailed(f"no active mapping syncs {', '.join(missing)} from {source} to "
                            f"{target} (see `calbridge mappings list`)")
    return list(dict.fromkeys(wanted))


def report(source: str, target: str, runs: list[Run], total: dict[str, Any],
           dry_run: bool) -> str:
    """The summary: counts per resource and in total, then what needs attention."""
    if not runs:
        return f"no active resource mappings sync from {source} to {target}"
    counts = results.DRY_RUN_COUNTS if dry_run else results.COUNTS
    headers = ["RESOURCE", *(name.upper() for name in counts)]
    if not dry_run:
        headers.append("SUCCESS")
    rows: list[list[Any]] = []
    for run in runs:
        block = run.results
        row = [run.resource_id, *(None if block is None else block.get(name, 0)
                                  for name in counts)]
        if not dry_run:
            row.append("failed" if block is None else block.get("success_rate"))
        rows.append(row)
    rows.append(["total", *(total[name] for name in counts)])
    if not dry_run:
        rows[-1].append(total["success_rate"])
    title = (f"dry run {source} -> {target}: nothing was changed" if dry_run
             else f"sync {source} -> {target}")
    sections = [f"{title}\n{table(headers, rows)}"]

    operations = [(run.resource_id, op) for run in runs if run.results is not None
                  for op in run.results.get("operations") or []]
    if dry_run:
        planned = [(label, op) for label, op in operations if op.get("status") == "planned"]
        sections.append("planned operations:\n" + results.operations_table(planned, "reason")
                        if planned else "no operations planned")
    failed = [(label, op) for label, op in operations if op.get("status") == "failed"]
    failed += [(run.resource_id, {"operation": "sync", "status": "failed", "error": run.error})
               for run in runs if run.error]
    if failed:
        sections.append("failed operations:\n" + results.operations_table(failed, "error"))
    omitted = sum(run.results.get("operations_omitted") or 0 for run in runs
                  if run.results is not None)
    if omitted:
        sections.append(f"{omitted} more operations not listed in the answer (every write "
                        "and failure is in the operations log: GET /bridge/completed)")
    if total["conflicts"]:
        sections.append(f"{total['conflicts']} in conflict, waiting for a decision: "
                        "calbridge conflicts list")
    if total["held"]:
        sections.append(f"{total['held']} deletions held for an operator: calbridge holds list")
    return "\n\n".join(sections)


def _day_or_time(text: str) -> str:
    try:
        if len(text) == 10:
            return date.fromisoformat(text).isoformat()
        return datetime.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date (YYYY-MM-DD) or an ISO time") from None


def _window(start: str | None, end: str | None) -> dict[str, str]:
    if start is None and end is None:
        return {}
    if start is None or end is None:
        raise UsageError("--from and --to go together")
    if _instant(end) <= _instant(start):
        raise UsageError("--to must be after --from")
    return {"from_date": start, "to_date": end}


def _instant(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
