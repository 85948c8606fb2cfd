"""Field by field: which parts of an event changed since it was last synced, so an
update writes only those (sync rule 8) and a conflict is only the same field changed
on both sides. Pure functions over the canonical form of `fingerprint`."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from calbridge.model import Event, EventField, LinkEnd
from calbridge.sync.fingerprint import canonical, fingerprint

# Canonical keys each field is made of.
_KEYS: dict[EventField, tuple[str, ...]] = {
    EventField.TITLE: ("title",),
    EventField.DESCRIPTION: ("description",),
    EventField.WHEN: ("start", "end", "all_day"),
    EventField.LOCATION: ("location",),
    EventField.STATUS: ("status",),
    EventField.PRIVACY: ("privacy",),
    EventField.RECURRENCE: ("recurrence",),
}


def values(event: Event) -> dict[EventField, Any]:
    """Each field's canonical value (what a person would compare)."""
    form = canonical(event)
    return {field: (form[keys[0]] if len(keys) == 1 else {k: form[k] for k in keys})
            for field, keys in _KEYS.items()}


def _hash(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def field_hashes(event: Event) -> dict[str, str]:
    """A short hash of each field, as stored on an event link per side."""
    return {field.value: _hash(value) for field, value in values(event).items()}


def changed_since(event: Event, stored: dict[str, str] | None) -> frozenset[EventField] | None:
    """The fields of `event` that differ from the stored hashes; None when nothing was
    stored (a link older than field tracking)."""
    if stored is None:
        return None
    current = field_hashes(event)
    return frozenset(field for field in EventField if current[field.value] != stored.get(field))


def differing(a: Event, b: Event) -> frozenset[EventField]:
    """The fields whose canonical values differ between two events."""
    left, right = values(a), values(b)
    return frozenset(field for field in EventField if left[field] != right[field])


def merged_hashes(previous: dict[str, str] | None, written: Event,
                  sent: Iterable[EventField], owed: Iterable[EventField]) -> dict[str, str]:
    """The hashes to store for a side after only `sent` fields were written to it: those
    as they now are, the side's own changes still `owed` to the other side as they were
    last synced (so they still show as changes; unknown when nothing was stored), and
    the rest as they now are."""
    now = field_hashes(written)
    sent_names = {field.value for field in sent}
    owed_names = {field.value for field in owed} - sent_names
    return {name: ((previous or {}).get(name, "") if name in owed_names else value)
            for name, value in now.items()}


def describe(event: Event, fields: Iterable[EventField]) -> dict[str, Any]:
    """The canonical values of some fields, for a conflict's record."""
    every = values(event)
    return {field.value: every[field] for field in sorted(fields)}


def record(known: LinkEnd, event: Event) -> None:
    """What a link keeps of one end's event as calbridge last read or wrote it."""
    known.fingerprint, known.fields = fingerprint(event), field_hashes(event)
    known.etag, known.modified = event.etag, event.last_modified


def read_older(known: LinkEnd, event: Event) -> bool:
    """Whether `event` was read in an older state than calbridge recorded of it (`known`):
    a stale read, not a change."""
    return (known.modified is not None and event.last_modified is not None
            and event.last_modified < known.modified)
