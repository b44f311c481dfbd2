"""Work due later: a job is a row with a due time, claimed by any worker, done once.

A job is named by its kind and a key unique within the kind (``reminder`` +
``conversation:42``), so scheduling the same work twice keeps one row. While a worker holds
a job its ``run_after`` is pushed one lease ahead: a worker killed mid-way leaves the job to
be claimed again when the lease runs out (docs/scheduler.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

#: How long a claimed job stays with its worker before another may take it.
DEFAULT_LEASE = timedelta(minutes=5)
#: Claims of a job that keeps failing before it is given up (``failed``, kept for a human).
MAX_ATTEMPTS = 8


class JobState(StrEnum):
    PENDING = "pending"  # waiting for its due time, or claimed (``claimed_at`` set)
    DONE = "done"
    CANCELLED = "cancelled"
    FAILED = "failed"  # gave up after ``MAX_ATTEMPTS``


@dataclass(slots=True, kw_only=True)
class ScheduledJob:
    id: int | None = None
    kind: str
    key: str  # unique within the kind: scheduling twice keeps one job
    account_id: int
    conversation_id: int | None = None
    due_at: datetime
    payload: dict[str, Any] = field(default_factory=dict)
    state: JobState = JobState.PENDING
    run_after: datetime | None = None  # None: the due time
    attempts: int = 0  # claims so far; the current claim's token
    claimed_at: datetime | None = None
    done_at: datetime | None = None
    last_error: str = ""
    created_at: datetime
    updated_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.run_after is None:
            self.run_after = self.due_at


@dataclass(frozen=True, slots=True)
class JobCounts:
    """Pending jobs of one kind: due now (``due_at`` passed) and overdue (passed by more
    than the grace the gauge is given)."""

    kind: str
    due: int
    overdue: int


def retry_delay(attempts: int) -> timedelta:
    """Backoff after a failed claim: 30 s, 1 min, 2 min, ... at most 1 h."""
    return timedelta(seconds=min(3600, 30 * 2 ** max(0, attempts - 1)))
