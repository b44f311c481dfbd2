"""A send's outcome as written (``OutcomeRecorder.write_finish``, or a batch's outcomes
together): what its status says, and what is told after the commit."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from application.use_cases.notify.results import Disposition, Notified, outcome_of
from domain.activity import ActivityEvent, Outcome
from domain.conversation import Conversation
from domain.errors import SendError
from domain.failed_delivery import FailedDelivery
from domain.messages import DeliveryReport, OutgoingMessage
from domain.status import MessageStatus


@dataclasses.dataclass(frozen=True, slots=True)
class Finished:
    """A send's outcome as written: what ``OutcomeRecorder.announce`` tells after the commit."""

    conversation: Conversation
    message: OutgoingMessage
    event: ActivityEvent
    notified: Notified
    #: Statuses that raced ahead of Meta's answer and moved the message when it was stored:
    #: told after the outcome, as the status pass tells its own (docs/sending.md).
    early: tuple[DeliveryReport, ...] = ()


def outcome_detail(message: OutgoingMessage, error: SendError | None) -> tuple[Outcome, str]:
    """The event's outcome as the stored message's status says, and its detail."""
    outcome = outcome_of(message.status)
    detail = str(error) if error else ""
    if not detail and message.status is MessageStatus.FAILED:
        detail = message.error_title or ""
    return outcome, detail


def finished(
    fdr: FailedDelivery,
    conversation: Conversation,
    message: OutgoingMessage,
    outcome: Outcome,
    detail: str,
    now: datetime,
    early: tuple[DeliveryReport, ...] = (),
) -> Finished:
    event = ActivityEvent(
        account_id=fdr.account_id,
        shipment_id=fdr.shipment_id,
        reason=conversation.reason.value,
        outcome=outcome,
        message_id=message.message_id,
        conversation_id=conversation.id,
        error_code=message.error_code,
        error_title=message.error_title,
        occurred_at=now,
    )
    notified = Notified(
        disposition=Disposition.ACK,
        outcome=outcome,
        detail=detail,
        conversation_id=conversation.id,
        message_id=message.message_id,
    )
    return Finished(conversation, message, event, notified, early)
