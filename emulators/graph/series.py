"""Recurring series: occurrence ids, instances in a window, exceptions, cancellations, and
what a delta round reports for a series.

A series is one stored master (`EventRecord` with a `recurrence`); its occurrences are never
stored. An occurrence is rendered from the master (every property but `recurrence`, the
master's extended properties included, `type` "occurrence", `seriesMasterId`,
`originalStart` in UTC, the master's `originalStartTimeZone`). A PATCH of an occurrence
stores an exception in the master (only the properties that now differ, plus its own
start/end and changeKey): `type` "exception", the rest still the master's. A DELETE (or
`cancel`) of an occurrence records its original date as cancelled: it is gone from
calendarView and instances, `GET` answers 404, delta reports it `@removed`.

Ids. Exchange builds an occurrence's item id from its master's id and the occurrence's
original start date, so the same occurrence always has the same id (and an exception keeps
it). The emulator does the same: the master id's bytes, marked as an occurrence, plus the
original local date; the immutable id is built the same way from the master's immutable id.
`iCalUId` differs per occurrence (Graph: "This ID is different for each occurrence in a
recurring series"), as Exchange's GlobalObjectId does: the date goes in bytes 16-19.

Changing a master's start, end, all-day flag or recurrence regenerates the series and drops
its exceptions and cancellations, as Outlook does ("Any exceptions associated with this
recurring appointment will be cancelled"). Changing anything else shows in every occurrence;
exceptions keep the properties they overrode.
"""

from __future__ import annotations

import base64
import binascii
import copy
import datetime as dt
import hashlib
import struct
from typing import Any
from zoneinfo import ZoneInfo

from . import recurrence as patterns
from .api import GraphError, iso_utc, not_found, parse_iso
from .events import apply_payload, local_start_date, overlaps, shift_to
from .store import EventRecord, Mailbox, Store, new_change_key
from .timezones import resolve_zone

ID_PREFIX_LENGTH = 6  # "AAMkAD" (REST ids) or "AAkALg" (immutable ids)
OCCURRENCE_MARK = b"\x00\x01"
MASTER_MARK = b"\x00\x00"
TIMING = ("start", "end", "isAllDay", "recurrence", "_allDayStart", "_allDayEnd",
          "originalStartTimeZone", "originalEndTimeZone")
MAX_HISTORY = 20  # timings kept per series for delta's removals (older tokens over-report)


# ids ---------------------------------------------------------------------------------------


def occurrence_id(master_id: str, day: dt.date) -> str:
    """The id of the series' occurrence originally on ``day`` (stable, opaque)."""
    raw = base64.urlsafe_b64decode(master_id[ID_PREFIX_LENGTH:])
    body = OCCURRENCE_MARK + raw[len(MASTER_MARK):] + struct.pack(
        ">HBB", day.year, day.month, day.day)
    return master_id[:ID_PREFIX_LENGTH] + base64.urlsafe_b64encode(body).decode()


def parse_occurrence_id(event_id: str) -> tuple[str, dt.date] | None:
    """(master id, original date) for an occurrence id; None for any other id."""
    try:
        raw = base64.urlsafe_b64decode(event_id[ID_PREFIX_LENGTH:])
    except (binascii.Error, ValueError):
        return None
    if len(raw) < 6 or raw[:2] != OCCURRENCE_MARK:
        return None
    try:
        day = dt.date(*struct.unpack(">HBB", raw[-4:]))
    except ValueError:
        return None
    master = base64.urlsafe_b64encode(MASTER_MARK + raw[2:-4]).decode()
    return event_id[:ID_PREFIX_LENGTH] + master, day


def _instance_uid(master_uid: str, day: dt.date) -> str:
    return f"{master_uid[:32]}{day.year:04X}{day.month:02X}{day.day:02X}{master_uid[40:]}"


def _occurrence_change_key(master: EventRecord) -> str:
    # Occurrences carry the series' version: it changes exactly when every occurrence does.
    digest = hashlib.sha256(f"{master.immutable_id}/{master.series_seq}".encode()).digest()
    return base64.b64encode(digest[:15]).decode()


# one instance ------------------------------------------------------------------------------


def _start_zone(master: EventRecord) -> ZoneInfo:
    return resolve_zone(master.fields.get("originalStartTimeZone") or "UTC")


def occurrence(master: EventRecord, day: dt.date) -> EventRecord:
    """The occurrence of ``master`` originally on ``day``, as Graph renders it (a view: it is
    never stored)."""
    fields = {k: copy.deepcopy(v) for k, v in master.fields.items() if k != "recurrence"}
    view = EventRecord(
        id=occurrence_id(master.id, day), immutable_id=occurrence_id(master.immutable_id, day),
        mailbox_id=master.mailbox_id, calendar_id=master.calendar_id, fields=fields,
        start=master.start, end=master.end, created=master.created, modified=master.modified,
        change_key=_occurrence_change_key(master),
        ical_uid=_instance_uid(master.ical_uid, day), ext_props=dict(master.ext_props),
        seq=master.series_seq, created_seq=master.created_seq, deleted=master.deleted)
    shift_to(view, day)
    fields["_instance"] = {"type": "occurrence", "masterId": master.id,
                           "masterImmutableId": master.immutable_id,
                           "originalStart": view.start.strftime("%Y-%m-%dT%H:%M:%SZ")}
    return view


def instance(master: EventRecord, day: dt.date) -> EventRecord:
    """The occurrence originally on ``day`` with its exception applied, if it has one."""
    view = occurrence(master, day)
    exception = master.exceptions.get(day.isoformat())
    if exception is None:
        return view
    view.fields.update(copy.deepcopy(exception["overrides"]))
    view.fields["_instance"]["type"] = "exception"
    view.ext_props.update(exception["ext_props"])
    view.start, view.end = parse_iso(exception["start"]), parse_iso(exception["end"])
    view.change_key = exception["change_key"]
    view.modified = parse_iso(exception["modified"])
    view.seq = max(master.series_seq, exception["seq"])
    return view


def _window_dates(master: EventRecord, start: dt.datetime, end: dt.datetime
                  ) -> tuple[dt.date, dt.date]:
    zone = _start_zone(master)
    length = master.end - master.start
    # a day either side: all-day occurrences are floating dates, compared in any zone
    since = (start - length).astimezone(zone).date() - dt.timedelta(days=1)
    return since, end.astimezone(zone).date() + dt.timedelta(days=1)


def instances(record: EventRecord, start: dt.datetime, end: dt.datetime) -> list[EventRecord]:
    """What calendarView shows of ``record`` in [start, end): a single instance itself, a
    series' occurrences and exceptions (never the master), by start."""
    if not record.is_series:
        return [record] if overlaps(record, start, end) else []
    found = []
    since, until = _window_dates(record, start, end)
    for day in patterns.occurrence_dates(record.fields["recurrence"], since, until):
        key = day.isoformat()
        if key in record.cancelled or key in record.exceptions:
            continue
        view = occurrence(record, day)
        if overlaps(view, start, end):
            found.append(view)
    for key in record.exceptions:  # a moved exception may sit anywhere between neighbours
        view = instance(record, dt.date.fromisoformat(key))
        if overlaps(view, start, end):
            found.append(view)
    return sorted(found, key=lambda v: (v.start, v.fields["_instance"]["originalStart"]))


def find(store: Store, mailbox: Mailbox, event_id: str) -> tuple[EventRecord, dt.date | None]:
    """The stored event an id names and, for an occurrence or exception, its original date;
    Graph's 404 for unknown ids and cancelled occurrences."""
    parsed = parse_occurrence_id(event_id)
    if parsed is None:
        return store.event(mailbox, event_id), None
    master_id, day = parsed
    master = store.event(mailbox, master_id)
    key = day.isoformat()
    if not master.is_series or key in master.cancelled or (
        key not in master.exceptions and not patterns.is_occurrence(
            master.fields["recurrence"], day)):
        raise not_found()
    return master, day


def view(store: Store, mailbox: Mailbox, event_id: str) -> EventRecord:
    """What `GET …/events/{id}` shows: the event, or the occurrence/exception an id names."""
    record, day = find(store, mailbox, event_id)
    return record if day is None else instance(record, day)


# changes to one instance -------------------------------------------------------------------


def update_instance(store: Store, master: EventRecord, day: dt.date,
                    payload: dict[str, Any]) -> EventRecord:
    """PATCH of an occurrence or exception: keep what now differs as the exception."""
    if "recurrence" in payload:
        raise GraphError(400, "ErrorInvalidRequest",
                         "The recurrence of an occurrence or exception can't be changed; "
                         "update the series master.")
    base = occurrence(master, day)
    current = instance(master, day)
    apply_payload(current, payload)
    _check_boundaries(master, day, current)
    key = day.isoformat()
    now = iso_utc(dt.datetime.now(dt.UTC))
    previous = master.exceptions.get(key)
    store.touch(master, whole_series=False)
    master.exceptions[key] = {
        "overrides": {k: v for k, v in current.fields.items()
                      if k != "_instance" and base.fields.get(k) != v},
        "ext_props": {k: v for k, v in current.ext_props.items()
                      if master.ext_props.get(k) != v},
        "start": current.start.isoformat(), "end": current.end.isoformat(),
        "change_key": new_change_key(),
        "created": previous["created"] if previous else now, "modified": now,
        "seq": master.seq,
        "created_seq": previous["created_seq"] if previous else master.seq,
    }
    return instance(master, day)


def _check_boundaries(master: EventRecord, day: dt.date, moved: EventRecord) -> None:
    """Outlook's rule for exceptions: not on or before the previous occurrence's day, not on
    or after the next one's."""
    before, after = patterns.neighbours(master.fields["recurrence"], day)
    new_day = local_start_date(moved)
    for neighbour, later in ((before, False), (after, True)):
        if neighbour is None:
            continue
        placed_day = local_start_date(instance(master, neighbour))
        if (new_day >= placed_day) if later else (new_day <= placed_day):
            raise GraphError(400, "ErrorOccurrenceCrossingBoundary",
                             "Modified occurrence is crossing or overlapping adjacent "
                             "occurrence.")


def cancel_instance(store: Store, master: EventRecord, day: dt.date) -> None:
    """DELETE (or cancel) of one occurrence: that occurrence is gone, the series stays."""
    key = day.isoformat()
    store.touch(master, whole_series=False)
    master.exceptions.pop(key, None)
    master.cancelled[key] = master.seq


# changes to the master ---------------------------------------------------------------------


def timing(record: EventRecord) -> dict[str, Any]:
    """What a master's occurrences are generated from (to tell whether a PATCH changed it)."""
    return {"fields": {k: copy.deepcopy(record.fields.get(k)) for k in TIMING},
            "start": record.start.isoformat(), "end": record.end.isoformat(),
            "exceptions": copy.deepcopy(record.exceptions), "cancelled": dict(record.cancelled)}


def _same_timing(before: dict[str, Any], record: EventRecord) -> bool:
    after = timing(record)
    keys = ("isAllDay", "recurrence", "_allDayStart", "_allDayEnd", "originalStartTimeZone")
    return (before["start"], before["end"]) == (after["start"], after["end"]) and all(
        before["fields"].get(k) == after["fields"].get(k) for k in keys)


def after_master_update(record: EventRecord, before: dict[str, Any]) -> None:
    """Called once a master (or single) PATCH is stored: a new timing regenerates the series
    (exceptions and cancellations dropped) and is remembered for delta's removals."""
    if _same_timing(before, record):
        return
    record.history.append({**before, "seq": record.seq})
    del record.history[:-MAX_HISTORY]
    record.exceptions.clear()
    record.cancelled.clear()


# delta -------------------------------------------------------------------------------------


def _former(record: EventRecord, entry: dict[str, Any]) -> EventRecord:
    """``record`` as it was before the timing change ``entry`` remembers."""
    former = copy.copy(record)
    former.fields = {**record.fields, **entry["fields"]}
    former.start, former.end = parse_iso(entry["start"]), parse_iso(entry["end"])
    former.exceptions, former.cancelled = entry["exceptions"], entry["cancelled"]
    return former


def delta_items(record: EventRecord, start: dt.datetime, end: dt.datetime,
                since: int) -> list[tuple[EventRecord, bool]]:
    """What an incremental delta round reports for ``record`` (changed after ``since``):
    (instance, removed) pairs — changed instances in the window, and removals: deleted
    series, cancelled occurrences, occurrences a new timing dropped, instances moved out."""
    if record.deleted:
        gone = {v.id: v for v in instances(record, start, end)}
        for entry in record.history:
            if entry["seq"] > since:
                gone.update({v.id: v for v in instances(_former(record, entry), start, end)})
        return [(v, True) for v in gone.values()]
    current = instances(record, start, end)
    items = [(v, False) for v in current if v.seq > since]
    shown = {v.id for v in current}
    removed: dict[str, EventRecord] = {}
    for entry in record.history:
        if entry["seq"] > since:
            for v in instances(_former(record, entry), start, end):
                if v.id not in shown:
                    removed[v.id] = v
    if record.is_series:
        for key, seq in record.cancelled.items():
            gone = occurrence(record, dt.date.fromisoformat(key))
            if seq > since and overlaps(gone, start, end):
                removed[gone.id] = gone
        for key, exception in record.exceptions.items():
            day = dt.date.fromisoformat(key)
            moved = instance(record, day)
            was_seen = exception["created_seq"] <= since or overlaps(
                occurrence(record, day), start, end)
            if moved.id not in shown and exception["seq"] > since and was_seen \
                    and record.created_seq <= since:
                removed[moved.id] = moved  # moved out of the window
    elif not shown and record.created_seq <= since:
        removed[record.id] = record  # moved out of the window
    return items + [(v, True) for v in removed.values()]
