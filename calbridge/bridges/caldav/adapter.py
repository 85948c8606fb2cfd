"""The CalDAV bridge: calendars discovered from a server's base URL, events read with
calendar-query, changes with sync-collection (or the collection's ctag), writes guarded
by etags, recurring series kept in one resource (RFC 4791, RFC 6578)."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import quote, urljoin

import requests
from pydantic import BaseModel

from calbridge.bridges.base import (
    BridgeHealth,
    Calendar,
    CalendarBridge,
    Capabilities,
    ChangeSet,
    ReadResult,
    TimeWindow,
    WriteOp,
    WriteResult,
)
from calbridge.bridges.caldav import dav
from calbridge.bridges.caldav.convert import (
    Resource,
    apply_fields,
    exclude,
    new_resource,
    occurrences,
    one_occurrence,
    override_for,
    parse_resource,
    reading,
    refusal,
    resource_name,
    serialise,
    series_event,
    split_id,
    valid_resource_id,
    written_resource,
)
from calbridge.bridges.caldav.settings import CalDavSettings
from calbridge.bridges.http import HttpClient, pooled_session
from calbridge.bridges.registry import register
from calbridge.config import DeclaredSetting, Settings
from calbridge.errors import (
    AlreadyExists,
    AuthError,
    CalbridgeError,
    CalendarNotFound,
    EtagConflict,
    Inexpressible,
    NotFound,
    SyncStateExpired,
    UpstreamError,
    UpstreamUnavailable,
)
from calbridge.model import Event, EventField, EventKind, EventOrigin, EventStatus

log = logging.getLogger(__name__)

ICAL_TYPE = "text/calendar; charset=utf-8"
# A mapping's check must answer at once: one attempt; the next run asks again.
CHECK_ATTEMPTS = 1
# Cursor forms: an RFC 6578 sync token, or a collection's ctag where the server has none.
SYNC, CTAG = "sync:", "ctag:"
# RFC 6578 3.2: a token the server no longer honours fails the valid-sync-token
# precondition: 403 by the RFC (Radicale); Xandikos answers 412, others 409 or 400, with
# the same `DAV:error` body.
_TOKEN_REFUSED = (400, 403, 409, 412)
_MULTIGET_BATCH = 100
# Resources remembered as last read or written (etag and body); the least recently used go.
_KNOWN_RESOURCES = 4096
# How long a resource read or written is taken as current for reading it again: long
# enough for the run that read a calendar's changes to plan them (a series' occurrences
# are asked for right after the listing or write that gave them), short enough that no
# later run plans on it.
_FRESH_SECONDS = 30.0
# A known resource: etag, body, when it was seen, and its parsed form when nothing will
# change that one (never what `_read` or `_recall` hand out to be written into).
_Known = tuple[str, bytes, float, Resource | None]


@register
class CalDavBridge(CalendarBridge):
    """A CalDAV server (Nextcloud, Fastmail, iCloud, Radicale, Xandikos…): one calendar
    collection per calendar, one resource per event or series. No push: polled. Batch
    writes are `CALDAV_MAX_CONCURRENCY` single requests in flight at once (CalDAV has no
    batch request)."""

    type_name: ClassVar[str] = "caldav"
    capabilities: ClassVar[Capabilities] = Capabilities(
        write=True, delta=True, push=False, recurrence=True, batch=True, tombstones=True,
        exceptions_with_series=True, omits_short_lived=True)
    settings_model: ClassVar[type[BaseModel] | None] = CalDavSettings
    # No push: a timer of its own reads these calendars (one sync-collection REPORT each
    # when nothing changed), as often as the server's operator is happy to be asked.
    poll_schedule: ClassVar[DeclaredSetting | None] = DeclaredSetting(
        name="CALDAV_POLL_SCHEDULE", default="0 */1 * * * *")

    def __init__(self, name: str, settings: CalDavSettings, http: HttpClient,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        super().__init__(name)
        self.settings = settings
        self.http = http
        self.clock = clock
        # Each resource as calbridge last read or wrote it: an update guarded by that etag
        # needs no GET first (a stale one fails its If-Match all the same), and a DELETE
        # names the version it removes.
        # A series' parsed form is kept where nothing changes it (listings, writes), so
        # asking for its occurrences right after does not parse it again.
        self._known: OrderedDict[tuple[str, str], _Known] = OrderedDict()
        self._known_lock = threading.Lock()

    @classmethod
    def from_settings(cls, name: str, settings: Settings) -> CalDavBridge:
        caldav = CalDavSettings.from_env(settings.instance_env(name, cls.type_name))
        session = pooled_session()  # queue workers and a run's writers share it
        if caldav.token:
            session.headers["Authorization"] = f"Bearer {caldav.token}"
        elif caldav.username and caldav.password:
            session.auth = (caldav.username, caldav.password)
        http = HttpClient(cls.type_name, timeout=settings.http_timeout_seconds,
                          verify=caldav.ca_bundle or True, session=session, throttled=_locked)
        return cls(name, caldav, http)

    # ------------------------------------------------------------ requests

    def _url(self, path: str) -> str:
        return urljoin(self.settings.url, path)

    def _dav(self, method: str, path: str, body: bytes, depth: str,
             ok: tuple[int, ...] = (), max_attempts: int | None = None) -> requests.Response:
        # PROPFIND and REPORT only read: retrying them is safe.
        return self.http.request(method, self._url(path), data=body, idempotent=True,
                                 headers={"Content-Type": dav.XML_TYPE, "Depth": depth},
                                 ok=ok, max_attempts=max_attempts)

    def _multistatus(self, response: requests.Response) -> dav.Multistatus:
        return dav.parse_multistatus(response.content, self.settings.url)

    def _missing(self, calendar_id: str) -> CalendarNotFound:
        return CalendarNotFound(f"{self.name}: calendar {calendar_id!r} does not exist",
                                bridge=self.name, calendar_id=calendar_id)

    def _collection(self, calendar_id: str) -> str:
        """The calendar's collection path; an id that cannot be one is no calendar."""
        path = _collection_path(calendar_id)
        if path is None:
            raise self._missing(calendar_id)
        return path

    def _member(self, calendar_id: str, resource_id: str) -> str:
        return self._collection(calendar_id) + quote(resource_id, safe="@")

    def _gone(self, calendar_id: str) -> None:
        """After a 404 naming a resource: `CalendarNotFound` when the calendar is missing."""
        if not self.calendar_exists(calendar_id):
            raise self._missing(calendar_id)

    # ------------------------------------------------------------ known resources

    def _remember(self, calendar_id: str, resource_id: str, etag: str | None,
                  data: bytes, parsed: Resource | None = None) -> None:
        key = (self._collection(calendar_id), resource_id)
        with self._known_lock:
            if etag is None:
                self._known.pop(key, None)
                return
            # Only a series is asked for its occurrences (`instances`): a single event's
            # parsed form would only take memory.
            kept = parsed if parsed is not None and parsed.recurring else None
            self._known[key] = (etag, data, time.monotonic(), kept)
            self._known.move_to_end(key)
            while len(self._known) > _KNOWN_RESOURCES:
                self._known.popitem(last=False)

    def _forget(self, calendar_id: str, resource_id: str) -> None:
        with self._known_lock:
            self._known.pop((self._collection(calendar_id), resource_id), None)

    def _known_version(self, calendar_id: str, resource_id: str) -> _Known | None:
        with self._known_lock:
            return self._known.get((self._collection(calendar_id), resource_id))

    def _recall(self, calendar_id: str, resource_id: str, etag: str) -> Resource | None:
        """The resource as last seen, when that version is the one with `etag` (a write
        over it carries that etag in If-Match, so its age does not matter)."""
        known = self._known_version(calendar_id, resource_id)
        if known is None or known[0] != etag:
            return None
        return parse_resource(resource_id, known[0], known[1])

    def _recent(self, calendar_id: str, resource_id: str) -> Resource | None:
        """The resource as read or written within the last `_FRESH_SECONDS`, if it was."""
        known = self._known_version(calendar_id, resource_id)
        if known is None or time.monotonic() - known[2] > _FRESH_SECONDS:
            return None
        return known[3] or parse_resource(resource_id, known[0], known[1])

    # ------------------------------------------------------------ calendars

    def _homes(self) -> list[str]:
        """RFC 4791 6.2.1 / RFC 5397: the principal from the base URL, its calendar homes.
        A base URL without a principal is taken as the calendar home itself."""
        base = dav.absolute_path(self.settings.url, self.settings.url)
        found = self._multistatus(self._dav("PROPFIND", base, dav.propfind(
            [dav.CURRENT_USER_PRINCIPAL]), "0"))
        principal = next((p for r in found.responses
                          if (p := r.href_in(dav.CURRENT_USER_PRINCIPAL))), None)
        if principal is None:
            return [base]
        principal = dav.absolute_path(principal, self.settings.url)
        homes = self._multistatus(self._dav("PROPFIND", principal, dav.propfind(
            [dav.CALENDAR_HOME_SET]), "0"))
        paths = []
        for response in homes.responses:
            element = response.props.get(dav.CALENDAR_HOME_SET)
            for href in element.findall(dav.tag(dav.DAV, "href")) if element is not None else []:
                if href.text:
                    paths.append(dav.absolute_path(href.text.strip(), self.settings.url))
        return paths or [principal]

    def list_calendars(self) -> list[Calendar]:
        """Every calendar collection in the calendar homes that holds events."""
        calendars: dict[str, Calendar] = {}
        for home in self._homes():
            found = self._multistatus(self._dav("PROPFIND", home, dav.propfind(
                [dav.RESOURCETYPE, dav.DISPLAYNAME, dav.COMPONENT_SET]), "1"))
            for response in found.responses:
                if _is_event_calendar(response):
                    name = response.text(dav.DISPLAYNAME) or dav.last_segment(response.href)
                    calendars.setdefault(response.href, Calendar(id=response.href, name=name))
        return list(calendars.values())

    def calendar_exists(self, calendar_id: str) -> bool:
        path = _collection_path(calendar_id)
        if path is None:
            return False
        response = self._dav("PROPFIND", path, dav.propfind([dav.RESOURCETYPE]), "0",
                             ok=(404, 410), max_attempts=CHECK_ATTEMPTS)
        if response.status_code >= 400:
            return False
        return any(_is_calendar(r) for r in self._multistatus(response).responses
                   if r.href.rstrip("/") == path.rstrip("/"))

    # ------------------------------------------------------------ reading

    def _report(self, calendar_id: str, body: bytes, depth: str = "1",
                ok: tuple[int, ...] = ()) -> requests.Response:
        response = self._dav("REPORT", self._collection(calendar_id), body, depth,
                             ok=(404, 410, *ok))
        if response.status_code in (404, 410):
            raise self._missing(calendar_id)
        return response

    def _resources(self, calendar_id: str, found: dav.Multistatus,
                   unreadable: dict[str, str] | None = None) -> Iterator[Resource]:
        """The resources of a REPORT's answer, parsed. One that is not iCalendar raises
        `UpstreamError`, or, given `unreadable`, is noted there and left out."""
        for response in found.responses:
            data = response.text(dav.CALENDAR_DATA)
            if data is None or response.href.endswith("/"):
                continue
            name, etag = dav.last_segment(response.href), _etag(response.text(dav.GETETAG))
            try:
                resource = parse_resource(name, etag, data)
            except UpstreamError as exc:
                if unreadable is None:
                    raise
                self._unreadable(calendar_id, name, exc, unreadable)
                continue
            self._remember(calendar_id, name, etag, data.encode(), resource)
            yield resource

    def _read_all(self, calendar_id: str, found: dav.Multistatus, window: TimeWindow,
                  unreadable: dict[str, str], *, masters: bool = True
                  ) -> Iterator[tuple[Resource, list[Event]]]:
        """Each resource of a REPORT's answer with what a calendar view shows of it (and,
        with `masters`, a series' master first); one that cannot be read as events is
        noted in `unreadable` and left out (the rest of the calendar syncs; it is left as
        it is until it is written again)."""
        for resource in self._resources(calendar_id, found, unreadable):
            try:
                with reading(resource.id):
                    events = occurrences(resource, calendar_id, window)
                    if masters and resource.recurring:
                        # Each series' master with its occurrences: the engine needs no
                        # GET to learn the series' rule.
                        events = [series_event(resource, calendar_id), *events]
            except UpstreamError as exc:
                self._unreadable(calendar_id, resource.id, exc, unreadable)
                continue
            yield resource, events

    def _unreadable(self, calendar_id: str, name: str, error: UpstreamError,
                    unreadable: dict[str, str]) -> None:
        self._forget(calendar_id, name)
        unreadable[name] = error.message
        log.warning("a CalDAV resource cannot be read; it is left as it is", extra={
            "bridge": self.name, "calendar_id": calendar_id, "resource": name,
            "error": error.message})

    def list_events(self, calendar_id: str, window: TimeWindow) -> Iterator[Event]:
        """calendar-query with the window; series are expanded here, not by the server."""
        found = self._multistatus(self._report(
            calendar_id, dav.calendar_query(window.start, window.end)))
        for _, events in self._read_all(calendar_id, found, window, {}, masters=False):
            yield from events

    def _read(self, calendar_id: str, resource_id: str) -> Resource | None:
        if not valid_resource_id(resource_id):
            self._collection(calendar_id)
            return None
        response = self.http.request("GET", self._url(self._member(calendar_id, resource_id)),
                                     ok=(404, 410))
        if response.status_code in (404, 410):
            self._forget(calendar_id, resource_id)
            self._gone(calendar_id)
            return None
        etag = _etag(response.headers.get("ETag"))
        self._remember(calendar_id, resource_id, etag, response.content)
        return parse_resource(resource_id, etag, response.content)

    def get_event(self, calendar_id: str, event_id: str) -> Event | None:
        """A single event, a series' master (with its rule), or one occurrence by its id."""
        resource_id, rid = split_id(event_id)
        resource = self._read(calendar_id, resource_id)
        if resource is None:
            return None
        with reading(resource_id):
            return _event_in(resource, rid, calendar_id)

    def get_events(self, calendar_id: str, event_ids: Sequence[str]) -> list[ReadResult]:
        """calendar-multiget, one REPORT per `_MULTIGET_BATCH` resources (a series'
        occurrences share their resource: it is read once for all of them)."""
        names = sorted({name for event_id in event_ids
                        if valid_resource_id(name := split_id(event_id)[0])})
        self._collection(calendar_id)  # an id that names no calendar fails every read
        read: dict[str, Resource | CalbridgeError] = {}
        for first in range(0, len(names), _MULTIGET_BATCH):
            batch = names[first:first + _MULTIGET_BATCH]
            try:
                found = self._multistatus(self._report(calendar_id, dav.multiget(
                    [self._member(calendar_id, name) for name in batch])))
                read |= {resource.id: resource
                         for resource in self._resources(calendar_id, found)}
            except (CalendarNotFound, AuthError):
                raise
            except UpstreamUnavailable as exc:
                read |= dict.fromkeys(names[first:], exc)  # the rest is not sent
                break
            except CalbridgeError as exc:
                read |= dict.fromkeys(batch, exc)
        if missing := [name for name in names if name not in read]:
            for name in missing:
                self._forget(calendar_id, name)
            self._gone(calendar_id)
        return [_read_result(event_id, read.get(split_id(event_id)[0]), calendar_id)
                for event_id in event_ids]

    def instances(self, calendar_id: str, series_id: str, window: TimeWindow) -> list[Event]:
        """The series' occurrences and exceptions in the window, cancelled ones left out
        (from the resource as just listed or written, when it was: only read here)."""
        resource_id = split_id(series_id)[0]
        resource = (self._recent(calendar_id, resource_id) if valid_resource_id(resource_id)
                    else None) or self._read(calendar_id, resource_id)
        if resource is None or not resource.recurring:
            return []
        with reading(resource_id):
            return occurrences(resource, calendar_id, window, cancelled=False)

    def refuses(self, event: Event) -> str | None:
        return refusal(event)

    def find_by_marker(self, calendar_id: str, marker: str,
                       origin: EventOrigin | None = None) -> Event | None:
        """The copy a create under this marker (the link id, its idempotency key) made: it
        is stored at the name derived from the key, so reading that name finds it (many in
        one calendar-multiget, `find_by_markers`). No calendar-query
        on the marker property: a server answers that by reading every resource of the
        calendar, and a crash in a large first sync leaves hundreds of copies to look
        up."""
        [found] = self.find_by_markers(calendar_id, [(marker, origin)])
        return found.current()

    def find_by_markers(self, calendar_id: str,
                        markers: Sequence[tuple[str, EventOrigin | None]]) -> list[ReadResult]:
        """`find_by_marker` for many: their derived names in calendar-multiget REPORTs."""
        names = [resource_name(marker) for marker, _ in markers]
        results = []
        for (marker, _), read in zip(markers, self.get_events(calendar_id, names), strict=True):
            if read.error is not None:
                results.append(ReadResult.failed(marker, read.error))
                continue
            event = read.current()
            ours = (event is not None and event.marker == marker
                    and event.status is not EventStatus.CANCELLED)
            results.append(ReadResult.found(marker, event if ours else None))
        return results

    # ------------------------------------------------------------ changes

    def changes(self, calendar_id: str, cursor: str | None, window: TimeWindow) -> ChangeSet:
        """No cursor: a complete listing of the window and the collection's sync token
        (read first, so a change during the listing comes again, never not at all). A sync
        token: the members changed or removed since (RFC 6578). Servers without
        sync-collection: the ctag, and a complete listing only when it moved."""
        if cursor is None:
            return self._listing(calendar_id, window)
        if cursor.startswith(CTAG):
            state = self._state(calendar_id)
            if state == cursor:
                return ChangeSet(cursor=cursor)
            return self._listing(calendar_id, window, state)
        if not cursor.startswith(SYNC):
            raise SyncStateExpired(f"{self.type_name}: a cursor of unknown form")
        return self._since(calendar_id, cursor[len(SYNC):], window)

    def _state(self, calendar_id: str) -> str:
        response = self._dav("PROPFIND", self._collection(calendar_id), dav.propfind(
            [dav.SYNC_TOKEN, dav.GETCTAG]), "0", ok=(404, 410))
        if response.status_code in (404, 410):
            raise self._missing(calendar_id)
        found = self._multistatus(response).responses
        token = next((t for r in found if (t := r.text(dav.SYNC_TOKEN))), None)
        if token:
            return SYNC + token.strip()
        ctag = next((t for r in found if (t := r.text(dav.GETCTAG))), None)
        if ctag:
            return CTAG + ctag.strip()
        raise UpstreamError(f"{self.type_name}: calendar {calendar_id!r} has neither a sync "
                            "token nor a ctag; changes cannot be followed")

    def _listing(self, calendar_id: str, window: TimeWindow,
                 state: str | None = None) -> ChangeSet:
        state = state or self._state(calendar_id)
        found = self._multistatus(self._report(
            calendar_id, dav.calendar_query(window.start, window.end)))
        changed: list[Event] = []
        unreadable: dict[str, str] = {}
        for _, events in self._read_all(calendar_id, found, window, unreadable):
            changed += events
        return ChangeSet(changed=changed, cursor=state, complete=True, unreadable=unreadable)

    def _since(self, calendar_id: str, token: str, window: TimeWindow) -> ChangeSet:
        changed_hrefs: dict[str, None] = {}
        removed: dict[str, None] = {}
        while True:
            response = self._report(calendar_id, dav.sync_collection(token), depth="0",
                                    ok=(*_TOKEN_REFUSED, 507))
            if response.status_code in _TOKEN_REFUSED:
                names = dav.error_names(response.content)
                if "valid-sync-token" in names or response.status_code in (403, 409):
                    raise SyncStateExpired(f"{self.type_name}: the sync token of "
                                           f"{calendar_id!r} is no longer valid")
                raise UpstreamError(f"{self.type_name}: sync-collection refused "
                                    f"({response.status_code})",
                                    details={"status": response.status_code})
            found = self._multistatus(response)
            truncated = False
            for member in found.responses:
                if member.href.endswith("/"):
                    # The collection itself (RFC 6578 3.6: 507 when the answer was cut).
                    truncated = truncated or member.status == 507
                    continue
                if member.status == 404:
                    changed_hrefs.pop(member.href, None)
                    removed[member.href] = None
                else:
                    removed.pop(member.href, None)
                    changed_hrefs[member.href] = None
            if not found.sync_token:
                raise UpstreamError(f"{self.type_name}: sync-collection gave no sync token")
            if not truncated or found.sync_token == token:
                token = found.sync_token
                break
            token = found.sync_token
        changed: list[Event] = []
        unreadable: dict[str, str] = {}
        deleted = [dav.last_segment(href) for href in removed]
        hrefs = list(changed_hrefs)
        for first in range(0, len(hrefs), _MULTIGET_BATCH):
            batch = hrefs[first:first + _MULTIGET_BATCH]
            found = self._multistatus(self._report(calendar_id, dav.multiget(batch)))
            read = {dav.last_segment(r.href) for r in found.responses
                    if r.text(dav.CALENDAR_DATA) is not None}
            deleted += [name for href in batch if (name := dav.last_segment(href)) not in read]
            for resource, events in self._read_all(calendar_id, found, window, unreadable):
                # A series' master comes too: the engine reads its instances and so
                # notices the occurrences a new EXDATE removed.
                if events:
                    changed += events
                else:  # moved out of the window: gone from it, as a listing would say
                    deleted.append(resource.id)
        return ChangeSet(changed=changed, deleted=deleted, cursor=SYNC + token,
                         unreadable=unreadable)

    # ------------------------------------------------------------ writing

    def create(self, calendar_id: str, event: Event, idempotency_key: str) -> Event:
        """PUT to a name derived from the idempotency key with `If-None-Match: *`: a
        retried create (after a lost answer) is refused with 412 and the resource it made
        is returned; never a second resource."""
        if (why := refusal(event)) is not None:
            raise Inexpressible(why, rule=event.recurrence.rrule if event.recurrence else None)
        name = resource_name(idempotency_key)
        uid = f"{idempotency_key}@calbridge"
        calendar = new_resource(event, uid, self.clock(), calendar_id)
        body = serialise(calendar)
        response = self.http.request(
            "PUT", self._url(self._member(calendar_id, name)), data=body, idempotent=True,
            headers={"Content-Type": ICAL_TYPE, "If-None-Match": "*"},
            ok=(404, 409, 412))
        if response.status_code in (404, 409):
            self._gone(calendar_id)
            raise UpstreamError(f"{self.type_name}: PUT refused ({response.status_code})",
                                details={"status": response.status_code})
        etag = _etag(response.headers.get("ETag"))
        if response.status_code != 412 and etag:
            # RFC 4791 5.3.4: an ETag in the answer means the server stored these very
            # bytes; without one it may have changed them, and they are read back.
            stored = written_resource(name, etag, calendar)
            self._remember(calendar_id, name, etag, body, stored)
            return series_event(stored, calendar_id)
        written = self.get_event(calendar_id, name)
        if written is None:
            raise UpstreamError(f"{self.type_name}: the created event cannot be read back")
        if response.status_code == 412 and written.marker != event.marker:
            raise AlreadyExists(f"{self.type_name}: {name!r} exists and is not this "
                                "link's copy")
        return written

    def _put(self, calendar_id: str, resource: Resource) -> Resource | None:
        """PUT the resource over the version it was read as; what is now stored when the
        server stored it as sent (an ETag came back), else None."""
        headers = {"Content-Type": ICAL_TYPE}
        if resource.etag:
            headers["If-Match"] = f'"{resource.etag}"'
        body = serialise(resource.calendar)
        # With If-Match a retried PUT could trip on its own first write: not retried.
        response = self.http.request(
            "PUT", self._url(self._member(calendar_id, resource.id)),
            data=body, headers=headers, idempotent=False, ok=(404, 410, 412))
        if response.status_code == 412:
            self._forget(calendar_id, resource.id)
            raise EtagConflict(f"{self.type_name}: {resource.id!r} changed since it was read")
        if response.status_code in (404, 410):
            self._forget(calendar_id, resource.id)
            self._gone(calendar_id)
            raise NotFound(f"{self.type_name}: no event {resource.id!r}")
        etag = _etag(response.headers.get("ETag"))
        stored = parse_resource(resource.id, etag, body) if etag else None
        self._remember(calendar_id, resource.id, etag, body, stored)
        return stored

    def update(self, calendar_id: str, event_id: str, event: Event,
               etag: str | None = None,
               fields: frozenset[EventField] | None = None) -> Event:
        """Write `fields` into the stored component (of an occurrence: its RECURRENCE-ID
        override), everything else kept, with `If-Match`: a stale etag is `EtagConflict`."""
        resource_id, rid = split_id(event_id)
        known = _etag(etag)
        resource = (self._recall(calendar_id, resource_id, known) if known else None) \
            or self._read(calendar_id, resource_id)
        if resource is None:
            raise NotFound(f"{self.type_name}: no event {event_id!r}")
        if known and resource.etag and known != resource.etag:
            raise EtagConflict(f"{self.type_name}: {event_id!r} changed since it was read")
        wanted = frozenset(EventField) if fields is None else fields
        if rid is not None:
            component = override_for(resource, rid)
            wanted = wanted - {EventField.RECURRENCE}
        elif resource.master is not None:
            component = resource.master
            if event.kind is not EventKind.SERIES and event.recurrence is None:
                wanted = wanted - {EventField.RECURRENCE}
        else:
            raise NotFound(f"{self.type_name}: {event_id!r} has no master to update")
        if (EventField.RECURRENCE in wanted and (why := refusal(event)) is not None):
            raise Inexpressible(why, rule=event.recurrence.rrule if event.recurrence else None)
        apply_fields(component, event, wanted, self.clock(), resource.floating_zone)
        stored = self._put(calendar_id, resource)
        updated = (_event_in(stored, rid, calendar_id) if stored is not None
                   else self.get_event(calendar_id, event_id))
        if updated is None:
            raise NotFound(f"{self.type_name}: {event_id!r} is gone after the update")
        return updated

    def delete(self, calendar_id: str, event_id: str) -> bool:
        """DELETE the resource with `If-Match` on the version calbridge last saw (read
        first when it saw none): one changed since is `EtagConflict`, never deleted
        blindly; one already gone is False. An occurrence is removed with an EXDATE on its
        master, written the same way."""
        resource_id, rid = split_id(event_id)
        if rid is not None:
            resource = self._read(calendar_id, resource_id)
            if resource is None or not exclude(resource, rid):
                return False
            self._put(calendar_id, resource)
            return True
        if not valid_resource_id(resource_id):
            self._collection(calendar_id)
            return False
        known = self._known_version(calendar_id, resource_id)
        etag = known[0] if known else None
        if etag is None:
            read = self._read(calendar_id, resource_id)
            if read is None:
                return False
            etag = read.etag
        headers = {"If-Match": f'"{etag}"'} if etag else {}
        response = self.http.request("DELETE", self._url(self._member(calendar_id, resource_id)),
                                     headers=headers, ok=(404, 410, 412))
        self._forget(calendar_id, resource_id)
        if response.status_code == 412:
            # RFC 9110 13.1.1: If-Match also fails on a resource that is gone (a retry
            # after a lost answer): read again to tell that from another client's edit.
            if self._read(calendar_id, resource_id) is None:
                return False
            raise EtagConflict(f"{self.type_name}: {resource_id!r} changed since it was read; "
                               "not deleted")
        if response.status_code in (404, 410):
            self._gone(calendar_id)
            return False
        return True

    def apply(self, calendar_id: str, ops: Sequence[WriteOp]) -> list[WriteResult]:
        """Each op as `create`, `update` or `delete` does it, up to
        `CALDAV_MAX_CONCURRENCY` in flight at once; results in op order, an op's failure
        its own. Once the server is unavailable, ops not yet begun are not sent."""
        workers = min(self.settings.max_concurrency, len(ops))
        if workers <= 1:
            return super().apply(calendar_id, ops)
        self._collection(calendar_id)  # an id that names no calendar fails every op
        unavailable: list[UpstreamUnavailable] = []

        def write(op: WriteOp) -> WriteResult:
            if unavailable:
                return WriteResult.failed(op, unavailable[0])
            try:
                return self._write(calendar_id, op)
            except (CalendarNotFound, AuthError):
                raise
            except UpstreamUnavailable as exc:
                unavailable.append(exc)
                return WriteResult.failed(op, exc)
            except CalbridgeError as exc:
                return WriteResult.failed(op, exc)

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="caldav") as pool:
            return list(pool.map(write, ops))

    # ------------------------------------------------------------ health

    def health(self) -> BridgeHealth:
        started = time.perf_counter()
        try:
            calendars = self.list_calendars()
        except AuthError as exc:
            return BridgeHealth.failed("unhealthy", started, exc, authenticated=False)
        except Exception as exc:  # health never raises: it reports
            return BridgeHealth.failed("degraded", started, exc)
        return BridgeHealth.healthy(started, len(calendars))

    def describe(self) -> dict[str, Any]:
        described = super().describe()
        described["url"] = self.settings.url
        return described


def _locked(response: requests.Response) -> bool:
    """RFC 4918 11.3 423 Locked: the server did not carry the request out because another
    write holds the collection (Xandikos while it commits a concurrent PUT). Nothing was
    changed, so the request is sent again after a wait, conditional PUTs included."""
    return response.status_code == 423


def _read_result(event_id: str, got: Resource | CalbridgeError | None,
                 calendar_id: str) -> ReadResult:
    """What a multiget gave for one id: its event, gone, or the error its read (or its
    reading as events) met."""
    if got is None:
        return ReadResult.found(event_id, None)
    if isinstance(got, CalbridgeError):
        return ReadResult.failed(event_id, got)
    try:
        with reading(got.id):
            return ReadResult.found(event_id, _event_in(got, split_id(event_id)[1], calendar_id))
    except UpstreamError as exc:
        return ReadResult.failed(event_id, exc)


def _event_in(resource: Resource, rid: str | None, calendar_id: str) -> Event | None:
    """The resource read whole, or one occurrence of it by its RECURRENCE-ID key."""
    if rid is not None:
        return one_occurrence(resource, rid, calendar_id)
    return series_event(resource, calendar_id)


def _collection_path(calendar_id: str) -> str | None:
    """A calendar id as the absolute collection path it names, or None when it cannot
    name one (a relative path, a query, a fragment, a step up)."""
    if not calendar_id.startswith("/") or any(c in calendar_id for c in "?#\\"):
        return None
    if not calendar_id.isprintable() or any(
            part in (".", "..") for part in calendar_id.split("/")):
        return None
    return calendar_id if calendar_id.endswith("/") else calendar_id + "/"


def _is_calendar(response: dav.DavResponse) -> bool:
    kinds = response.props.get(dav.RESOURCETYPE)
    return kinds is not None and kinds.find(dav.tag(dav.CALDAV, "calendar")) is not None


def _is_event_calendar(response: dav.DavResponse) -> bool:
    if not _is_calendar(response):
        return False
    components = response.props.get(dav.COMPONENT_SET)
    if components is None or len(components) == 0:
        return True  # RFC 4791 5.2.3: absent means any component
    return any(c.get("name", "").upper() == "VEVENT" for c in components)


def _etag(value: str | None) -> str | None:
    """An entity tag without quotes or weakness marker, as compared here."""
    if not value:
        return None
    value = value.strip()
    value = value[2:] if value.startswith("W/") else value
    return value.strip('"') or None

