"""A stable fingerprint of what an event means to a person, so a real change can be
told from an echo of what calbridge wrote itself (sync rule 2)."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, date, datetime

from calbridge.model import Event

# Bump when the canonical form changes: stored fingerprints then read as "changed" once.
VERSION = "1"
_SPACES = re.compile(r"[ \t\u00a0]+")


def normalise_text(text: str) -> str:
    """Line endings, trailing spaces and runs of blanks vary between systems; the words
    do not."""
    lines = (_SPACES.sub(" ", line).strip() for line in text.replace("\r\n", "\n")
             .replace("\r", "\n").split("\n"))
    return "\n".join(lines).strip()


def _instant(value: datetime | date) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(microsecond=0).isoformat()
    return value.isoformat()


def canonical(event: Event) -> dict[str, object]:
    """The fields that define an event across systems. Ids, etags, markers, the zone a
    system happens to display in, organizer and attendees (which systems rewrite) are
    left out."""
    recurrence = None
    if event.recurrence is not None:
        recurrence = {"rrule": ";".join(sorted(event.recurrence.rrule.upper().split(";"))),
                      "exdates": sorted(_instant(d) for d in event.recurrence.exdates)}
    return {
        "v": VERSION,
        "title": normalise_text(event.title),
        "description": normalise_text(event.description),
        "start": _instant(event.start),
        "end": _instant(event.end),
        "all_day": event.all_day,
        "location": normalise_text(event.location),
        "status": event.status.value,
        "privacy": event.privacy.value,
        "recurrence": recurrence,
    }


def fingerprint(event: Event) -> str:
    """Hex SHA-256 of the canonical form."""
    payload = json.dumps(canonical(event), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()
