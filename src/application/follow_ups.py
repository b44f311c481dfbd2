"""Sending the messages that follow the template: recorded first, sent once, inside the window.

The send itself is the one step templates use too (``application.sending``).
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from application.content_codec import content_json
from application.ports.clock import Clock
from application.ports.collaborators import ActivityPublisher
from application.ports.repositories import UnitOfWork
from application.ports.whatsapp import ThroughputLimiter, WhatsAppGateway
from application.sending import SendStep
from application.services import SenderResolver
from domain.activity import ActivityEvent, ActivityKind, Outcome
from domain.conversation import Conversation
from domain.errors import NotFound, UpstreamRejected, UpstreamUnavailable
from domain.messages import InteractiveMessage, MessageKind, OutgoingMessage, TextMessage
from domain.status import MessageStatus

_log = structlog.get_logger("follow_up")

FollowUp = InteractiveMessage | TextMessage


@dataclass(frozen=True, slots=True)
class FollowUpResult:
    sent: bool
    why: str = ""
    message_id: str | None = None


class FollowUpSender:
    """``client_ref`` is derived from what caused the message, so a retry finds the first try."""

    def __init__(
        self,
        uow: UnitOfWork,
        senders: SenderResolver,
        gateway: WhatsAppGateway,
        limiter: ThroughputLimiter,
        activity: ActivityPublisher,
        clock: Clock,
    ) -> None:
        self._uow = uow
        self._senders = senders
        self._step = SendStep(uow, gateway, limiter, clock)
        self._activity = activity
        self._clock = clock

    async def send(
        self,
        conversation: Conversation,
        content: FollowUp,
        *,
        client_ref: str,
        context_message_id: str | None = None,
    ) -> FollowUpResult:
        """Raises ``UpstreamUnavailable`` when Meta refused for now (the caller retries later)."""
        assert conversation.id is not None
        now = self._clock.now()
        async with self._uow as uow:
            message = await uow.messages.get_by_client_ref(client_ref)
            if message is not None and message.status is not MessageStatus.RETRYING:
                return FollowUpResult(False, "sent before", message.message_id)
            if message is None:
                if not conversation.in_service_window(now):
                    # Outside the 24-hour window only templates may be sent (Meta: 131047).
                    _log.info("follow-up not sent: outside the service window", ref=client_ref)
                    return FollowUpResult(False, "outside the 24-hour window")
                message = await uow.messages.add(
                    OutgoingMessage(
                        conversation_id=conversation.id,
                        kind=(
                            MessageKind.INTERACTIVE
                            if isinstance(content, InteractiveMessage)
                            else MessageKind.TEXT
                        ),
                        client_ref=client_ref,
                        status_log_id=conversation.status_log_id,
                        sender_connection_id=conversation.sender_connection_id,
                        customer_phone=conversation.customer_phone,
                        business_phone="",
                        template_id=None,
                        root_message_id=conversation.root_message_id,
                        payload=content_json(content),
                        status=MessageStatus.PENDING,
                        created_at=now,
                        updated_at=now,
                    )
                )
                await uow.commit()
        try:
            sender = await self._senders.by_connection_id(conversation.sender_connection_id)
        except (NotFound, UpstreamRejected) as exc:
            message.fail(str(exc), self._clock.now())
            return await self._close(message, conversation)
        message.business_phone = sender.display_phone_number or sender.phone_number_id
        sent = await self._step(message, sender, content, context_message_id=context_message_id)
        if sent is None:
            return FollowUpResult(False, "sent before", message.message_id)  # another run has it
        if sent.for_now:
            raise UpstreamUnavailable(f"Meta refused the follow-up for now: {sent.error}")
        return await self._close(sent.message, conversation)

    async def _close(self, message: OutgoingMessage, conversation: Conversation) -> FollowUpResult:
        status, code, title = message.status, message.error_code, message.error_title
        message = await self._step.close(message)
        if status is MessageStatus.FAILED:
            await self._activity.publish(
                ActivityEvent(
                    account_id=conversation.account_id,
                    shipment_id=conversation.shipment_id,
                    reason=conversation.reason.value,
                    outcome=Outcome.FAILED,
                    kind=ActivityKind.STATUS,
                    conversation_id=conversation.id,
                    error_code=code,
                    error_title=title,
                    occurred_at=self._clock.now(),
                ),
            )
        return FollowUpResult(status is not MessageStatus.FAILED, status.value, message.message_id)
