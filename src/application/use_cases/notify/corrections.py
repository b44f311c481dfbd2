"""An unknown template send, corrected: its event's outcome is no longer unknown, the
timeline is told, and the one second send is made (docs/sending.md).

Rules: only an event record that exists is corrected (the send had one); a failure keeps
Meta's code; a second send refused for now stays unknown; a send Meta refused because the
number cannot get it signals ``whatsapp_unreachable``.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

import structlog

from application.content_codec import content_from_json
from application.ports.clock import Clock
from application.ports.collaborators import ActivityPublisher
from application.ports.repositories import UnitOfWork
from application.reachability import signal_failed_send
from application.sending import SendStep, settle
from application.services import SenderResolver
from application.statuses import tell_early
from application.use_cases.notify.results import attempt_event_key
from domain.activity import ActivityEvent, Outcome
from domain.conversation import Conversation
from domain.errors import NotFound, SendError, UpstreamRejected
from domain.messages import OutgoingMessage
from domain.status import MessageStatus

_log = structlog.get_logger("unknown_sends")


class Corrections:
    def __init__(
        self,
        uow: UnitOfWork,
        senders: SenderResolver,
        step: SendStep,
        activity: ActivityPublisher,
        clock: Clock,
    ) -> None:
        self._uow = uow
        self._senders = senders
        self._step = step
        self._activity = activity
        self._clock = clock

    async def correct(
        self,
        uow: UnitOfWork,
        message: OutgoingMessage,
        conversation: Conversation | None,
        outcome: Outcome,
        detail: str,
        now: datetime,
    ) -> None:
        """The event's outcome, no longer unknown (the record exists: the send had one)."""
        if conversation is None:
            return
        key = attempt_event_key(conversation.shipment_id, conversation.status_log_id)
        record = await uow.fdr_events.get(key)
        if record is not None:
            await uow.fdr_events.update(
                dataclasses.replace(
                    record,
                    outcome=outcome,
                    detail=detail[:1000],
                    error_code=message.error_code if outcome is Outcome.FAILED else None,
                    received_at=now,
                )
            )

    async def publish(
        self,
        message: OutgoingMessage,
        conversation: Conversation | None,
        outcome: Outcome,
        detail: str | None,
        now: datetime,
    ) -> None:
        event = ActivityEvent(
            account_id=conversation.account_id if conversation else None,
            shipment_id=conversation.shipment_id if conversation else None,
            reason=conversation.reason.value if conversation else None,
            outcome=outcome,
            message_id=message.message_id,
            conversation_id=message.conversation_id,
            detail=detail,
            error_code=message.error_code,
            error_title=message.error_title,
            occurred_at=now,
        )
        await self._activity.publish(event)  # best effort (docs/adr/0007)

    async def send_again(self, message: OutgoingMessage, conversation: Conversation) -> int:
        """The one second send of an unknown template (1 when it went, else 0): Meta's
        answer settles the message and its conversation and corrects the event's outcome; a
        refusal for now leaves it unknown (never a third try at once)."""
        try:
            sender = await self._senders.by_connection_id(message.sender_connection_id)
        except (NotFound, UpstreamRejected) as exc:
            _log.warning("unknown send not repeated: sender unavailable", error=str(exc))
            return 0  # stays queued: looked at again on the next pass after the wait
        if not await self._step.take_slot(message, sender):
            return 0
        now = self._clock.now()
        error = await self._step.ask(message, sender, content_from_json(message.payload), now=now)
        message.resend_refused_for_now()
        async with self._uow as uow:
            answer = await settle(uow, message, now)
            stored = answer.message
            outcome = {MessageStatus.FAILED: Outcome.FAILED, MessageStatus.UNKNOWN: None}.get(
                stored.status, Outcome.SENT
            )
            if outcome is not None:
                detail = _detail(error, stored)
                await self.correct(uow, stored, conversation, outcome, detail, now)
            await uow.commit()
        if outcome is not None:
            await self.publish(stored, conversation, outcome, _detail(error, stored), now)
        await tell_early(self._activity, conversation, answer)
        await signal_failed_send(self._uow, self._activity, conversation, stored, now)
        return 1


def _detail(error: SendError | None, message: OutgoingMessage) -> str:
    if error is not None:
        return f"sent again after no status from Meta: {error}"
    return "sent again after no status from Meta"
