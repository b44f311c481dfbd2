"""Sending the messages that follow the template: recorded first, sent once, inside the window.

The send itself is the one step templates use too (``application.sending``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import structlog

from application.content_codec import content_json
from application.ports.clock import Clock
from application.ports.collaborators import ActivityPublisher
from application.ports.repositories import UnitOfWork
from application.reachability import store_signal, unreached_by_send
from application.sending import SendStep, Stored, store_answer
from application.services import SenderResolver
from application.statuses import tell_early
from domain.activity import ActivityEvent, ActivityKind, Outcome
from domain.conversation import Conversation
from domain.errors import Conflict, NotFound, UpstreamRejected, UpstreamUnavailable
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
    """``client_ref`` is derived from what caused the message, so a retry finds the first try.

    ``record`` writes the message inside the caller's transaction (an answer records it with
    the conversation's move); ``deliver`` sends it, outside any transaction, and stores Meta's
    answer in one; ``send`` is the two in a row (an answer's follow-up is sent with ``ask``
    and its answer stored with the reply closed: ``reply.closing``).
    """

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

    async def send(
        self,
        conversation: Conversation,
        content: FollowUp,
        *,
        client_ref: str,
        context_message_id: str | None = None,
    ) -> FollowUpResult:
        """Raises ``UpstreamUnavailable`` when Meta refused for now (the caller retries later)."""
        async with self._uow as uow:
            recorded = await self.record(uow, conversation, content, client_ref=client_ref)
            await uow.commit()
        if isinstance(recorded, FollowUpResult):
            return recorded
        return await self.deliver(
            recorded, conversation, content, context_message_id=context_message_id
        )

    async def record(
        self, uow: UnitOfWork, conversation: Conversation, content: FollowUp, *, client_ref: str
    ) -> OutgoingMessage | FollowUpResult:
        """The message to deliver, recorded in flight inside ``uow``'s transaction (the caller
        commits); a result instead when there is nothing to send."""
        assert conversation.id is not None
        now = self._clock.now()
        if conversation.in_service_window(now):
            try:  # the usual case, a new one: no read first
                return await uow.messages.add(_follow_up(conversation, content, client_ref, now))
            except Conflict:
                pass  # recorded by an earlier try (the statement alone was undone)
        message = await uow.messages.get_by_client_ref(client_ref)
        if message is None:
            # Outside the 24-hour window only templates may be sent (Meta: 131047).
            _log.info("follow-up not sent: outside the service window", ref=client_ref)
            return FollowUpResult(False, "outside the 24-hour window")
        if message.status is not MessageStatus.RETRYING:
            return FollowUpResult(False, "sent before", message.message_id)
        return message  # Meta refused it for now: asked again

    async def record_many(
        self, uow: UnitOfWork, items: Sequence[tuple[Conversation, FollowUp, str]]
    ) -> list[OutgoingMessage] | None:
        """``record`` of each new follow-up (conversation, content, client_ref) inside
        ``uow``'s transaction, in one statement; None, with nothing recorded, when one of
        them is not for now (outside the 24-hour window): those go through ``record``.
        Raises ``Conflict`` when one was recorded before (the caller drops the transaction)."""
        now = self._clock.now()
        if not all(conversation.in_service_window(now) for conversation, _, _ in items):
            return None
        return await uow.messages.add_many(
            [_follow_up(conversation, content, ref, now) for conversation, content, ref in items]
        )

    async def reserve(self, conversations: Sequence[Conversation]) -> list[float | None]:
        """A slot of its sender's limiter for the follow-up of each conversation, about to be
        sent (``ask``'s ``slot``), booked in one call per sender rather than one per send;
        None where the sender is not known (``ask`` finds out)."""
        slots: list[float | None] = [None] * len(conversations)
        by_connection: dict[int, list[int]] = {}
        for index, conversation in enumerate(conversations):
            by_connection.setdefault(conversation.sender_connection_id, []).append(index)
        for connection_id, indexes in by_connection.items():
            try:
                sender = await self._senders.by_connection_id(connection_id)
            except (NotFound, UpstreamRejected):
                continue
            booked = await self._step.reserve_slots(sender, len(indexes))
            for index, slot in zip(indexes, booked, strict=True):
                slots[index] = slot
        return slots

    async def deliver(
        self,
        message: OutgoingMessage,
        conversation: Conversation,
        content: FollowUp,
        *,
        context_message_id: str | None = None,
    ) -> FollowUpResult:
        """Sends a recorded message; Meta's answer stored in a transaction of its own (an
        answer's is stored with its reply closed, together with others: ``ask``, then
        ``told``). Raises ``UpstreamUnavailable`` when Meta refused for now (stored)."""
        answer = await self.ask(
            message, conversation, content, context_message_id=context_message_id
        )
        if answer is None:  # another run has it
            return FollowUpResult(False, "sent before", message.message_id)
        async with self._uow as uow:  # ``SendStep.close``
            stored = await store_answer(uow, answer.message, answer.message.updated_at)
            await uow.commit()
        return await self.told(answer, stored, conversation)

    async def ask(
        self,
        message: OutgoingMessage,
        conversation: Conversation,
        content: FollowUp,
        *,
        context_message_id: str | None = None,
        slot: float | None = None,
    ) -> Answer | None:
        """Sends a recorded message, outside any transaction: Meta's answer on it, to be
        stored by the caller (``deliver``, or several answers' together); None when another
        run has the message. ``slot``: its slot of the sender's limiter, booked before
        (``reserve``). Raises ``UpstreamUnavailable`` when Meta refused for now (stored)."""
        try:
            sender = await self._senders.by_connection_id(conversation.sender_connection_id)
        except (NotFound, UpstreamRejected) as exc:
            message.fail(str(exc), self._clock.now())
            return Answer.of(message)
        message.business_phone = sender.display_phone_number or sender.phone_number_id
        sent = await self._step(
            message, sender, content, context_message_id=context_message_id, slot=slot
        )
        if sent is None:
            return None
        if sent.for_now:
            raise UpstreamUnavailable(f"Meta refused the follow-up for now: {sent.error}")
        return Answer.of(sent.message)

    async def told(
        self, answer: Answer, stored: Stored, conversation: Conversation
    ) -> FollowUpResult:
        """Once ``answer`` is stored (``stored``: the row as it is now): a failure told, and
        the statuses that raced ahead of the answer, as the status pass tells them."""
        if answer.status is MessageStatus.FAILED:
            await self._activity.publish(
                ActivityEvent(
                    account_id=conversation.account_id,
                    shipment_id=conversation.shipment_id,
                    reason=conversation.reason.value,
                    outcome=Outcome.FAILED,
                    kind=ActivityKind.STATUS,
                    conversation_id=conversation.id,
                    error_code=answer.error_code,
                    error_title=answer.error_title,
                    occurred_at=self._clock.now(),
                ),
            )
        # A number that cannot get it (131026 and the like) is the SMS fallback's cue
        # whichever message found out, as for a template (docs/opt-out.md): the message as
        # stored, so that a failure that raced ahead of the answer signals too. Recorded one
        # at a time: the follow-ups finished together share the step's unit of work.
        unreached = unreached_by_send(conversation, stored.message)
        if unreached is not None:
            async with self._step.storing:
                signal = await store_signal(self._uow, unreached, self._clock.now())
            if signal is not None:
                await self._activity.publish(signal)
        await tell_early(self._activity, conversation, stored)
        sent = answer.status is not MessageStatus.FAILED
        return FollowUpResult(sent, answer.status.value, stored.message.message_id)


@dataclass(frozen=True, slots=True)
class Answer:
    """Meta's answer to a follow-up, as the sender saw it (what storing it may change: the
    statuses that raced ahead are joined to ``message``, and another writer may have moved
    it further)."""

    message: OutgoingMessage
    status: MessageStatus
    error_code: int | None
    error_title: str | None

    @classmethod
    def of(cls, message: OutgoingMessage) -> Answer:
        return cls(message, message.status, message.error_code, message.error_title)


def _follow_up(
    conversation: Conversation, content: FollowUp, client_ref: str, now: datetime
) -> OutgoingMessage:
    assert conversation.id is not None
    return OutgoingMessage(
        conversation_id=conversation.id,
        kind=MessageKind.INTERACTIVE
        if isinstance(content, InteractiveMessage)
        else MessageKind.TEXT,
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
