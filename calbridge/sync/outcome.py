"""What happened to a planned operation: the rows of the guide's `operations[]`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from calbridge.model import ConflictRecord, End, OperationKind


class OutcomeStatus(StrEnum):
    COMPLETED = "completed"  # written
    SKIPPED = "skipped"  # nothing to write (an echo, unchanged, already done)
    FAILED = "failed"  # the write (or the mapping) failed: recorded and retried
    CONFLICT = "conflict"  # changed at both ends, waiting for an operator
    HELD = "held"  # a deletion held by the mass-deletion guard
    QUEUED = "queued"  # continues through the sync-work queue
    PLANNED = "planned"  # a dry run's plan
    WAITING = "waiting"  # a retry whose backoff is not over, or that gave up


@dataclass(slots=True)
class Outcome:
    """What happened to one planned operation (one row of the guide's `operations[]`);
    slotted: a run of 10,000 events holds as many until it answers."""

    operation: OperationKind
    status: OutcomeStatus
    reason: str
    source_system: str
    target_system: str
    source_id: str
    target_id: str | None = None
    link_id: str | None = None
    mapping_id: str | None = None
    title: str | None = None
    error: str | None = None
    next_attempt_at: datetime | None = None  # a waiting retry: when it is due
    source: End | None = None  # which end of the mapping the change came from
    conflict: ConflictRecord | None = None  # a conflict decided by the mapping's policy
    # "event", or "occurrence" for one occurrence of a recurring series.
    item_type: str = "event"

    @classmethod
    def failed(cls, reason: str, source_system: str, target_system: str, error: str, *,
               operation: OperationKind = OperationKind.SKIP, source_id: str = "",
               **where: Any) -> Outcome:
        """Something failed before (or instead of) a write: a run, a retry, a mapping."""
        return cls(operation, OutcomeStatus.FAILED, reason, source_system, target_system,
                   source_id, error=error, **where)

    @classmethod
    def waiting(cls, reason: str, source_system: str, target_system: str, source_id: str,
                next_attempt_at: datetime | None, **where: Any) -> Outcome:
        """A retry not tried now: its backoff is not over, or it gave up."""
        return cls(OperationKind.SKIP, OutcomeStatus.WAITING, reason, source_system,
                   target_system, source_id, next_attempt_at=next_attempt_at, **where)

    @property
    def written(self) -> bool:
        return self.status is OutcomeStatus.COMPLETED

    @property
    def internal_id(self) -> str | None:
        """The event's id at end `a`, whatever the direction (the guide's `internal_id`:
        its booking end is `a`)."""
        return self.target_id if self.source is not End.A else self.source_id

    @property
    def external_id(self) -> str | None:
        """The event's id at end `b` (the guide's `external_id`, the calendar's id)."""
        return self.source_id if self.source is not End.A else self.target_id

    def as_dict(self) -> dict[str, Any]:
        return {
            "bridge_mapping_id": self.link_id, "resource_mapping_id": self.mapping_id,
            "source_system": self.source_system, "target_system": self.target_system,
            "external_id": self.external_id, "internal_id": self.internal_id,
            "item_type": self.item_type,
            "operation": self.operation.value, "status": self.status.value,
            "reason": self.reason, "title": self.title, "error": self.error,
            **({"next_attempt_at": self.next_attempt_at}
               if self.status is OutcomeStatus.WAITING else {}),
            **({"conflict": self.conflict.model_dump(mode="json")} if self.conflict else {}),
        }
