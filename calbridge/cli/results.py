"""The API's results block (sync runs, conflict and hold decisions) as the command line
shows it: counts in a line or a table, totals over several runs, and what went wrong."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from calbridge.cli.render import table

COUNTS = ("created", "updated", "deleted", "skipped", "errors", "conflicts", "queued", "held")
DRY_RUN_COUNTS = ("planned", "skipped")
SUMMED = ("processed", "successful", *COUNTS, "planned")
# Counts an operator has to act on: each makes a command exit 1.
TROUBLE = ("errors", "conflicts", "held")


def counts_line(results: dict[str, Any]) -> str:
    """`created 4, updated 1`: the counts that are not zero (skips are not news)."""
    shown = [f"{name} {results[name]}" for name in (*COUNTS, "planned")
             if name != "skipped" and results.get(name)]
    return ", ".join(shown) or "nothing to do"


def success_rate(successful: int, errors: int) -> str:
    """The share of attempted writes that succeeded, as the API states it."""
    attempted = successful + errors
    return f"{round(100 * successful / attempted) if attempted else 100}%"


def totals(blocks: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The counts of several results blocks added up, with their success rate."""
    summed = dict.fromkeys(SUMMED, 0)
    for block in blocks:
        for name in SUMMED:
            summed[name] += int(block.get(name) or 0)
    summed["success_rate"] = success_rate(summed["successful"], summed["errors"])
    return summed


def trouble(results: dict[str, Any]) -> str | None:
    """`1 failed, 2 conflicts`, or None when nothing needs an operator."""
    words = {"errors": "failed", "conflicts": "in conflict", "held": "held"}
    found = [f"{results[name]} {words[name]}" for name in TROUBLE if results.get(name)]
    return ", ".join(found) or None


def operations_table(rows: Sequence[tuple[str, dict[str, Any]]], last: str) -> str:
    """Operations, each beside the label it came from; `last` names the final column
    (`reason` or `error`)."""
    return table(["RESOURCE", "OPERATION", "STATUS", "TITLE", "SOURCE ID", last.upper()],
                 [[label, op.get("operation"), op.get("status"), op.get("title"),
                   op.get("external_id"), op.get(last)] for label, op in rows])
