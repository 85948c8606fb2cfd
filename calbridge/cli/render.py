"""Plain-text tables for a terminal: aligned columns, `-` for nothing, times in UTC."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any


def cell(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Columns padded to their widest cell; the last column is not padded."""
    text_rows = [[cell(value) for value in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in text_rows)]) for i, h in enumerate(headers)]
    lines = []
    for row in [list(headers), *text_rows]:
        padded = [value.ljust(width) for value, width in zip(row, widths, strict=True)]
        lines.append("  ".join(padded).rstrip())
    return "\n".join(lines)


def moment(value: Any) -> str | None:
    """An ISO time from the API as `2025-06-03 09:00` UTC; anything else as it is."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC)
    return parsed.strftime("%Y-%m-%d %H:%M")


def span(start: Any, end: Any) -> str | None:
    """`2025-06-03 09:00-10:00` (UTC); the end's date only when it differs."""
    first, last = moment(start), moment(end)
    if first is None or last is None:
        return first or last
    if first[:10] == last[:10] and len(last) == 16:
        last = last[11:]
    return f"{first}-{last}"
