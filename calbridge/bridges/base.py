"""The one interface every calendar system implements.

Every method names the project error it raises (`calbridge.errors`); adapters never
let `requests`, `msal` or SDK exceptions escape. Calendar ids are the system's own:
a mailbox address for Outlook, a resource id for the booking system. A calendar that
does not exist is `CalendarNotFound` from every method that names it — never an
empty calendar, nor an event that is gone.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from functools import partial
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from calbridge.bridges.pacing import SlotLedger
from calbridge.config import DeclaredSetting, Settings, SettingsModel, declared
from calbridge.errors import (
    AuthError,
    CalbridgeError,
    CalendarNotFound,
    SyncStateExpired,
    UpstreamUnavailable,
)
from calbridge.model import Event, EventField, EventOrigin


class Capabilities(BaseModel):
    """What a calendar system can do; the engine and the API read these."""

    model_config = {"frozen": True}

    write: bool = True
    delta: bool = False
    push: bool = False
    recurrence: bool = False
    batch: bool = False
    tombstones: bool = False
    # A booking system: its calendars are bookable resources and its events bookings
    # (the usage guide's booking mappings have such a bridge at end `a`).
    bookings: bool = False
    # A new series is created with its exceptions in the same write (CalDAV: RECURRENCE-ID
    # overrides in the series' resource), instead of a write for each after it.
    exceptions_with_series: bool = False
    # Its change feed may leave out an event made and deleted between two reads (RFC 6578
    # lets a CalDAV server): the copies calbridge makes there are noted on that end's
    # cursor, and the next read looks up those it does not name.
    omits_short_lived: bool = False


class LifecycleAction(StrEnum):
    """What a lifecycle notification asks of calbridge."""

    REAUTHORIZE = "reauthorize"  # renew the subscription now (re-create it when it is gone)
    RECREATE = "recreate"  # the subscription is gone: open another, then catch up
    RESYNC = "resync"  # notifications were lost: catch up from the cursor


class PushSemantics(BaseModel):
    """How an adapter's push notifications work. The webhook and subscription services read
    this instead of knowing which calendar system they talk to."""

    model_config = ConfigDict(frozen=True)

    # calbridge opens a subscription (a channel) for every mapped calendar and keeps it
    # alive: the adapter implements `subscribe` and `unsubscribe`, and `renew` when
    # `renewal_keeps_id`.
    subscriptions: bool = False
    # A renewal extends the same subscription under its id (Graph). False: a subscription
    # cannot be extended, so renewing opens a new channel under a new id and stops the old
    # one (as Google Calendar channels are renewed).
    renewal_keeps_id: bool = True
    # Every notice names its subscription and carries that subscription's client state,
    # which calbridge compares in constant time with the one it keeps. False: the request
    # is authenticated by `parse_notification` itself (a signature over the body).
    client_state: bool = False
    # A query parameter whose value the webhook endpoint echoes as text/plain to prove it
    # is reachable (Graph's `validationToken`); None: no such handshake.
    handshake_parameter: str | None = None
    # Notifications carry everything in their headers and have an empty body (Google
    # Calendar's channel notifications): the webhook takes a request without a body.
    notice_in_headers: bool = False
    # Every notice also names the resource its subscription was opened on (Google's
    # `X-Goog-Resource-ID`, the `resourceId` of the watch answer): a notice naming no
    # resource, or another than the stored subscription's, is ignored like a forged client
    # state. False where notices name the changed item instead (Graph's `resource`).
    notice_names_resource: bool = False
    # The lifecycle events the adapter's notices carry as `change_type`, and what each asks.
    lifecycle: dict[str, LifecycleAction] = Field(default_factory=dict)


class Calendar(BaseModel):
    """A calendar (or bookable resource) a bridge can sync."""

    id: str
    name: str
    kind: Literal["room", "user", "resource", "calendar"] = "calendar"
    email: str | None = None
    capacity: int | None = None


class TimeWindow(BaseModel):
    start: datetime
    end: datetime


class ChangeSet(BaseModel):
    """What changed in a calendar since a cursor.

    `complete` is true when `changed` is a full listing of the window (initial sync or
    a restart after an expired cursor): only then may absent events be treated as deleted.
    `unreadable` names what the calendar holds but could not be read as events (an id,
    why): it is left as it is, never taken for deleted, and reported as skipped.
    """

    changed: list[Event] = Field(default_factory=list)
    deleted: list[str] = Field(default_factory=list)
    cursor: str | None = None
    complete: bool = False
    # A part of a read that goes on (`CalendarBridge.change_parts`): where the rest of it
    # can be read from later (Graph's `@odata.nextLink`), so a run out of time stops here.
    resume: str | None = None
    unreadable: dict[str, str] = Field(default_factory=dict)

    @classmethod
    def joined(cls, parts: Iterable[ChangeSet]) -> ChangeSet:
        """The parts of one read (`CalendarBridge.change_parts`) as one change set: an
        event named by several parts is as the last of them says, changed or deleted."""
        parts = list(parts)
        if len(parts) == 1:
            return parts[0]
        changed: dict[str, Event] = {}
        deleted: dict[str, None] = {}
        cursor, complete = None, False
        unreadable: dict[str, str] = {}
        for part in parts:
            unreadable |= part.unreadable
            for event in part.changed:
                key = event.id or f"#{len(changed)}"
                deleted.pop(key, None)
                changed.pop(key, None)  # keep the order of the last change
                changed[key] = event
            for gone in part.deleted:
                changed.pop(gone, None)
                deleted.pop(gone, None)
                deleted[gone] = None
            cursor, complete = part.cursor or cursor, complete or part.complete
        return cls(changed=list(changed.values()), deleted=list(deleted), cursor=cursor,
                   complete=complete, unreadable=unreadable)


class BridgeHealth(BaseModel):
    status: Literal["healthy", "degraded", "unhealthy"]
    authenticated: bool | None = None
    latency_ms: float | None = None
    calendars_available: int | None = None
    error: str | None = None
    # Why the bridge's webhooks are refused, when they are (polling still runs).
    webhooks: str | None = None

    @classmethod
    def healthy(cls, started: float, calendars: int) -> BridgeHealth:
        """A check begun at `started` (`time.perf_counter()`) that reached `calendars`."""
        return cls(status="healthy", authenticated=True, latency_ms=_elapsed_ms(started),
                   calendars_available=calendars)

    @classmethod
    def failed(cls, status: Literal["degraded", "unhealthy"], started: float, exc: Exception,
               authenticated: bool | None = None) -> BridgeHealth:
        """A check begun at `started` that `exc` stopped. Only a project error's message is
        shown: a library's may carry a URL or a secret."""
        error = exc.message if isinstance(exc, CalbridgeError) else type(exc).__name__
        return cls(status=status, authenticated=authenticated, latency_ms=_elapsed_ms(started),
                   error=error)


def _elapsed_ms(started: float) -> float:
    """Milliseconds since `started` (`time.perf_counter()`), to a tenth."""
    return round((time.perf_counter() - started) * 1000, 1)


def signed_in_health(sign_in: Callable[[], object],
                     reach: Callable[[], list[Calendar]]) -> BridgeHealth:
    """The health of a bridge that gets a token before it calls: unhealthy when `sign_in`
    fails, degraded when `reach` (listing the calendars) fails with a token, else healthy
    with how many calendars it reached. Never raises."""
    started = time.perf_counter()
    try:
        sign_in()
    except Exception as exc:  # health never raises: it reports
        return BridgeHealth.failed("unhealthy", started, exc, authenticated=False)
    try:
        calendars = reach()
    except Exception as exc:
        return BridgeHealth.failed("degraded", started, exc,
                                   authenticated=not isinstance(exc, AuthError))
    return BridgeHealth.healthy(started, len(calendars))


class PushSubscription(BaseModel):
    id: str
    resource: str
    expires_at: datetime


class Delivery(BaseModel):
    """A signed webhook delivery's identity: `id` is covered by its signature, and after
    `replayable_until` the signature check refuses a replay of it by itself. Receivers
    remember `id` until then, so a replay inside the window is accepted only once."""

    id: str
    replayable_until: datetime


class ChangeNotice(BaseModel):
    """One parsed push notification: which event of which calendar changed how, and
    the signed delivery it came in (when the adapter's webhooks carry one)."""

    subscription_id: str | None = None
    calendar_id: str | None = None
    event_id: str | None = None
    change_type: str = "updated"
    client_state: str | None = Field(default=None, repr=False)
    # The resource the subscription watches, as the notice names it (read only when the
    # adapter declares `PushSemantics.notice_names_resource`).
    subscription_resource: str | None = None
    delivery: Delivery | None = None


class WriteKind(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


class WriteOp(BaseModel):
    """One write of `CalendarBridge.apply`, with the arguments `create`, `update` or
    `delete` take; build it with the constructor named after the write."""

    model_config = ConfigDict(frozen=True)

    kind: WriteKind
    event: Event | None = None
    event_id: str | None = None
    idempotency_key: str | None = None
    etag: str | None = None
    fields: frozenset[EventField] | None = None

    @model_validator(mode="after")
    def _complete(self) -> WriteOp:
        needs = {WriteKind.CREATE: ("event", "idempotency_key"),
                 WriteKind.UPDATE: ("event_id", "event"),
                 WriteKind.DELETE: ("event_id",)}[self.kind]
        missing = [name for name in needs if not getattr(self, name)]
        if missing:
            raise ValueError(f"a {self.kind} needs {', '.join(missing)}")
        return self

    @classmethod
    def create(cls, event: Event, idempotency_key: str) -> WriteOp:
        return cls(kind=WriteKind.CREATE, event=event, idempotency_key=idempotency_key)

    @classmethod
    def update(cls, event_id: str, event: Event, etag: str | None = None,
               fields: frozenset[EventField] | None = None) -> WriteOp:
        return cls(kind=WriteKind.UPDATE, event_id=event_id, event=event, etag=etag,
                   fields=fields)

    @classmethod
    def delete(cls, event_id: str) -> WriteOp:
        return cls(kind=WriteKind.DELETE, event_id=event_id)


class WriteResult(BaseModel):
    """What became of one `WriteOp`: the event as written (create, update: its id and
    etag), whether a delete removed something (False: it was already gone), or the
    project error that op alone met."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    op: WriteOp
    event: Event | None = None
    deleted: bool | None = None
    error: CalbridgeError | None = None

    @classmethod
    def written(cls, op: WriteOp, event: Event) -> WriteResult:
        return cls(op=op, event=event)

    @classmethod
    def removed(cls, op: WriteOp, deleted: bool) -> WriteResult:
        return cls(op=op, deleted=deleted)

    @classmethod
    def failed(cls, op: WriteOp, error: CalbridgeError) -> WriteResult:
        return cls(op=op, error=error)

    @property
    def ok(self) -> bool:
        return self.error is None


class ReadResult(BaseModel):
    """What `CalendarBridge.get_events` found under one id: the event, None when it does not
    exist (any more), or the project error that read alone met."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    event_id: str
    event: Event | None = None
    error: CalbridgeError | None = None

    @classmethod
    def found(cls, event_id: str, event: Event | None) -> ReadResult:
        return cls(event_id=event_id, event=event)

    @classmethod
    def failed(cls, event_id: str, error: CalbridgeError) -> ReadResult:
        return cls(event_id=event_id, error=error)

    def current(self) -> Event | None:
        """The event as read (None: gone); raises the error the read met."""
        if self.error is not None:
            raise self.error
        return self.event


Item = TypeVar("Item")
Result = TypeVar("Result")


def _one_by_one(items: Sequence[Item], call: Callable[[Item], Result],
                             failed: Callable[[Item, CalbridgeError], Result]) -> list[Result]:
    """`call` for every item in turn, a project error becoming that item's `failed` result:
    `CalendarNotFound` and `AuthError` concern every item and are raised; once the system is
    unavailable, the items not yet sent are not sent and carry that error."""
    results: list[Result] = []
    unavailable: UpstreamUnavailable | None = None
    for item in items:
        if unavailable is not None:
            results.append(failed(item, unavailable))
            continue
        try:
            results.append(call(item))
        except (CalendarNotFound, AuthError):
            raise
        except UpstreamUnavailable as exc:
            unavailable = exc
            results.append(failed(item, exc))
        except CalbridgeError as exc:
            results.append(failed(item, exc))
    return results


class CalendarBridge(ABC):
    """Adapter for one calendar system, configured under a bridge name."""

    type_name: ClassVar[str]
    capabilities: ClassVar[Capabilities]
    # The pydantic model of this adapter's own settings (fields aliased to the environment
    # names, secrets marked with `calbridge.config.SECRET`); see `declared_settings`. A
    # `SettingsModel`, so an unresolved Key Vault reference is refused like a bad value.
    settings_model: ClassVar[type[SettingsModel] | None] = None
    # How its push notifications work (the default: none calbridge subscribes to, and
    # `parse_notification`, where implemented, authenticates each request itself).
    push: ClassVar[PushSemantics] = PushSemantics()
    # A poll timer of its own (a setting holding its NCRONTAB schedule, with the default):
    # its calendars are polled on that schedule instead of `POLL_SCHEDULE`'s. None: the
    # shared poll timer reads them.
    poll_schedule: ClassVar[DeclaredSetting | None] = None

    def __init__(self, name: str) -> None:
        self.name = name

    @classmethod
    def declared_settings(cls) -> list[DeclaredSetting]:
        """The settings this adapter reads. An instance named other than its type
        (`outlook_eu=outlook`) reads each as `OUTLOOK_EU__<SETTING>` first; log redaction
        masks the secret ones in either form, and the deployment keeps them in Key Vault.
        The poll schedule is the type's own: one timer polls every instance of it."""
        found = declared(cls.settings_model) if cls.settings_model is not None else []
        return found + ([cls.poll_schedule] if cls.poll_schedule is not None else [])

    @classmethod
    @abstractmethod
    def from_settings(cls, name: str, settings: Settings) -> CalendarBridge:
        """Build from settings; raises `ConfigurationError` naming a missing setting."""

    @abstractmethod
    def list_calendars(self) -> list[Calendar]:
        """All calendars/resources. Raises `UpstreamError`, `AuthError`."""

    def canonical_calendar_id(self, calendar_id: str) -> str:
        """The one spelling of a calendar id this system treats as the same calendar as
        `calendar_id` (e.g. a mailbox address in any letter case): a mapping stores it, so
        one calendar cannot be mapped twice under two spellings. As given, by default."""
        return calendar_id

    @abstractmethod
    def calendar_exists(self, calendar_id: str) -> bool:
        """Whether the system has this calendar (a mailbox, a resource). Raises
        `UpstreamUnavailable` when the system cannot be reached, `AuthError` when it
        refuses to say: only a definite answer is True or False."""

    @abstractmethod
    def list_events(self, calendar_id: str, window: TimeWindow) -> Iterator[Event]:
        """Every event overlapping the window, all pages. Raises `CalendarNotFound` for
        an unknown calendar, `UpstreamError`."""

    @abstractmethod
    def get_event(self, calendar_id: str, event_id: str) -> Event | None:
        """One event, or None when it does not exist (any more)."""

    def get_events(self, calendar_id: str, event_ids: Sequence[str]) -> list[ReadResult]:
        """Many events of one calendar: one result per id, in the same order, each as
        `get_event` would have ended; failures as `apply` reports them (one id's own, or
        raised for all). Systems with batch writes (`capabilities.batch`) read several
        events per request."""
        return _one_by_one(event_ids, lambda event_id: ReadResult.found(
            event_id, self.get_event(calendar_id, event_id)), ReadResult.failed)

    @abstractmethod
    def find_by_marker(self, calendar_id: str, marker: str,
                       origin: EventOrigin | None = None) -> Event | None:
        """The event calbridge wrote with this marker (link id), or, in systems that keep
        an origin instead, from this origin, if any: the look-up before re-creating after
        a crash or timeout."""

    def find_by_markers(self, calendar_id: str,
                        markers: Sequence[tuple[str, EventOrigin | None]]) -> list[ReadResult]:
        """`find_by_marker` for many (marker, origin) pairs of one calendar: one result per
        marker, in the same order, its `event_id` the marker; failures as `get_events`
        reports them. Systems with batch writes look several up per request."""
        return _one_by_one(markers, lambda item: ReadResult.found(
            item[0], self.find_by_marker(calendar_id, *item)),
            lambda item, error: ReadResult.failed(item[0], error))

    def instances(self, calendar_id: str, series_id: str, window: TimeWindow) -> list[Event]:
        """The occurrences and exceptions of a series inside the window (cancelled ones
        left out), each with its `series_id` and `original_start`; [] when the series is
        gone. Systems with recurrence implement it; `list_events` and `changes` of such
        systems give occurrences and exceptions, never the series itself."""
        raise NotImplementedError(f"{self.type_name} has no recurring series")

    def refuses(self, event: Event) -> str | None:
        """Why this system cannot hold the event as it is (a recurrence rule it has no
        way to express), or None. The engine then writes the series one occurrence at a
        time and records the reason."""
        if event.recurrence is not None and not self.capabilities.recurrence:
            return f"{self.type_name} has no recurring series"
        return None

    def calendar_of(self, event_id: str) -> str | None:
        """Which calendar holds an event, or None when it does not exist. Only systems
        that address events without their calendar answer; others raise
        `NotImplementedError`."""
        raise NotImplementedError(f"{self.type_name} addresses events through a calendar")

    @abstractmethod
    def changes(self, calendar_id: str, cursor: str | None, window: TimeWindow) -> ChangeSet:
        """Changes since `cursor` (None: a complete listing plus a fresh cursor).
        Raises `SyncStateExpired` when the cursor is no longer valid."""

    def read_wait(self, calendar_id: str) -> float:
        """Seconds the next part of a read of the calendar would wait for the calendar
        system's request budget (0 for systems calbridge does not pace), so a run with a
        deadline stops before a wait it has no time for."""
        return 0.0

    def write_wait(self, calendar_id: str, writes: int) -> float:
        """Seconds `writes` writes to the calendar would wait for the calendar system's
        request budget (0 for systems calbridge does not pace), so queued work with a
        deadline is put off instead of waiting out a budget it has no time for."""
        return 0.0

    def change_parts(self, calendar_id: str, cursor: str | None, window: TimeWindow,
                     resume: str | None = None) -> Iterator[ChangeSet]:
        """`changes` in parts, read as they are consumed, so a complete listing of a large
        calendar is never held at once: only the last part carries the cursor and
        `complete`; an event a later part names again is as that part says. A part after
        which the read can be taken up later says where (`ChangeSet.resume`); `resume` takes
        a read up from such a position (`SyncStateExpired` when it can no longer be).
        Systems that read a page at a time override it; the default is one part."""
        if resume is not None:
            raise SyncStateExpired(f"{self.type_name} reads its changes in one part")
        yield self.changes(calendar_id, cursor, window)

    @abstractmethod
    def create(self, calendar_id: str, event: Event, idempotency_key: str) -> Event:
        """Create with calbridge's marker (`event.marker`); retrying with the same
        `idempotency_key` never makes a second event. Returns it with its id and etag."""

    @abstractmethod
    def update(self, calendar_id: str, event_id: str, event: Event,
               etag: str | None = None,
               fields: frozenset[EventField] | None = None) -> Event:
        """Write the event's `fields` (None: all of them), leaving everything else the
        event holds as it is; times in `event.native_zone` when given. Raises `NotFound`,
        `EtagConflict` (stale etag)."""

    @abstractmethod
    def delete(self, calendar_id: str, event_id: str) -> bool:
        """Delete or cancel; False when it was already gone (deleting twice is safe)."""

    def apply(self, calendar_id: str, ops: Sequence[WriteOp]) -> list[WriteResult]:
        """Carry out many writes in one calendar: one result per op, in the same order, each
        as `create`, `update` or `delete` would have ended (same idempotency, markers and
        partial updates). What fails one op (`NotFound`, `EtagConflict`, `UpstreamRejected`,
        `AlreadyExists`, `UpstreamThrottled` …) is that op's result; `CalendarNotFound` and
        `AuthError` concern every op and are raised. Once the system is unavailable (after
        retries), the ops not yet sent are not sent and carry that error. Systems with batch
        writes (`capabilities.batch`) send several ops per request."""
        return _one_by_one(ops, partial(self._write, calendar_id), WriteResult.failed)

    def _write(self, calendar_id: str, op: WriteOp) -> WriteResult:
        """One op through `create`, `update` or `delete`."""
        if op.kind is WriteKind.DELETE:
            return WriteResult.removed(op, self.delete(calendar_id, op.event_id or ""))
        event = op.event
        assert event is not None  # WriteOp refuses a create or update without one
        if op.kind is WriteKind.CREATE:
            return WriteResult.written(op, self.create(calendar_id, event,
                                                       op.idempotency_key or ""))
        return WriteResult.written(op, self.update(calendar_id, op.event_id or "", event,
                                                   etag=op.etag, fields=op.fields))

    @abstractmethod
    def health(self) -> BridgeHealth:
        """Reachability, authentication and latency. Never raises."""

    # ------------------------------------------------------------ push (optional)

    def subscribe(self, calendar_id: str, notification_url: str, client_state: str,
                  expires_at: datetime, lifecycle_url: str | None = None) -> PushSubscription:
        """Start push notifications for a calendar."""
        raise NotImplementedError(f"{self.type_name} has no push notifications")

    def renew(self, subscription_id: str, expires_at: datetime) -> PushSubscription:
        raise NotImplementedError(f"{self.type_name} has no push notifications")

    def unsubscribe(self, subscription_id: str, resource: str | None = None) -> None:
        """Stop a subscription; `resource` is the one `subscribe` returned with it (some
        systems need it to stop a channel). Stopping one already gone is not an error."""
        raise NotImplementedError(f"{self.type_name} has no push notifications")

    def parse_notification(self, headers: Mapping[str, str], body: Any) -> list[ChangeNotice]:
        """Turn a webhook request into notices, authenticating it as `push` declares.
        Raises `Unauthorized` for a request it cannot trust, `ValidationFailed` on a bad body."""
        raise NotImplementedError(f"{self.type_name} has no push notifications")

    def share_pacing(self, ledger: SlotLedger) -> None:
        """Hold the concurrent-request slots this adapter paces itself by in `ledger` too,
        so its upstream's concurrency limit holds across processes. Adapters without such a
        limit ignore it."""
        return None

    def describe(self) -> dict[str, Any]:
        """What `GET /bridges` shows about this bridge (no secrets)."""
        return {
            "name": self.name,
            "type": self.type_name,
            "capabilities": self.capabilities.model_dump(),
            "enabled": True,
        }

