"""`calendarView/delta`: paged full sync, then incremental rounds through delta links.

State tokens live server-side in a bounded cache (Outlook keeps delta tokens in a cache of
limited size too). A token the cache no longer holds, or any token after
`POST /_admin/delta/expire`, answers `410 Gone` with code `SyncStateNotFound`; when the
emulator still knows the window, a `Location` header carries a fresh initial delta URL.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from . import series
from .api import ApiRequest, ApiResponse, GraphError, iso_utc
from .calendar_api import VIEWS, preference_headers, wants_immutable_ids
from .events import render
from .routing import Router
from .timezones import output_zone

if TYPE_CHECKING:
    import datetime as dt

    from .service import GraphService
    from .store import EventRecord, Mailbox

DEFAULT_PAGE_SIZE = 10
MAX_TOKENS = 10_000


@dataclass
class DeltaRound:
    """One round of a delta sync: the window, and the event ids it reports, in order."""

    path: str
    mailbox_id: str
    calendar_id: str
    start: dt.datetime
    end: dt.datetime
    upto: int
    # (event id, immutable id, removed); series show as their occurrences and exceptions
    items: list[tuple[str, str, bool]] = field(default_factory=list)
    offset: int = 0


class DeltaTokens:
    """The server-side cache of skip and delta tokens."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tokens: OrderedDict[str, Any] = OrderedDict()
        self._expired: dict[str, tuple[str, dt.datetime, dt.datetime]] = {}

    def put(self, value: Any) -> str:
        """Store ``value`` under a new opaque token."""
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = value
            while len(self._tokens) > MAX_TOKENS:
                self._tokens.popitem(last=False)
        return token

    def get(self, token: str) -> Any:
        """The value of a live token, or None."""
        with self._lock:
            return self._tokens.get(token)

    def expired_window(self, token: str) -> tuple[str, dt.datetime, dt.datetime] | None:
        """Path and window of a token invalidated by an expiry, if remembered."""
        with self._lock:
            return self._expired.get(token)

    def expire_all(self) -> int:
        """Invalidate every token; returns how many there were."""
        with self._lock:
            count = len(self._tokens)
            for token, value in self._tokens.items():
                window = value if isinstance(value, tuple) else (value.path, value.start, value.end)
                self._expired[token] = window[:3]
            self._tokens.clear()
            return count


class DeltaApi:
    """Handlers for `.../calendarView/delta`."""

    def __init__(self, service: GraphService) -> None:
        self.service = service
        self.store = service.store
        self.tokens = DeltaTokens()

    def register(self, router: Router) -> None:
        """Add the delta routes to ``router``."""
        for view in VIEWS:
            router.add("GET", view + "/delta", self.calendar_view_delta)

    def calendar_view_delta(self, req: ApiRequest, params: dict[str, str]) -> ApiResponse:
        """GET .../calendarView/delta (initial, `$skiptoken` or `$deltatoken`)."""
        mailbox = self.store.mailbox(params["user"])
        skip, delta = req.q("$skiptoken"), req.q("$deltatoken")
        if skip or delta:
            token = skip or delta or ""
            state = self.tokens.get(token)
            if state is None or (skip and not isinstance(state, DeltaRound)) or (
                delta and not isinstance(state, tuple)
            ):
                raise self._gone(token)
            if delta:
                path, start, end, since, cal_id = state
                current = self._new_round(path, mailbox.id, cal_id, start, end, since)
            else:
                current = state
        else:
            cal = self.store.calendar(mailbox, params.get("calendar"))
            start, end = self.service.calendar.view_window(req)
            current = self._new_round(req.path, mailbox.id, cal.id, start, end, None)
        return self._page(req, current)

    def _gone(self, token: str) -> GraphError:
        headers: dict[str, str] = {}
        window = self.tokens.expired_window(token)
        if window:
            path, start, end = window
            query = urlencode({"startDateTime": iso_utc(start), "endDateTime": iso_utc(end)})
            headers["Location"] = f"{self.service.graph_url}{path}?{query}"
        return GraphError(
            410,
            "SyncStateNotFound",
            "The sync state generation is not found. The delta token is expired and data must "
            "be synchronized again.",
            headers,
        )

    def _new_round(
        self, path: str, mailbox_id: str, calendar_id: str, start: dt.datetime,
        end: dt.datetime, since: int | None,
    ) -> DeltaRound:
        mailbox = self.store.mailboxes[mailbox_id]
        with self.store.lock:
            upto = self.store.seq
            items: list[tuple[str, str, bool]] = []
            if since is None:
                for record in self.store.mailbox_events(mailbox, calendar_id):
                    items += [(v.id, v.immutable_id, False)
                              for v in series.instances(record, start, end)]
            else:
                for record in self.store.changed_since(mailbox, calendar_id, since, upto):
                    items += [(v.id, v.immutable_id, removed)
                              for v, removed in series.delta_items(record, start, end, since)]
        return DeltaRound(path, mailbox_id, calendar_id, start, end, upto, items)

    def _current(self, mailbox: Mailbox, event_id: str) -> EventRecord | None:
        """The event or instance as it is now, None when it is gone."""
        try:
            with self.store.lock:
                return series.view(self.store, mailbox, event_id)
        except GraphError:
            return None

    def _page(self, req: ApiRequest, current: DeltaRound) -> ApiResponse:
        prefer = req.prefer()
        try:
            size = max(1, int(prefer.get("odata.maxpagesize", DEFAULT_PAGE_SIZE)))
        except ValueError:
            size = DEFAULT_PAGE_SIZE
        mailbox = self.store.mailboxes[current.mailbox_id]
        zone = output_zone(prefer)
        immutable = wants_immutable_ids(req)
        chunk = current.items[current.offset : current.offset + size]
        values: list[dict[str, Any]] = []
        for event_id, immutable_id, removed in chunk:
            record = None if removed else self._current(mailbox, event_id)
            if record is None:  # removed, or gone again since the round was computed
                values.append({
                    "@odata.type": "#microsoft.graph.event",
                    "id": immutable_id if immutable else event_id,
                    "@removed": {"reason": "deleted"},
                })
            else:
                values.append(render(record, mailbox, zone, immutable))
        base = f"{self.service.graph_url}{current.path}"
        body: dict[str, Any] = {
            "@odata.context": f"{self.service.graph_url}/$metadata#Collection(event)",
            "value": values,
        }
        next_offset = current.offset + len(chunk)
        if next_offset < len(current.items):
            following = DeltaRound(
                current.path, current.mailbox_id, current.calendar_id, current.start,
                current.end, current.upto, current.items, next_offset,
            )
            skip_token = self.tokens.put(following)
            body["@odata.nextLink"] = f"{base}?{urlencode({'$skiptoken': skip_token}, safe='$')}"
        else:
            token = self.tokens.put(
                (current.path, current.start, current.end, current.upto, current.calendar_id)
            )
            body["@odata.deltaLink"] = f"{base}?{urlencode({'$deltatoken': token}, safe='$')}"
        headers = preference_headers(req)
        if "odata.maxpagesize" in prefer:
            applied = headers.get("Preference-Applied")
            value = f"odata.maxpagesize={size}"
            headers["Preference-Applied"] = f"{applied}, {value}" if applied else value
        return ApiResponse(200, body, headers)
