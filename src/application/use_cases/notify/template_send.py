"""The template's send: the one send step (``application.sending``), then the outcome recorded.

Rules: a send another worker took is looked at again after the in-flight grace; Meta refusing
for now sends the event back after its ``retry_after`` (else the configured delay); any other
answer is recorded with the outcome (``OutcomeRecorder.finish``).
"""

from __future__ import annotations

import structlog

from application.sending import SendStep
from application.services import NotificationOptions
from application.use_cases.notify.recording import OutcomeRecorder
from application.use_cases.notify.results import Disposition, Notified, in_flight
from domain.activity import Outcome
from domain.conversation import Conversation
from domain.errors import RetryableSendError
from domain.failed_delivery import FailedDelivery
from domain.messages import OutgoingMessage, TemplateMessage
from domain.settings import SenderConnection

_log = structlog.get_logger("fdr")


class TemplateSend:
    def __init__(
        self,
        step: SendStep,
        options: NotificationOptions,
        recorder: OutcomeRecorder,
    ) -> None:
        self._step = step
        self._options = options
        self._recorder = recorder

    async def __call__(
        self,
        fdr: FailedDelivery,
        conversation: Conversation,
        message: OutgoingMessage,
        sender: SenderConnection,
        content: TemplateMessage,
    ) -> Notified:
        sent = await self._step(message, sender, content)
        if sent is None:
            # Another worker has taken this send since we read it: look again later.
            return in_flight(conversation, message, self._options.in_flight_grace_seconds)
        if sent.for_now:  # SendStep stored the ``retrying`` status already
            assert isinstance(sent.error, RetryableSendError)
            return refused_for_now(fdr, conversation, sent.error, self._options)
        return await self._recorder.finish(fdr, conversation, sent.message, sent.error)


def refused_for_now(
    fdr: FailedDelivery,
    conversation: Conversation,
    error: RetryableSendError,
    options: NotificationOptions,
) -> Notified:
    """Meta refused for now (throughput, downtime): the event comes back after its delay."""
    delay = int(error.retry_after or options.retry_delay_seconds)
    _log.warning("send refused for now", code=error.code, shipment_id=fdr.shipment_id)
    return Notified(
        disposition=Disposition.RETRY,
        outcome=Outcome.UNKNOWN,
        detail=str(error),
        retry_after=delay,
        conversation_id=conversation.id,
    )
