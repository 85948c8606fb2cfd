"""The JSON answers of the HTTP routes, as pydantic models: each route declares its model
with `@api(answers=...)`, its reply is validated and serialised by it, and `/openapi.json`
documents it. Field names are the usage guide's; the envelope is `{"success": true, ...}`
(errors: `{"success": false, "error": {...}}`). Rows the services build as free-form
dicts (statistics, conflicts, listings of the guide's views) are objects here."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from calbridge.bridges.base import Calendar
from calbridge.model import DeletionHold, Operation, ResourceMapping

Rows = list[dict[str, Any]]


class Envelope(BaseModel):
    """`{"success": true, ...}`: every answer of a route that worked."""

    model_config = ConfigDict(extra="forbid")

    success: Literal[True]


class Message(Envelope):
    message: str


# ------------------------------------------------------------------ errors


class FieldError(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field: str = Field(description="the field as the request named it, or `body`")
    message: str


class ErrorDetails(BaseModel):
    """More about an error: the fields at fault (422), what a calendar system answered
    (`upstream`), and what else the error knows (a recurrence rule, a limit, …)."""

    model_config = ConfigDict(extra="allow")

    fields: list[FieldError] | None = None


class ErrorBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(description="stable machine-readable code, e.g. `validation_error`")
    message: str
    # Only when there is more to say.
    details: ErrorDetails | None = None


class ErrorAnswer(BaseModel):
    """`{"success": false, "error": {"code", "message", "details"}}`: every error."""

    model_config = ConfigDict(extra="forbid")

    success: Literal[False]
    error: ErrorBody


# ------------------------------------------------------------------ results of runs


class FailedMapping(BaseModel):
    """A mapping a run could not sync: the end that failed and what its system said."""

    model_config = ConfigDict(extra="forbid")

    resource_mapping_id: str
    resource_id: str
    calendar_system: str
    calendar_resource_id: str
    end: str
    bridge: str
    calendar_id: str
    error: str
    code: str


class OperationRow(BaseModel):
    """One write of a run (or one it planned, skipped, queued or held), with its reason."""

    model_config = ConfigDict(extra="forbid")

    bridge_mapping_id: str | None
    resource_mapping_id: str | None
    source_system: str | None
    target_system: str | None
    external_id: str | None
    internal_id: str | None
    item_type: str | None
    operation: str
    status: str
    reason: str | None
    title: str | None
    error: str | None
    # Only for operations waiting for a retry.
    next_attempt_at: datetime | None = None
    # Only for a change that lost a conflict: its fields, kept and lost values.
    conflict: dict[str, Any] | None = None


class Progress(BaseModel):
    """Where work a request queued (its time budget spent) goes on after the answer."""

    model_config = ConfigDict(extra="forbid")

    queue: str = Field(description="the queue the rest of the work waits on")
    depth: str = Field(description="the route showing that queue's depth")
    completed: str = Field(description="the route listing each operation as it completes")


class RunResults(BaseModel):
    """The guide's results block of a run."""

    model_config = ConfigDict(extra="forbid")

    processed: int
    successful: int
    created: int
    updated: int
    deleted: int
    skipped: int
    errors: int
    conflicts: int
    queued: int
    held: int
    planned: int
    waiting: int
    next_attempt_at: datetime | None
    success_rate: str | None = Field(description='e.g. "100%"; null when everything waits')
    progress: Progress | None = Field(
        default=None, description="where the queued work goes on; null when none was queued")
    failed_mappings: list[FailedMapping]
    operations: list[OperationRow] = Field(
        description="at most 1,000 rows: failed, conflicting, held and waiting ones "
                    "first, skipped ones last")
    operations_omitted: int = Field(
        default=0, description="operations not listed (every write and failure is in "
                               "/bridge/completed)")


class BridgeRunResults(RunResults):
    mappings: int = Field(description="mappings the run went over")
    dry_run: bool


class DetailRow(BaseModel):
    """The guide's `details[]`: one write, named in the booking system's terms."""

    model_config = ConfigDict(extra="forbid")

    item_type: str | None
    item_id: str | None
    resource_id: str | None
    action: str
    outlook_event_id: str | None
    title: str | None
    error: str | None


class GuideResults(RunResults):
    details: list[DetailRow] = Field(
        description="at most 1,000 rows, failed and waiting ones first")
    details_omitted: int = Field(
        default=0, description="writes not listed (each is in /bridge/completed)")


class ItemResults(GuideResults):
    item_type: str
    item_id: str
    resource_id: str


class ImportResults(RunResults):
    reservation_ids: list[str] = Field(description="the bookings made")


class PolledCalendar(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bridge: str
    calendar_id: str
    mapping_id: str


class PollResults(RunResults):
    calendars_polled: int
    calendars_skipped: int
    polled: list[PolledCalendar]


class InitializedCalendar(PolledCalendar):
    cursor_stored: bool


class KnownCalendar(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bridge: str
    calendar_id: str


class InitResults(RunResults):
    initialized: list[InitializedCalendar]
    already_initialized: list[KnownCalendar]
    calendars: int


class BookingRow(BaseModel):
    """The guide's `{id, active, resource_id, mapping_id}` of a cancelled or re-enabled
    booking, with the ids of its mapping and calendar event."""

    model_config = ConfigDict(extra="forbid")

    id: str | None
    active: int
    resource_id: str | None
    mapping_id: str | None
    resource_mapping_id: str | None
    calendar_event_id: str | None
    title: str | None


class DeletionResults(BaseModel):
    """Both of the guide's deletion shapes; `<bridge>_deletions` counts each bridge."""

    # The extra keys are the per-bridge counts, `<bridge>_deletions`.
    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, int] = Field(init=False)

    detected: int
    processed: int
    success_rate: str | None
    cancelled_events: list[BookingRow] = Field(description="at most 1,000 rows")
    cancelled_events_omitted: int = 0
    reenabled_events: list[BookingRow] = Field(description="at most 1,000 rows")
    reenabled_events_omitted: int = 0
    pending_resets: int
    errors: int
    held: int
    queued: int = 0
    progress: Progress | None = None
    detected_deletions: int
    processed_deletions: int
    systems_affected: list[str]
    bridge_operations: list[OperationRow] = Field(
        description="at most 1,000 rows: failed, held and waiting ones first")
    bridge_operations_omitted: int = 0
    failed_mappings: list[FailedMapping]
    summary: dict[str, int]


class CleanupResults(BaseModel):
    model_config = ConfigDict(extra="forbid")

    removed: int
    removed_links: Rows
    unchecked: int = Field(description="links whose events could not be checked")
    failed_mappings: list[FailedMapping]


class PopulateResults(BaseModel):
    model_config = ConfigDict(extra="forbid")

    planned: int
    items: Rows
    already_linked: int
    errors: int
    failed_mappings: list[FailedMapping]


# ------------------------------------------------------------------ bridges and health


class BridgeDescription(BaseModel):
    """A bridge; its adapter may add where it reaches its system (`graph_base_url`, …),
    never a secret."""

    model_config = ConfigDict(extra="allow")

    name: str
    type: str
    capabilities: dict[str, Any]
    enabled: bool


class BridgeList(Envelope):
    bridges: list[BridgeDescription]
    count: int


class CalendarList(Envelope):
    bridge: str
    calendars: list[Calendar]
    count: int


class HealthReport(BaseModel):
    """`/bridges/health`: 200 while storage answers (`status` says healthy or degraded),
    503 with `success: false` when it does not."""

    model_config = ConfigDict(extra="forbid")

    success: bool
    status: Literal["healthy", "degraded", "unhealthy"]
    bridges: dict[str, dict[str, Any]]
    storage: dict[str, Any]
    mappings: dict[str, int]
    resource_mappings: dict[str, int]
    unsyncable_mappings: Rows
    holds: int
    subscriptions: dict[str, int]


class Statistics(Envelope):
    statistics: dict[str, Any]


# ------------------------------------------------------------------ mappings


class ShownMapping(ResourceMapping):
    """A mapping with both ends; a booking mapping also under the guide's names."""

    booking_system: str | None = None
    booking_system_resource_id: str | None = None
    calendar_system: str | None = None
    calendar_resource_id: str | None = None
    calendar_resource_name: str | None = None
    sync_direction: Literal["both", "to_calendar", "from_calendar"] | None = None


class MappingChanged(Message):
    mapping: ShownMapping
    verified: bool
    # Only when not verified: why, and when it is checked again.
    warning: str | None = None


class MappingCreated(MappingChanged):
    id: str


class MappingFound(Envelope):
    mapping: ShownMapping


class MappingList(Envelope):
    mappings: list[ShownMapping]
    count: int


class MappingsOfCalendar(MappingList):
    booking_system_resource_id: str
    calendar_id: str


class Deleted(Message):
    id: str


# ------------------------------------------------------------------ runs and listings


class BridgeSyncDone(Message):
    results: BridgeRunResults


class RunDone(Message):
    results: RunResults


class GuideRunDone(Message):
    results: GuideResults


class ItemDone(Message):
    results: ItemResults


class ImportsDone(Message):
    results: ImportResults


class PollDone(Message):
    results: PollResults


class InitDone(Message):
    results: InitResults


class DeletionsDone(Message):
    results: DeletionResults


class CleanupDone(Message):
    results: CleanupResults


class PopulateDone(Message):
    results: PopulateResults


class PendingOperations(Envelope):
    pending: Rows
    count: int


class CompletedOperations(Envelope):
    completed: list[Operation]
    count: int
    next_page_token: str | None = Field(description="pass as page_token for the next page")


class PendingItems(Envelope):
    pending_items: Rows
    count: int
    failed_mappings: list[FailedMapping]


class UnlinkedEvents(Envelope):
    events: Rows
    count: int
    failed_mappings: list[FailedMapping]


class PendingImports(Envelope):
    pending_imports: Rows
    count: int


class ProcessedImports(Envelope):
    processed_imports: Rows
    count: int


class CancelledReservations(Envelope):
    cancelled_reservations: Rows
    count: int


class Conflicts(Envelope):
    conflicts: Rows
    count: int


class Holds(Envelope):
    holds: list[DeletionHold]
    count: int


class HoldDecided(Message):
    hold: DeletionHold
    results: RunResults


# ------------------------------------------------------------------ webhooks, subscriptions


class WebhookAlive(Message):
    bridge: str
    notification_url: str | None


class WebhookReceipt(Envelope):
    """What a notification request did: items accepted (authentic), ignored (not), and
    accepted ones that repeated another of the same request."""

    accepted: int
    ignored: int
    duplicates: int


class WebhookReplayed(WebhookReceipt):
    """A delivery accepted before: nothing new was queued."""

    replayed: Literal[True]
    message: str


class ShownSubscription(BaseModel):
    """A push subscription as the API shows it: never its client state."""

    model_config = ConfigDict(extra="forbid")

    id: str
    bridge: str
    calendar_id: str
    resource: str
    expires_at: datetime
    mapping_id: str | None
    created_at: datetime
    renewed_at: datetime | None
    last_error: str | None
    status: str
    minutes_left: int


class SubscriptionDone(Message):
    subscription: ShownSubscription


class Subscriptions(Envelope):
    subscriptions: list[ShownSubscription]
    count: int
