"""What a failed delivery's notification tells the worker, and the key of its record."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from domain.activity import Outcome
from domain.conversation import Conversation
from domain.failed_delivery import FailedDelivery
from domain.messages import OutgoingMessage
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
