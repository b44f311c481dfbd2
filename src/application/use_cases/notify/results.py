"""What a failed delivery's notification tells the worker, and its record (one per event key)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from application.ports.repositories import UnitOfWork
from domain.activity import Outcome, SkipReason
from domain.conversation import Conversation
from domain.failed_delivery import FailedDelivery
from domain.messages import OutgoingMessage
from domain.reasons import FdrReason
from domain.records import FdrEventRecord
from domain.status import MessageStatus


class Disposition(StrEnum):
    ACK = "ack"  # the outcome is recorded: never deliver this event again
    RETRY = "retry"  # nothing final happened: deliver it again after ``retry_after``


@dataclass(frozen=True, slots=True, kw_only=True)
class Notified:
    disposition: Disposition
    outcome: Outcome
    detail: str = ""
    retry_after: int | None = None
    conversation_id: int | None = None
    message_id: str | None = None
    duplicate: bool = False


def event_key(fdr: FailedDelivery) -> str:
    return attempt_event_key(fdr.shipment_id, fdr.status_log_id)


def attempt_event_key(shipment_id: int, status_log_id: int) -> str:
    return f"fdr:{shipment_id}:{status_log_id}"


def in_flight(conversation: Conversation, message: OutgoingMessage, wait: float) -> Notified:
    """Another worker is sending: deliver the event again once it must have finished."""
    return Notified(
        disposition=Disposition.RETRY,
        outcome=Outcome.UNKNOWN,
        retry_after=int(wait) + 1,
        conversation_id=conversation.id,
        message_id=message.message_id,
        duplicate=True,
    )


def outcome_of(status: MessageStatus) -> Outcome:
    if status is MessageStatus.FAILED:
        return Outcome.FAILED
    if status.rank == 0:  # queued, in flight, retrying, unknown
        return Outcome.UNKNOWN
    return Outcome.SENT


async def record_outcome(uow: UnitOfWork, record: FdrEventRecord) -> None:
    """The event's one record (``uq_fdr_event_key``, built by ``fdr_record``), written or
    written over, inside ``uow``'s transaction."""
    if await uow.fdr_events.add(record) is None:
        await uow.fdr_events.update(record)


def fdr_record(
    fdr: FailedDelivery,
    reason: FdrReason | None,
    outcome: Outcome,
    *,
    detail: str,
    conversation_id: int | None,
    now: datetime,
    error_code: int | None = None,
    skip_reason: SkipReason | None = None,
) -> FdrEventRecord:
    """An event's record, a skip's reason in a column of its own (``record_outcome`` writes
    one; a batch writes those of its events together)."""
    return FdrEventRecord(
        event_key=event_key(fdr),
        account_id=fdr.account_id,
        shipment_id=fdr.shipment_id,
        status_log_id=fdr.status_log_id,
        reason=reason.value if reason else FdrReason.UNKNOWN.value,
        outcome=outcome,
        detail=detail,
        skip_reason=skip_reason.value if skip_reason else None,
        conversation_id=conversation_id,
        error_code=error_code,
        received_at=now,
    )
