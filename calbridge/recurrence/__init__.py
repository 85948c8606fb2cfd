"""Recurring series as pure functions: RRULE ⇄ Microsoft Graph `patternedRecurrence`,
and expansion into occurrences. No I/O; adapters and the engine build on these.

- `pattern_to_rrule(recurrence, start, zone) -> str`: Graph's JSON → an RRULE value.
- `rrule_to_pattern(rrule, start, zone) -> dict`: an RRULE → the JSON to POST to Graph;
  raises `Inexpressible` (its `.reason` a short sentence) for a rule Outlook cannot
  carry exactly, so callers can fall back to single occurrences.
- `expand(rrule, start, end, zone, exdates, window_start, window_end, all_day)`: the
  `Occurrence(start, end)`s overlapping a window, on the series' wall clock; raises
  `TooManyOccurrences` past `MAX_OCCURRENCES`.
- `Rule`: an RRULE parsed into its parts (`Rule.parse(text)`, `rule.text()`).

Malformed input raises `ValidationFailed`; every error is from `calbridge.errors`.
"""

from __future__ import annotations

from calbridge.errors import Inexpressible, TooManyOccurrences
from calbridge.recurrence.expand import MAX_OCCURRENCES, Occurrence, expand
from calbridge.recurrence.graph import pattern_to_rrule, rrule_to_pattern
from calbridge.recurrence.rule import Rule

__all__ = [
    "MAX_OCCURRENCES",
    "Inexpressible",
    "Occurrence",
    "Rule",
    "TooManyOccurrences",
    "expand",
    "pattern_to_rrule",
    "rrule_to_pattern",
]
