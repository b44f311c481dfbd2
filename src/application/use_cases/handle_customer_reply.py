"""The shopper's answer: stored once, decided once, acted on once (docs/conversation.md).

The decision is saved on the reply before anything is done about it, so a retry after a
crash or an unavailable ESB carries out the same decision, and every side effect has its
own key: one NDR action per conversation and kind, one follow-up per reply.

Rules: the conversation is the one the answer is bound to (docs/webhooks.md, "Binding"); what
the answer leads to is ``domain.flows``; a refused action sends the refusal instead and the
conversation needs a person (``Conversation.answered``); a follow-up only inside the 24-hour
window (``FollowUpSender``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import structlog

from application.content_codec import decision_from_json, decision_json
from application.follow_through import cancel_follow_through
from application.follow_ups import FollowUpSender
from application.opt_outs import OptOutReplies, opt_word_of
from application.ports.clock import Clock
from application.ports.collaborators import ActivityPublisher, NdrActions
from application.ports.repositories import UnitOfWork
from application.services import NotificationOptions, SenderResolver
from application.use_cases.reply.acting import ReplyActions
from application.use_cases.reply.binding import (
    Found,
    button_of,
    find_conversation,
    new_reply,
    root_id,
)
from application.use_cases.reply.deciding import ReplyDecider
from domain.activity import ActivityKind, Outcome
from domain.conversation import Conversation
from domain.flows import Decision
from domain.messages import CustomerReply
from domain.ndr import NdrActionKind, NdrActionState
from domain.webhook import InboundKind, InboundMessage, follow_up_ref

_log = structlog.get_logger("replies")


@dataclass(frozen=True, slots=True)
class ReplyHandled:
    conversation_id: int | None
    duplicate: bool = False
    why: str = ""
    action: NdrActionKind | None = None
    action_state: NdrActionState | None = None
    refused: bool = False  # it named a conversation it is not bound to: nothing was done


class HandleCustomerReply:
    def __init__(
        self,
        uow: UnitOfWork,
        follow_ups: FollowUpSender,
        ndr: NdrActions,
        activity: ActivityPublisher,
        clock: Clock,
        options: NotificationOptions,
        senders: SenderResolver,
    ) -> None:
        self._senders = senders
        self._uow = uow
        self._follow_ups = follow_ups
        self._clock = clock
        self._decider = ReplyDecider(uow, clock, options)
        self._opt_outs = OptOutReplies(uow, activity, clock, options)
        self._actions = ReplyActions(uow, ndr, activity, clock)

    async def __call__(self, message: InboundMessage) -> ReplyHandled:
        """Raises ``UpstreamUnavailable`` when the ESB or Meta must be asked again later."""
        button_id, payload = button_of(message)
        found = await find_conversation(self._uow, self._senders, message, payload)
        reply, conversation, is_new = await self._store(message, button_id, found)
        if is_new and conversation is not None and message.kind is InboundKind.ANSWER:
            await self._actions.publish(
                conversation, Outcome.ANSWERED, ActivityKind.ANSWER, button_id
            )
        if reply.handled_at is not None:
            return ReplyHandled(conversation.id if conversation else None, duplicate=True)
        if conversation is None:
            why = f"not bound: {found.refused}" if found.refused else "no conversation"
            if found.refused:
                _log.warning("answer refused", reason=found.refused, message_id=message.message_id)
            closed = dataclasses.replace(reply, decision=decision_json(Decision(why=why)))
            await self._actions.save_reply(closed, handled=True)
            return ReplyHandled(None, why=why, refused=found.refused is not None)
        assert conversation.id is not None
        decision = decision_from_json(reply.decision) if reply.decision else None
        if decision is None:
            if word := opt_word_of(message, button_id):  # STOP / START (docs/opt-out.md)
                decision = await self._opt_outs(conversation, message, word)
            else:
                decision = await self._decider(conversation, message, button_id)
            reply = dataclasses.replace(reply, decision=decision_json(decision))
            await self._actions.save_reply(reply)

        text_or_buttons = decision.message
        action_state: NdrActionState | None = None
        if decision.action is not None:
            action_state = await self._actions.perform(conversation, decision, message.message_id)
            if action_state is NdrActionState.FAILED:
                text_or_buttons = await self._decider.refusal(conversation, decision.action)
        conversation = await self._actions.move_conversation(
            conversation.id, decision, action_state
        )
        if text_or_buttons is not None:
            await self._follow_ups.send(
                conversation,
                text_or_buttons,
                client_ref=follow_up_ref(message.message_id),
            )
        await self._actions.save_reply(reply, handled=True)
        return ReplyHandled(
            conversation.id, why=decision.why, action=decision.action, action_state=action_state
        )

    async def _store(
        self, message: InboundMessage, button_id: str | None, found: Found
    ) -> tuple[CustomerReply, Conversation | None, bool]:
        now = self._clock.now()
        conversation, context = found.conversation, found.context
        async with self._uow as uow:
            root = await root_id(uow, context, conversation)
            stored = await uow.replies.add(new_reply(message, button_id, root, now))
            is_new = stored is not None
            if stored is None:
                stored = await uow.replies.get(message.message_id)
                assert stored is not None
            if conversation is not None and conversation.id is not None and message.from_user_id:
                await uow.conversations.remember_user_id(conversation.id, message.from_user_id)
            if is_new and conversation is not None and conversation.id is not None:
                await uow.conversations.note_customer_message(conversation.id, message.timestamp)
                await cancel_follow_through(uow, conversation.id, now)  # docs/scheduler.md
                last = conversation.last_customer_message_at
                if last is None or message.timestamp > last:
                    conversation.last_customer_message_at = message.timestamp
            await uow.commit()
        return stored, conversation, is_new
