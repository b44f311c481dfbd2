"""Records kept for operations: every FDR event's outcome, every webhook body, every link click."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from domain.activity import Outcome

T = TypeVar("T")


#: ``event_key`` is ASCII and at most this long (``fdr:<id>:<id>`` or ``pubsub:<message id>``).
MAX_EVENT_KEY_LENGTH = 128


@dataclass(frozen=True, slots=True, kw_only=True)
class FdrEventRecord:
    """The outcome of one shipment event; ``event_key`` makes a second delivery a no-op."""

    id: int | None = None
    event_key: str
    account_id: int | None = None
    shipment_id: int | None = None
    status_log_id: int | None = None
    reason: str | None = None
    outcome: Outcome
    detail: str = ""
    skip_reason: str | None = None  # skipped only: why, a ``SkipReason`` value
    conversation_id: int | None = None
    error_code: int | None = None
    received_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookDelivery:
    """A signed webhook body as Meta sent it, stored before we answer 200."""

    id: int | None = None
    connection_id: int | None  # None: the default (Eshopbox) connection
    body: bytes
    received_at: datetime
    processed_at: datetime | None = None
    error: str | None = None
    attempts: int = 0  # passes that had to leave it waiting
    retry_at: datetime | None = None  # a waiting body is not taken again before this


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookProblem:
    """One element of a stored body that was not applied (``wa_webhook_problems``)."""

    inbox_id: int
    element: str
    kind: str
    detail: str
    code: int | None = None
    created_at: datetime


def within_bytes(items: Sequence[T], max_bytes: int | None, size: Callable[[T], int]) -> list[T]:
    """The first ``items`` that fit in ``max_bytes`` together; the first one always (a body
    larger than the budget must still be processed, alone)."""
    if max_bytes is None:
        return list(items)
    taken: list[T] = []
    total = 0
    for item in items:
        total += size(item)
        if taken and total > max_bytes:
            break
        taken.append(item)
    return taken


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkClick:
    id: int | None = None
    shipment_id: int
    conversation_id: int | None = None
    source: str = "whatsapp"
    user_agent: str = ""
    clicked_at: datetime
