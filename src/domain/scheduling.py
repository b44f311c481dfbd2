"""Work due later: a job is a row with a due time, claimed by any worker, done once.

A job is named by its kind and a key unique within the kind (``reminder`` +
``conversation:42``), so scheduling the same work twice keeps one row. While a worker holds
a job its ``run_after`` is pushed one lease ahead: a worker killed mid-way leaves the job to
be claimed again when the lease runs out (docs/scheduler.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from enum import StrEnum
from typing import Any

#: How long a claimed job stays with its worker before another may take it.
DEFAULT_LEASE = timedelta(minutes=5)
#: Claims of a job that keeps failing before it is given up (``failed``, kept for a human).
MAX_ATTEMPTS = 8


#: The kinds of job (docs/scheduler.md), each run by one handler of the scheduler.
REMINDER = "reminder"  # the one reminder to a silent shopper
DEFAULT_ACTION = "default_action"  # the workspace's action for a silent shopper, at the cut-off
HELD_SEND = "held_send"  # a failed delivery held through quiet hours (docs/quiet-hours.md)

#: The courier's next attempt when the event names none: the next day at 10:00 India time,
#: when couriers go out again.
_IST = timezone(timedelta(hours=5, minutes=30))
_NEXT_ATTEMPT_AT = time(10, 0)
#: The reminder goes out at least this long before the next attempt.
_REMINDER_MARGIN = timedelta(minutes=30)


def conversation_key(conversation_id: int) -> str:
    """The key of a conversation's one job of a kind (one reminder, one default action)."""
    return f"conversation:{conversation_id}"


def assumed_next_attempt(failed_at: datetime) -> datetime:
    """The courier's next attempt after a failure at ``failed_at``: the next day, 10:00 IST."""
    day = failed_at.astimezone(_IST).date() + timedelta(days=1)
    return datetime.combine(day, _NEXT_ATTEMPT_AT, _IST)


def reminder_due(sent_at: datetime, delay: timedelta, next_attempt: datetime) -> datetime | None:
    """When the reminder goes: ``delay`` after the first template, but never later than half
    an hour before the courier's next attempt; None when there is no time left for one."""
    if delay <= timedelta(0):
        return None
    due = min(sent_at + delay, next_attempt - _REMINDER_MARGIN)
    return due if due > sent_at else None


def default_action_due(
    sent_at: datetime, cutoff: timedelta, next_attempt: datetime
) -> datetime | None:
    """When a silent shopper's default action goes: ``cutoff`` before the next attempt; None
    when that is passed already (the shopper had no time to answer)."""
    due = next_attempt - cutoff
    return due if due > sent_at else None


class DefaultAction(StrEnum):
    """What a workspace has happen when the shopper stays silent until the cut-off."""

    NOTHING = "nothing"
    REATTEMPT = "reattempt"


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


class NotYet(Exception):
    """A job whose work may not happen yet (a reminder in the shopper's quiet hours): it is
    run again at ``until``, not counted as a failure."""

    def __init__(self, until: datetime, why: str) -> None:
        super().__init__(f"not before {until.isoformat()}: {why}")
        self.until = until
        self.why = why
