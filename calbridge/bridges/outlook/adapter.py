"""The Outlook bridge: room and user calendars through Microsoft Graph."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, ClassVar

import requests

from calbridge.bridges.base import (
    BridgeHealth,
    Calendar,
    CalendarBridge,
    Capabilities,
    ChangeNotice,
    ChangeSet,
    PushSemantics,
    PushSubscription,
    ReadResult,
    TimeWindow,
    WriteKind,
    WriteOp,
    WriteResult,
    signed_in_health,
)
from calbridge.bridges.http import HttpClient, error_for_status, upstream_code
from calbridge.bridges.outlook.auth import GraphTokens
from calbridge.bridges.outlook.client import (
    WINDOW_SECONDS,
    BatchRequest,
    BatchResponse,
    GraphClient,
    json_body,
    part_error,
    path_segment,
    with_query,
)
from calbridge.bridges.outlook.convert import (
    calendar_from_room,
    event_from_graph,
    event_to_graph,
    graph_recurrence,
    iso_utc,
    marker_expand,
    marker_filter,
)
from calbridge.bridges.outlook.notifications import (
    LIFECYCLE_EVENTS,
    clamp_expiry,
    parse_notifications,
    subscription_from_graph,
)
from calbridge.bridges.outlook.settings import OutlookSettings
from calbridge.bridges.pacing import Pacer, SlotLedger
from calbridge.bridges.registry import register
from calbridge.config import Settings, SettingsModel
from calbridge.errors import (
    AlreadyExists,
    AuthError,
    CalbridgeError,
    CalendarNotFound,
    NotFound,
    SyncStateExpired,
    UpstreamError,
    ValidationFailed,
)
from calbridge.model import Event, EventField, EventKind, EventOrigin, utcnow

log = logging.getLogger(__name__)

# Both preferences in one header (RFC 7240 allows a comma-separated list): instants in UTC
# (the original zone is still in originalStartTimeZone) and ids that survive moves.
PREFER = 'outlook.timezone="UTC", IdType="ImmutableId"'
SUBSCRIPTION_MAX_MINUTES = 10_070  # Outlook events: under 7 days (10,080 minutes)
_RESYNC_CODES = frozenset({"syncstatenotfound", "syncstateinvalid", "resyncrequired"})
_MALFORMED_ID_CODES = frozenset({"errorinvalididmalformed", "errorinvalidid"})
# Graph's answers when the mailbox itself is missing (no such user, or a user without an
# Exchange Online mailbox): the calendar is gone, not one event in it.
_MAILBOX_MISSING_CODES = frozenset({"errorinvaliduser", "mailboxnotenabledforrestapi",
                                    "errornonexistentmailbox", "request_resourcenotfound"})
# A mapping's check must answer at once: one attempt, and an unanswered check is repeated
# by the next run.
CHECK_ATTEMPTS = 1


class _Resync(Exception):
    """The delta link expired (410 / syncStateNotFound)."""


@register
class OutlookBridge(CalendarBridge):
    """Microsoft Graph: rooms from Places, events through calendarView, delta, `$batch`."""

    type_name: ClassVar[str] = "outlook"
    capabilities: ClassVar[Capabilities] = Capabilities(
        write=True, delta=True, push=True, recurrence=True, batch=True, tombstones=True)
    settings_model: ClassVar[type[SettingsModel] | None] = OutlookSettings
    # Graph subscriptions are renewed in place; each notification carries the
    # subscription's clientState, and a new notification URL is proved by echoing the
    # validationToken Graph sends to it.
    push: ClassVar[PushSemantics] = PushSemantics(
        subscriptions=True, renewal_keeps_id=True, client_state=True,
        handshake_parameter="validationToken", lifecycle=LIFECYCLE_EVENTS)

    def __init__(self, name: str, settings: OutlookSettings, graph: GraphClient) -> None:
        super().__init__(name)
        self.settings = settings
        self.graph = graph

    @classmethod
    def from_settings(cls, name: str, settings: Settings) -> OutlookBridge:
        outlook = OutlookSettings.from_env(settings.instance_env(name, cls.type_name))
        tokens = GraphTokens(outlook, timeout=settings.http_timeout_seconds)
        http = HttpClient(cls.type_name, timeout=settings.http_timeout_seconds,
                          verify=outlook.ca_bundle or True)
        pacer = Pacer(cls.type_name, outlook.max_concurrency, outlook.requests_per_10_min,
                      WINDOW_SECONDS)
        return cls(name, outlook, GraphClient(outlook.graph_base_url, tokens, http, pacer))

    # ------------------------------------------------------------ helpers

    def _events_url(self, mailbox: str, *tail: str) -> str:
        path = "/".join(path_segment(part) for part in tail)
        return self.graph.url(f"/users/{path_segment(mailbox)}/events" + (f"/{path}" if path
                                                                           else ""))

    def _relative(self, url: str) -> str:
        return url[len(self.graph.base_url):]

    @contextmanager
    def _mailbox(self, mailbox: str) -> Iterator[None]:
        """Graph's "no such mailbox" from any call naming `mailbox` is `CalendarNotFound`."""
        try:
            yield
        except CalendarNotFound:
            raise
        except NotFound as exc:
            code = str(exc.details.get("code") or "")
            if code.lower() not in _MAILBOX_MISSING_CODES:
                raise
            raise CalendarNotFound(f"{self.name}: mailbox {mailbox!r} does not exist ({code})",
                                   bridge=self.name, calendar_id=mailbox) from None

    def _event(self, data: dict[str, Any], mailbox: str, marker: str | None = None) -> Event:
        try:
            event = event_from_graph(data, mailbox)
        except (KeyError, TypeError, ValueError) as exc:
            raise UpstreamError(f"{self.type_name}: malformed event from Graph "
                                f"({type(exc).__name__})") from None
        if event.marker is None and marker:
            event = event.model_copy(update={"marker": marker})
        return event

    # ------------------------------------------------------------ calendars

    def list_calendars(self) -> list[Calendar]:
        if self.settings.calendar_source == "mailboxes":
            return self._configured_mailboxes()
        url = with_query(self.graph.url("/places/microsoft.graph.room"),
                         {"$top": self.settings.page_size})
        first = self.graph.request("GET", url, ok=(403, 404))
        if first.status_code in (403, 404):
            # Places needs Place.Read.All: without it, the configured mailboxes are the list.
            error = _error(first, f"{self.type_name}: GET places")
            log.warning("rooms not listed", extra={"bridge": self.name, "error": str(error)})
            if not self.settings.mailbox_list:
                raise error
            return self._configured_mailboxes()
        page = json_body(first)
        calendars = self._rooms(page)
        link = page.get("@odata.nextLink")
        if link:
            for page in self.graph.pages(str(link)):
                calendars.extend(self._rooms(page))
        return calendars

    @staticmethod
    def _rooms(page: dict[str, Any]) -> list[Calendar]:
        rooms = (calendar_from_room(room) for room in page.get("value") or []
                 if isinstance(room, dict))
        return [room for room in rooms if room is not None]

    def _configured_mailboxes(self) -> list[Calendar]:
        return [Calendar(id=m, name=m, kind="calendar", email=m)
                for m in self.settings.mailbox_list]

    # ------------------------------------------------------------ reading

    def canonical_calendar_id(self, calendar_id: str) -> str:
        """A mailbox is named by its address (user principal name or SMTP address) or its
        object id, in which Exchange ignores letter case."""
        return calendar_id.lower()

    def calendar_exists(self, calendar_id: str) -> bool:
        """`GET /users/{mailbox}/calendar`: Graph answers 404 (`ErrorInvalidUser`) for a
        mailbox it does not know."""
        url = with_query(self.graph.url(f"/users/{path_segment(calendar_id)}/calendar"),
                         {"$select": "id"})
        response = self.graph.request("GET", url, mailbox=calendar_id, ok=(400, 404),
                                      max_attempts=CHECK_ATTEMPTS)
        code = (upstream_code(response) or "").lower()
        if response.status_code == 404 or code in _MAILBOX_MISSING_CODES:
            return False
        if response.status_code >= 400:
            raise _error(response, f"{self.type_name}: GET calendar")
        return True

    def list_events(self, calendar_id: str, window: TimeWindow) -> Iterator[Event]:
        url = with_query(self.graph.url(f"/users/{path_segment(calendar_id)}/calendarView"), {
            "startDateTime": iso_utc(window.start), "endDateTime": iso_utc(window.end),
            "$top": self.settings.page_size, "$expand": marker_expand()})
        with self._mailbox(calendar_id):
            for page in self.graph.pages(url, mailbox=calendar_id, headers={"Prefer": PREFER}):
                for item in page.get("value") or []:
                    if isinstance(item, dict):
                        yield self._event(item, calendar_id)

    def get_event(self, calendar_id: str, event_id: str) -> Event | None:
        url = with_query(self._events_url(calendar_id, event_id), {"$expand": marker_expand()})
        with self._mailbox(calendar_id):
            response = self.graph.request("GET", url, mailbox=calendar_id,
                                          headers={"Prefer": PREFER}, ok=(400, 404))
            if _is_missing(response.status_code, upstream_code(response)):
                return None
            if response.status_code >= 400:
                raise _error(response, f"{self.type_name}: GET event")
        return self._event(json_body(response), calendar_id)

    def get_events(self, calendar_id: str, event_ids: Sequence[str]) -> list[ReadResult]:
        """The reads through `$batch` (20 per request), each part the GET of `get_event`
        (marker expanded, UTC instants, immutable ids): a part answered 404 is an event
        that is gone, a part answered 429 is sent again after its own `Retry-After`, as
        `apply`'s writes are."""
        if not event_ids:
            return []
        parts = [BatchRequest(method="GET", url=self._relative(with_query(
                     self._events_url(calendar_id, event_id), {"$expand": marker_expand()})),
                     headers={"Prefer": PREFER}) for event_id in event_ids]
        with self._mailbox(calendar_id):
            answers = self.graph.batch(parts, mailbox=calendar_id)
        results: list[ReadResult] = []
        for event_id, answer in zip(event_ids, answers, strict=True):
            if answer.ok and isinstance(answer.body, dict):
                results.append(ReadResult.found(event_id, self._event(answer.body,
                                                                       calendar_id)))
            elif _is_missing(answer.status, answer.code):
                results.append(ReadResult.found(event_id, None))
            else:
                results.append(ReadResult.failed(event_id, self._part_failure(
                    calendar_id, answer, f"{self.type_name}: GET event")))
        return results

    def refuses(self, event: Event) -> str | None:
        """A series whose rule has no Outlook pattern (hourly, or a day set Outlook cannot
        pick) is refused with the reason; the engine then writes its occurrences."""
        if event.kind is not EventKind.SERIES:
            return None
        if event.recurrence is None:
            return "the series' rule could not be read"
        try:
            graph_recurrence(event, event.timezone)
        except ValidationFailed as exc:
            return getattr(exc, "reason", None) or exc.message
        return None

    def instances(self, calendar_id: str, series_id: str, window: TimeWindow) -> list[Event]:
        """`GET …/events/{id}/instances`: the series' occurrences and exceptions in the
        window (Graph leaves cancelled ones out)."""
        url = with_query(self._events_url(calendar_id, series_id, "instances"), {
            "startDateTime": iso_utc(window.start), "endDateTime": iso_utc(window.end),
            "$top": self.settings.page_size, "$expand": marker_expand()})
        found: list[Event] = []
        with self._mailbox(calendar_id):
            first = self.graph.request("GET", url, mailbox=calendar_id,
                                       headers={"Prefer": PREFER}, ok=(400, 404))
            if _is_missing(first.status_code, upstream_code(first)):
                return []
            if first.status_code >= 400:
                raise _error(first, f"{self.type_name}: GET instances")
            page = json_body(first)
            pages = [page]
            if page.get("@odata.nextLink"):
                pages = [page, *self.graph.pages(str(page["@odata.nextLink"]),
                                                 mailbox=calendar_id, headers={"Prefer": PREFER})]
            for each in pages:
                for item in each.get("value") or []:
                    if isinstance(item, dict):
                        event = self._event(item, calendar_id)
                        found.append(event if event.series_id else event.model_copy(
                            update={"series_id": series_id}))
        return found

    def find_by_marker(self, calendar_id: str, marker: str,
                       origin: EventOrigin | None = None) -> Event | None:
        with self._mailbox(calendar_id):
            page = json_body(self.graph.request("GET", self._marker_url(calendar_id, marker),
                                                mailbox=calendar_id,
                                                headers={"Prefer": PREFER}))
        return self._marked(calendar_id, marker, page)

    def find_by_markers(self, calendar_id: str,
                        markers: Sequence[tuple[str, EventOrigin | None]]) -> list[ReadResult]:
        """The look-ups through `$batch` (20 per request), each part the GET of
        `find_by_marker`: a redelivered batch of creates looks its copies up in a request
        or two instead of one each."""
        if not markers:
            return []
        parts = [BatchRequest(method="GET", url=self._relative(
                     self._marker_url(calendar_id, marker)), headers={"Prefer": PREFER})
                 for marker, _ in markers]
        with self._mailbox(calendar_id):
            answers = self.graph.batch(parts, mailbox=calendar_id)
        results: list[ReadResult] = []
        for (marker, _), answer in zip(markers, answers, strict=True):
            if answer.ok and isinstance(answer.body, dict):
                results.append(ReadResult.found(marker, self._marked(
                    calendar_id, marker, answer.body)))
            else:
                results.append(ReadResult.failed(marker, self._part_failure(
                    calendar_id, answer, f"{self.type_name}: GET events by marker")))
        return results

    def _marker_url(self, calendar_id: str, marker: str) -> str:
        return with_query(self._events_url(calendar_id), {
            "$filter": marker_filter(marker), "$expand": marker_expand(), "$top": 2})

    def _marked(self, calendar_id: str, marker: str, page: dict[str, Any]) -> Event | None:
        """The event of a page of events filtered by marker (the first, if several)."""
        found = [item for item in page.get("value") or [] if isinstance(item, dict)]
        if len(found) > 1:
            log.warning("marker on several events", extra={"bridge": self.name,
                                                            "calendar": calendar_id})
        return self._event(found[0], calendar_id, marker) if found else None

    # ------------------------------------------------------------ changes (delta)

    def changes(self, calendar_id: str, cursor: str | None, window: TimeWindow) -> ChangeSet:
        return ChangeSet.joined(self.change_parts(calendar_id, cursor, window))

    def read_wait(self, calendar_id: str) -> float:
        """A page costs one request and, at most, one read of each event it names."""
        return self.graph.pacer.wait_for(calendar_id, self.settings.page_size + 1)

    def write_wait(self, calendar_id: str, writes: int) -> float:
        """Each write, alone or in a `$batch`, counts as one request."""
        return self.graph.pacer.wait_for(calendar_id, max(1, writes))

    def change_parts(self, calendar_id: str, cursor: str | None, window: TimeWindow,
                     resume: str | None = None) -> Iterator[ChangeSet]:
        """A delta round from the stored delta link, or a full round (no cursor, an expired
        or foreign delta link) streamed one page at a time, so a complete read never holds
        the whole calendar. Each page of a full round but its last names its nextLink, from
        which `resume` takes the round up again (Graph keeps a round's state in its
        `$skiptoken`)."""
        with self._mailbox(calendar_id):
            if resume is not None:
                # Only a nextLink of this endpoint is followed: it is sent with our token.
                if not self.graph.owns(resume):
                    raise SyncStateExpired(f"{self.type_name}: not a position of this endpoint")
                try:
                    yield from self._delta(calendar_id, resume, complete=True)
                except _Resync:
                    raise SyncStateExpired(
                        f"{self.type_name}: the round to take up has expired") from None
                return
            if cursor is not None and not self.graph.owns(cursor):
                # A delta link of another Graph endpoint (the setting changed since it was
                # stored): never followed, a full round starts instead.
                log.info("stored delta link is not of this Graph endpoint, full sync",
                         extra={"bridge": self.name, "calendar": calendar_id})
                cursor = None
            if cursor is not None:
                try:
                    # Changes since a delta link are few: read as one part.
                    yield ChangeSet.joined(self._delta(calendar_id, cursor, complete=False))
                    return
                except _Resync:
                    log.info("delta link expired, full sync", extra={
                        "bridge": self.name, "calendar": calendar_id})
            initial = with_query(
                self.graph.url(f"/users/{path_segment(calendar_id)}/calendarView/delta"),
                {"startDateTime": iso_utc(window.start), "endDateTime": iso_utc(window.end)})
            try:
                yield from self._delta(calendar_id, initial, complete=True)
            except _Resync:
                raise SyncStateExpired(
                    f"{self.type_name}: a fresh delta round was refused") from None

    def _delta(self, mailbox: str, url: str, *, complete: bool) -> Iterator[ChangeSet]:
        """Run one delta round from `url` to its deltaLink, a part per page; changed events
        are read again in full (delta answers carry no extended properties, so no marker).
        The last part carries the deltaLink."""
        headers = {"Prefer": f"{PREFER}, odata.maxpagesize={self.settings.page_size}"}
        next_url: str | None = url
        delta_link: str | None = None
        while next_url:
            response = self.graph.request("GET", next_url, mailbox=mailbox, headers=headers,
                                          ok=(400, 404, 410))
            status, code = response.status_code, (upstream_code(response) or "").lower()
            if status == 410 or (status >= 400 and code in _RESYNC_CODES):
                raise _Resync()
            if status >= 400:
                raise _error(response, f"{self.type_name}: GET calendarView/delta")
            page = json_body(response)
            latest: dict[str, bool] = {}  # id → removed; the page's last word on each
            for item in page.get("value") or []:
                if isinstance(item, dict) and item.get("id"):
                    event_id = str(item["id"])
                    latest.pop(event_id, None)  # keep the order of the last change
                    latest[event_id] = "@removed" in item
            next_url = page.get("@odata.nextLink")
            delta_link = page.get("@odata.deltaLink") or delta_link
            part = self._read_again(mailbox, [i for i, gone in latest.items() if not gone],
                                    [i for i, gone in latest.items() if gone])
            part.resume = str(next_url) if next_url and complete else None
            yield part
        if not delta_link:
            raise UpstreamError(f"{self.type_name}: delta round ended without a deltaLink")
        yield ChangeSet(cursor=str(delta_link), complete=complete)

    def _read_again(self, mailbox: str, changed_ids: list[str],
                    deleted: list[str]) -> ChangeSet:
        """The changed events of one delta page read in full (`get_events`); one gone again
        since the delta answer is a deletion."""
        changed: list[Event] = []
        for read in self.get_events(mailbox, changed_ids):
            event = read.current()
            if event is None:
                deleted.append(read.event_id)  # gone again since the delta answer
            else:
                changed.append(event)
        return ChangeSet(changed=changed, deleted=deleted)

    # ------------------------------------------------------------ writing

    def create(self, calendar_id: str, event: Event, idempotency_key: str) -> Event:
        # The transactionId makes a repeated POST harmless, so timeouts may be retried.
        with self._mailbox(calendar_id):
            response = self.graph.request("POST", self._events_url(calendar_id),
                                          json=self._create_body(event, idempotency_key),
                                          mailbox=calendar_id, headers={"Prefer": PREFER},
                                          ok=(409,), idempotent=True)
        if response.status_code == 409:
            return self._duplicate(calendar_id, event)
        return self._event(json_body(response), calendar_id, event.marker)

    def _create_body(self, event: Event, idempotency_key: str) -> dict[str, Any]:
        """A POST body carrying the transactionId and calbridge's marker."""
        return event_to_graph(event, idempotency_key=idempotency_key,
                              with_attendees=self.settings.write_attendees,
                              organizer_as_attendee=self.settings.organizer_as_attendee)

    def _duplicate(self, calendar_id: str, event: Event) -> Event:
        """A create refused as a duplicate (409) is the event already written: found by
        its marker."""
        existing = self.find_by_marker(calendar_id, event.marker) if event.marker else None
        if existing is None:
            raise AlreadyExists(f"{self.type_name}: create refused as a duplicate")
        return existing

    def _patch(self, event: Event, etag: str | None,
               fields: frozenset[EventField] | None) -> tuple[dict[str, Any], dict[str, str]]:
        """The PATCH body (only `fields`, when named) and its headers (If-Match for `etag`)."""
        headers = {"Prefer": PREFER}
        if etag:
            headers["If-Match"] = _if_match(etag)
        return event_to_graph(event, with_attendees=self.settings.write_attendees,
                              fields=fields), headers

    def update(self, calendar_id: str, event_id: str, event: Event,
               etag: str | None = None,
               fields: frozenset[EventField] | None = None) -> Event:
        body, headers = self._patch(event, etag, fields)
        if not body:  # nothing Graph can carry changed
            current = self.get_event(calendar_id, event_id)
            if current is None:
                raise NotFound(f"{self.type_name}: no event {event_id!r}")
            return current
        # Without If-Match a PATCH is idempotent; with it, a retry could trip on itself.
        with self._mailbox(calendar_id):
            response = self.graph.request("PATCH", self._events_url(calendar_id, event_id),
                                          json=body, mailbox=calendar_id, headers=headers,
                                          idempotent=etag is None)
        return self._event(json_body(response), calendar_id, event.marker)

    def delete(self, calendar_id: str, event_id: str) -> bool:
        with self._mailbox(calendar_id):
            response = self.graph.request("DELETE", self._events_url(calendar_id, event_id),
                                          mailbox=calendar_id, ok=(400, 404))
            if response.status_code >= 400:
                if _is_missing(response.status_code, upstream_code(response)):
                    return False
                raise _error(response, f"{self.type_name}: DELETE event")
        return True

    # ------------------------------------------------------------ batched writing

    def apply(self, calendar_id: str, ops: Sequence[WriteOp]) -> list[WriteResult]:
        """The writes through `$batch` (20 per request, no `dependsOn`: they are
        independent), each ending as `create`, `update` or `delete` would. A part answered
        429 is sent again after its own `Retry-After`, alone with the other throttled parts;
        a lost batch answer is sent again only where that is safe (creates carry their
        transactionId, deletes and PATCHes without If-Match repeat harmlessly)."""
        if not ops:
            return []
        parts = [self._write_part(calendar_id, op) for op in ops]
        with self._mailbox(calendar_id):
            answers = self.graph.batch(parts, mailbox=calendar_id)
        return [self._write_result(calendar_id, op, answer)
                for op, answer in zip(ops, answers, strict=True)]

    def _write_part(self, calendar_id: str, op: WriteOp) -> BatchRequest:
        """The `$batch` part doing what the single write does."""
        if op.kind is WriteKind.DELETE:
            return BatchRequest(method="DELETE", url=self._relative(
                self._events_url(calendar_id, op.event_id or "")))
        event = op.event
        assert event is not None  # WriteOp refuses a create or update without one
        if op.kind is WriteKind.CREATE:
            return BatchRequest(method="POST", url=self._relative(self._events_url(calendar_id)),
                                body=self._create_body(event, op.idempotency_key or ""),
                                headers={"Prefer": PREFER}, idempotent=True)
        body, headers = self._patch(event, op.etag, op.fields)
        url = self._events_url(calendar_id, op.event_id or "")
        if not body:  # nothing Graph can carry changed: the event as it is
            return BatchRequest(method="GET", url=self._relative(
                with_query(url, {"$expand": marker_expand()})), headers={"Prefer": PREFER})
        return BatchRequest(method="PATCH", url=self._relative(url), body=body,
                            headers=headers, idempotent=op.etag is None)

    def _write_result(self, calendar_id: str, op: WriteOp, answer: BatchResponse
                      ) -> WriteResult:
        where = f"{self.type_name}: {op.kind} event"
        missing = _is_missing(answer.status, answer.code)
        if op.kind is WriteKind.DELETE:
            if answer.ok or missing:
                return WriteResult.removed(op, answer.ok)
        elif answer.ok and isinstance(answer.body, dict):
            return WriteResult.written(op, self._event(answer.body, calendar_id,
                                                       op.event.marker if op.event else None))
        elif op.kind is WriteKind.CREATE and answer.status == 409 and op.event is not None:
            try:
                return WriteResult.written(op, self._duplicate(calendar_id, op.event))
            except AlreadyExists as exc:
                return WriteResult.failed(op, exc)
        return WriteResult.failed(op, self._part_failure(calendar_id, answer, where))

    def _part_failure(self, calendar_id: str, answer: BatchResponse,
                      where: str) -> CalbridgeError:
        """The error a failed `$batch` part met alone; one of the mailbox or the credentials
        concerns every part and is raised."""
        error = part_error(answer, where)
        if isinstance(error, AuthError) or (answer.code or "").lower() in _MAILBOX_MISSING_CODES:
            with self._mailbox(calendar_id):
                raise error
        return error

    # ------------------------------------------------------------ health

    def health(self) -> BridgeHealth:
        return signed_in_health(self.graph.tokens.token, self._reach_calendars)

    def _reach_calendars(self) -> list[Calendar]:
        calendars = self.list_calendars()
        if self.settings.calendar_source == "mailboxes" and self.settings.mailbox_list:
            # Configured mailboxes need no call to list: make one cheap call instead.
            mailbox = path_segment(self.settings.mailbox_list[0])
            self.graph.request("GET", with_query(self.graph.url(f"/users/{mailbox}/calendar"),
                                                 {"$select": "id"}),
                               mailbox=self.settings.mailbox_list[0])
        return calendars

    # ------------------------------------------------------------ push

    def subscribe(self, calendar_id: str, notification_url: str, client_state: str,
                  expires_at: datetime, lifecycle_url: str | None = None) -> PushSubscription:
        body: dict[str, Any] = {
            "changeType": "created,updated,deleted",
            "notificationUrl": notification_url,
            "resource": f"users/{calendar_id}/events",
            "expirationDateTime": iso_utc(clamp_expiry(expires_at, utcnow(),
                                                       SUBSCRIPTION_MAX_MINUTES)),
            "clientState": client_state,
        }
        if lifecycle_url:
            body["lifecycleNotificationUrl"] = lifecycle_url
        # With the IdType preference the notifications carry immutable ids, like ours.
        response = self.graph.request("POST", self.graph.url("/subscriptions"), json=body,
                                      headers={"Prefer": 'IdType="ImmutableId"'}, ok=(400,))
        if response.status_code == 400:
            if _handshake_failed(response):
                # Our own endpoint's fault (WEBHOOK_BASE_URL), not the calendar's.
                raise UpstreamError(
                    f"{self.type_name}: Graph could not validate the notification URL "
                    f"(WEBHOOK_BASE_URL) ({upstream_code(response)})",
                    details={"status": 400, "code": upstream_code(response)})
            raise _error(response, f"{self.type_name}: POST /subscriptions")
        return subscription_from_graph(json_body(response))

    def renew(self, subscription_id: str, expires_at: datetime) -> PushSubscription:
        body = {"expirationDateTime": iso_utc(clamp_expiry(expires_at, utcnow(),
                                                           SUBSCRIPTION_MAX_MINUTES))}
        response = self.graph.request(
            "PATCH", self.graph.url(f"/subscriptions/{path_segment(subscription_id)}"),
            json=body, idempotent=True)
        return subscription_from_graph(json_body(response))

    def unsubscribe(self, subscription_id: str, resource: str | None = None) -> None:
        self.graph.request("DELETE",
                           self.graph.url(f"/subscriptions/{path_segment(subscription_id)}"),
                           ok=(404,))

    def parse_notification(self, headers: Mapping[str, str], body: Any) -> list[ChangeNotice]:
        return parse_notifications(body)

    def share_pacing(self, ledger: SlotLedger) -> None:
        # Graph's limits are per app and mailbox: the app's id scopes the shared slots.
        self.graph.pacer.share(ledger, scope=self.settings.client_id)

    def describe(self) -> dict[str, Any]:
        described = super().describe()
        described.update({"graph_base_url": self.settings.graph_base_url,
                          "tenant_id": self.settings.tenant_id})
        return described


def _is_missing(status: int, code: str | None) -> bool:
    """Graph's answers for an event that is not there: 404, or 400 for an id that cannot
    exist (ErrorInvalidIdMalformed) — but not a 404 for the mailbox itself."""
    lowered = (code or "").lower()
    if lowered in _MAILBOX_MISSING_CODES:
        return False
    return status == 404 or (status == 400 and lowered in _MALFORMED_ID_CODES)


def _handshake_failed(response: requests.Response) -> bool:
    """Graph's 400 for a notification URL that failed the validation handshake: code
    ValidationError, or InvalidRequest "Subscription validation request timed out"."""
    if upstream_code(response) == "ValidationError":
        return True
    try:
        message = str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return False
    return "validation request" in message.lower()


def _if_match(etag: str) -> str:
    """Graph's ETag for a changeKey is `W/"<changeKey>"`."""
    return etag if etag.startswith(('W/"', '"')) else f'W/"{etag}"'


def _error(response: requests.Response, where: str) -> Exception:
    return error_for_status(response.status_code, where, upstream_code(response))

