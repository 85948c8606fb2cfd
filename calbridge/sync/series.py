"""Recurring series kept as series between two calendars that both have recurrence
(Outlook ↔ Outlook today): the master travels with its rule, and each occurrence is a
linked pair of its own, so an exception moves one occurrence at the other end and a
cancelled occurrence cancels one (sync rule 7).

A series pair is a link of item type `series` between the two masters; each occurrence
pair is an `occurrence` link naming it (`series_link`). Calendar views list occurrences
and exceptions, never masters, so a run finds the series its changes touch, brings each
master across (created, updated field by field, or deleted) and pairs the occurrences of
both ends by their original start. What is left — exceptions and cancellations — goes
through the ordinary plan as changes of linked pairs. A rule the other end cannot carry
(an hourly rule in Outlook) is recorded on the series link, and that series is synced one
occurrence at a time instead."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from calbridge.bridges.base import ChangeSet, TimeWindow
from calbridge.errors import CalbridgeError, NotFound
from calbridge.model import (
    End,
    Event,
    EventKind,
    EventLink,
    EventStatus,
    OperationKind,
    SyncStatus,
)
from calbridge.store.protocols import LinkWrite
from calbridge.sync.fields import differing, field_hashes, read_older, record
from calbridge.sync.fingerprint import fingerprint
from calbridge.sync.outcome import Outcome, OutcomeStatus
from calbridge.sync.plan import GONE, PlannedOperation, instant, overlaps, plan_event

if TYPE_CHECKING:
    from calbridge.sync.engine import Ends, SyncEngine

SERIES = "series"
OCCURRENCE = "occurrence"


def occurrence_key(event: Event) -> str:
    """An occurrence's identity in its series: the start the rule gave it, as an instant
    (systems name it in their own zones: the same start in Oslo and in UTC is one)."""
    original: datetime | date = event.original_start or event.start
    return original.astimezone(UTC).isoformat() if isinstance(original, datetime) \
        else original.isoformat()


class SeriesPass:
    """One direction's pass over the series a change set touches."""

    def __init__(self, engine: SyncEngine, ends: Ends, source: End, links: list[EventLink],
                 horizon: TimeWindow) -> None:
        self.engine = engine
        self.ends = ends
        self.source = source
        self.target = source.other
        self.links = links
        self.horizon = horizon
        self.outcomes: list[Outcome] = []
        # Deletions of whole series, planned with the rest of the run.
        self.planned: list[PlannedOperation] = []
        # Source occurrences whose series' copy has no such occurrence (cancelled there):
        # never written as events of their own.
        self.unpaired: set[str] = set()
        # What the pass read of each touched series at the source: its occurrences and
        # exceptions in the horizon (a webhook names only the master, so these carry its
        # exceptions), and its paired occurrences no longer among them (cancelled).
        self.read: list[Event] = []
        self.vanished: list[str] = []
        self._whole: set[str] = set()
        self._by_source = {sid: link for link in links if (sid := link.event_id(source))}
        # Each series pair's occurrence pairs, as the pass found them (read once: a series
        # is paired at most once a pass, and a pair made meanwhile elsewhere is refused
        # by the store when added again).
        self._pairs: dict[str, list[EventLink]] = {}
        for link in links:
            if link.series_link:
                self._pairs.setdefault(link.series_link, []).append(link)
        self._by_id = {link.id: link for link in links}
        # Each planned series' occurrences and exceptions at the source (`_one`).
        self._ours: dict[str, list[Event]] = {}
        # The links the pass stored, as stored (`links_now`).
        self._stored: dict[str, EventLink] = {}

    # ------------------------------------------------------------------ entry

    def run(self, changes: ChangeSet) -> ChangeSet:
        """Bring every touched series' master across and pair its occurrences; returns
        the changes left for the ordinary plan (masters and whole-series deletions taken
        out)."""
        touched: dict[str, Event | None] = {}
        for event in changes.changed:
            if event.kind is EventKind.SERIES and event.id:
                touched[event.id] = event
            elif event.kind.in_series and event.series_id:
                touched.setdefault(event.series_id, None)
        for gone in changes.deleted:
            series = self._series_of(self._by_source.get(gone))
            if series is not None and (series_id := series.event_id(self.source)):
                touched.setdefault(series_id, None)
        if changes.complete:
            # A complete listing with none of a series' occurrences: look at its master.
            listed = {event.series_id for event in changes.changed if event.series_id}
            for link in self.links:
                series_id = link.event_id(self.source)
                if (link.item_type == SERIES and link.status not in GONE and series_id
                        and series_id not in listed and series_id not in changes.unreadable
                        and overlaps(link, self.horizon)):
                    touched.setdefault(series_id, None)
        closed: set[str] = set()
        expanded: set[str] = set()
        # A series named as a whole (a webhook names only its master) is read whole: its
        # occurrences carry the exceptions and cancellations the notice stands for.
        self._whole = {series_id for series_id, master in touched.items() if master}
        masters: list[PlannedOperation] = []
        for series_id, master in touched.items():
            done = self._one(series_id, master, masters)
            if done is None:
                expanded.add(series_id)
            else:
                closed |= done
        self._write_and_pair(masters)
        listed = {event.id for event in changes.changed}
        changed = [event for event in [*changes.changed,
                                       *(e for e in self.read if e.id not in listed)]
                   if (event.kind is not EventKind.SERIES or event.id in expanded)
                   and event.id not in self.unpaired
                   and not (event.kind.in_series and instant(event.start) >= self.horizon.end
                            and event.series_id not in expanded)]
        deleted = [gone for gone in dict.fromkeys([*changes.deleted, *self.vanished])
                   if gone not in closed]
        return ChangeSet(changed=changed, deleted=deleted, cursor=changes.cursor,
                         complete=changes.complete, unreadable=changes.unreadable)

    def links_now(self) -> list[EventLink]:
        """The mapping's links after the pass: as they were read, with those the pass
        stored (series' links, pairs, expansions) as it stored them, so the run plans on
        without listing every link again."""
        if not self._stored:
            return self.links
        return list(({link.id: link for link in self.links} | self._stored).values())

    def _keep(self, stored: list[EventLink | CalbridgeError]) -> None:
        self._stored.update((link.id, link) for link in stored if isinstance(link, EventLink))

    # ------------------------------------------------------------------ one series

    def _series_of(self, link: EventLink | None) -> EventLink | None:
        if link is None:
            return None
        if link.item_type == SERIES:
            return link
        return self._by_id.get(link.series_link) if link.series_link else None

    def _one(self, series_id: str, master: Event | None,
             masters: list[PlannedOperation]) -> set[str] | None:
        """Plan one series: its master's operation joins `masters` (written and paired
        with the others', `_write_and_pair`). The source ids its deletion closed, or None
        when the series is synced one occurrence at a time instead."""
        link = self._by_source.get(series_id)
        if link is not None and link.item_type == SERIES and link.expanded_because:
            return None
        bridge, calendar = self.ends.bridges[self.source], self.ends.calendar(self.source)
        if master is None:
            master = bridge.get_event(calendar, series_id)
        if master is None or master.status is EventStatus.CANCELLED:
            return self._gone(series_id, link)
        if master.kind is not EventKind.SERIES:
            return set()  # not (or no longer) a series: its events sync one by one
        reason = ("the series' rule could not be read" if master.recurrence is None
                  else self.ends.bridges[self.target].refuses(master))
        if reason is None:
            # Read now, next to the read that named the series (an adapter may answer
            # from it), not after every touched series' master is written.
            self._ours[series_id] = bridge.instances(calendar, series_id, self.horizon)
        if reason is None and link is None and any(each.id in self._by_source
                                                   for each in self._ours[series_id]):
            # Its occurrences were synced as events of their own before series were kept:
            # a copy of the series now would show every date twice.
            reason = "its occurrences were already synced one by one"
        if reason is not None:
            self._expand(master, link, reason)
            return None
        operation = plan_event(self.source, master, link)
        if (operation.kind is OperationKind.CREATE and operation.event is not None
                and self.ends.bridges[self.target].capabilities.exceptions_with_series):
            # Made in one write with its exceptions; pairing then finds them in step.
            operation.event = operation.event.model_copy(update={"exceptions": [
                each for each in self._ours[series_id] if each.kind is EventKind.EXCEPTION
                and each.status is not EventStatus.CANCELLED]})
        masters.append(operation)
        return set()

    def _write_and_pair(self, masters: list[PlannedOperation]) -> None:
        """The touched series' masters written a chunk at a time as the engine writes a
        run's chunks (new series' links stored at once before their copies are made,
        creates through the target's batch writes, links after in a few transactions),
        then each series of the chunk whose master is in step paired — right after its
        copy was written, which the target may still answer from — and the chunk's pairs
        stored together."""
        from calbridge.sync.engine import CHUNK  # the engine imports this module

        for first in range(0, len(masters), CHUNK):
            chunk = masters[first:first + CHUNK]
            writing = [operation for operation in chunk if operation.writes]
            # One outcome per operation, in order (no deadline: none is queued).
            outcomes = self.engine._apply_all(self.ends, writing)
            self.outcomes += outcomes
            failed = {id(operation) for operation, outcome
                      in zip(writing, outcomes, strict=True)
                      if outcome.status is not OutcomeStatus.COMPLETED}
            self._note_written(writing, failed)
            pairs: list[LinkWrite] = []
            for operation in chunk:
                # The series' link as the pass read or just wrote it (the engine updates
                # the operation's link in place): no need to read it again.
                link = operation.link
                if (id(operation) in failed or link is None or link.status in GONE
                        or not link.event_id(self.target)):
                    continue
                pairs += self._pair(link)
            # Pairs go in as few transactions as the limits allow; one paired meanwhile
            # by another worker is refused alone (`AlreadyExists`) and theirs stands.
            self._keep(self.engine.stores.links.write(pairs))

    def _note_written(self, writing: list[PlannedOperation], failed: set[int]) -> None:
        """Keep the masters' links as written for `links_now`; a failure is recorded on
        the link as stored, not on the one held here."""
        for operation in writing:
            link = operation.link
            if link is None:
                continue
            if id(operation) not in failed:
                self._stored[link.id] = link
                continue
            try:
                self._stored[link.id] = self.engine.stores.links.get(self.ends.mapping.id,
                                                                     link.id)
            except NotFound:
                self._stored.pop(link.id, None)

    def _gone(self, series_id: str, link: EventLink | None) -> set[str]:
        """The series was deleted at the source: one deletion of the target's series,
        planned with the run's other deletions (the mass-deletion guard weighs it as one);
        its occurrences' pairs close with it, so they are not deleted one by one."""
        if link is None or link.item_type != SERIES or link.status in GONE:
            return set()
        self.planned.append(PlannedOperation(
            OperationKind.DELETE, "series deleted in {source}", self.source, series_id,
            link=link))
        return {series_id, *(sid for pair in self.links
                             if pair.series_link == link.id and pair.status not in GONE
                             and (sid := pair.event_id(self.source)))}

    def _expand(self, master: Event, link: EventLink | None, reason: str) -> None:
        """Record why a series goes across one occurrence at a time."""
        if link is None:
            link = self.ends.new_link(origin=self.source)
            link.set_event_id(self.source, master.id)
            link.item_type, link.status, link.pending_end = SERIES, SyncStatus.SYNCED, None
            link.series_end, link.series_id = self.source, master.id
            link.expanded_because = reason
            self.engine.describe(link, master, self.source)
            self._keep([self.engine.stores.links.add(link)])
        else:
            link.expanded_because = reason
            self._keep([self.engine.stores.links.update(link)])

    def _in_step(self, pair: EventLink, ours: Event, theirs: Event | None) -> LinkWrite | None:
        """An occurrence pair whose source occurrence changed with its series' master
        (retitled, say) while the copy's occurrence, written with the target's master just
        before, already holds the same values: recorded as in step here, as an update
        that finds nothing to send would record it, without reading the copy again. None
        when the plan must look at it (something differs, or it is not plainly synced)."""
        source, target = self.source, self.target
        known = pair.end(source)
        if (theirs is None or pair.status is not SyncStatus.SYNCED
                or fingerprint(ours) == known.fingerprint or differing(ours, theirs)
                or read_older(known, ours)):
            return None
        fresh = pair.model_copy(deep=True)
        for end, event in ((source, ours), (target, theirs)):
            record(fresh.end(end), event)
        fresh.synced_at = self.engine.clock()
        self.engine.describe(fresh, ours, source)
        return LinkWrite(fresh, pair)

    def _pair(self, series: EventLink) -> list[LinkWrite]:
        """Link each occurrence of the source's series to the target's occurrence with the
        same original start (the new pairs, and the pairs `_in_step` refreshed, returned
        to be stored); cancel target occurrences the source's series does not have
        (cancelled there). Pairs start from
        the target's values, so an exception at the source shows as a change to send."""
        source, target = self.source, self.target
        bridges, ends = self.ends.bridges, self.ends
        ours = self._ours.get(series.event_id(source) or "")
        if ours is None:
            ours = bridges[source].instances(ends.calendar(source),
                                             series.event_id(source) or "", self.horizon)
        theirs = bridges[target].instances(ends.calendar(target), series.event_id(target) or "",
                                           self.horizon)
        paired = [pair for pair in self._pairs.get(series.id, []) if pair.status not in GONE]
        linked = {end: {pair.event_id(end) for pair in paired} for end in (source, target)}
        if series.event_id(source) in self._whole:
            self.read += ours
        present = {each.id for each in ours}
        self.vanished += [sid for pair in paired if (sid := pair.event_id(source))
                          and sid not in present and overlaps(pair, self.horizon)]
        waiting = {occurrence_key(each): each for each in theirs
                   if each.id not in linked[target]}
        by_id = {each.id: each for each in theirs}
        pair_of = {pair.event_id(source): pair for pair in paired}
        keys = set()
        pairs: list[LinkWrite] = []
        for occurrence in ours:
            keys.add(occurrence_key(occurrence))
            if occurrence.id in linked[source]:
                pair = pair_of[occurrence.id]
                step = self._in_step(pair, occurrence, by_id.get(pair.event_id(target)))
                if step is not None:
                    pairs.append(step)
                continue
            if occurrence.id in self._by_source:
                continue
            match = waiting.pop(occurrence_key(occurrence), None)
            if match is None or not occurrence.id or not match.id:
                if occurrence.id:
                    self.unpaired.add(occurrence.id)
                continue
            pair = ends.new_link(origin=series.origin)
            self.engine.describe(pair, match, target)
            pair.item_type, pair.series_link = OCCURRENCE, series.id
            pair.series_end, pair.series_id = series.series_end, series.series_id
            pair.set_event_id(source, occurrence.id)
            pair.set_event_id(target, match.id)
            for end in (source, target):
                pair.end(end).fingerprint = fingerprint(match)
                pair.end(end).fields = field_hashes(match)
            pair.end(target).etag = match.etag
            pair.status, pair.pending_end = SyncStatus.SYNCED, None
            pair.synced_at = self.engine.clock()
            pair.occurrence_start = instant(occurrence.original_start or occurrence.start)
            pairs.append(LinkWrite(pair))
        cancelled = False
        for key, extra in waiting.items():
            if key in keys or not extra.id:
                continue
            # An occurrence the source's series does not have: cancelled at the source.
            bridges[target].delete(ends.calendar(target), extra.id)
            cancelled = True
            self.outcomes.append(Outcome(
                OperationKind.DELETE, OutcomeStatus.COMPLETED,
                "occurrence cancelled in {source}".replace("{source}", ends.system(source)),
                ends.system(source), ends.system(target), series.event_id(source) or "",
                target_id=extra.id, link_id=series.id, mapping_id=ends.mapping.id,
                title=extra.title, source=source, item_type=OCCURRENCE))
        if cancelled and (refreshed := self._master_now(series)) is not None:
            pairs.append(refreshed)
        return pairs

    def _master_now(self, series: EventLink) -> LinkWrite | None:
        """The series' link with its copy's master as the cancellations just left it (a
        system may record them on the master: CalDAV's EXDATE), so the next read of that
        master is not taken for a change made there and sent back."""
        target = self.target
        master = self.ends.bridges[target].get_event(self.ends.calendar(target),
                                                     series.event_id(target) or "")
        if master is None:
            return None
        try:  # as stored now: the run may have stored it since `series` was read
            stored = self.engine.stores.links.get(self.ends.mapping.id, series.id)
        except NotFound:
            return None
        fresh = stored.model_copy(deep=True)
        record(fresh.end(target), master)
        return LinkWrite(fresh, stored)
