"""An answer bound, stored and decided in one transaction: the first step of
``HandleCustomerReply`` (docs/webhooks.md, "Answers side by side").

Rules: the decision is saved with the reply, before anything is done about it, and its NDR
action recorded with it (docs/esb.md: recorded before the ESB is asked); a reply stored
before keeps its own decision; an opt-out word is decided later, in its own transaction
(docs/opt-out.md); an answer bound to no conversation is stored closed.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime

from application.content_codec import decision_from_json, decision_json
from application.ndr_requests import record_ask
from application.ports.clock import Clock
from application.ports.repositories import UnitOfWork
from application.use_cases.reply.acting import ReplyActions
from application.use_cases.reply.binding import Found, new_reply, note_answer, root_id
from application.use_cases.reply.deciding import ReplyDecider
from application.use_cases.reply.reading import NO_READS, ReadAhead
from domain.conversation import Conversation
from domain.flows import Decision
from domain.messages import CustomerReply
from domain.ndr import NdrAction
from domain.opt_out import OptWord
from domain.webhook import InboundMessage


@dataclass(frozen=True, slots=True)
class Stored:
    reply: CustomerReply
    is_new: bool
    closed_now: bool  # stored (or found) without a conversation, and closed by this call
    asked: NdrAction | None = None  # the decision's action, recorded with it
    # The decision still to carry out (None: the reply is closed, or it is an opt-out word's,
    # decided later): the one made here, or the stored one of a reply stored before.
    decision: Decision | None = None
    # The shopper's message, to be noted by the conversation's move in this transaction
    # (a new answer with nothing for the ESB: ``HandleCustomerReply`` moves it at once).
    noted_at: datetime | None = None


class ReplyStore:
    def __init__(self, decider: ReplyDecider, actions: ReplyActions, clock: Clock) -> None:
        self._decider = decider
        self._actions = actions
        self._clock = clock

    async def __call__(
        self,
        uow: UnitOfWork,
        message: InboundMessage,
        button_id: str | None,
        found: Found,
        word: OptWord | None,
        *,
        again: bool = False,
        reads: ReadAhead = NO_READS,
    ) -> Stored:
        """The reply stored with its decision (an opt-out word's comes later), inside ``uow``:
        decided before anything is done about it. A reply stored before keeps its own;
        ``again``: it is looked for first, so its decision is not made again for nothing."""
        if again:
            before = await uow.replies.get(message.message_id)
            if before is not None and (before.decision is not None or word is not None):
                return _stored_before(before)
        now = self._clock.now()
        conversation, context = found.conversation, found.context
        decision: Decision | None = None
        if conversation is None:
            why = f"not bound: {found.refused}" if found.refused else "no conversation"
            decision = Decision(why=why)  # nothing to do: stored closed
        elif word is None:
            decision = await self._decider(uow, conversation, message, button_id, reads)
        root = await root_id(uow, context, conversation)
        reply = dataclasses.replace(
            new_reply(message, button_id, root, now),
            decision=decision_json(decision) if decision is not None else None,
            handled_at=now if conversation is None else None,
        )
        added = await uow.replies.add(reply)
        if added is None:  # stored before: its own decision stands
            stored = await uow.replies.get(message.message_id)
            assert stored is not None
            if stored.handled_at is None and stored.decision is None and decision is not None:
                stored = dataclasses.replace(
                    stored, decision=reply.decision, handled_at=reply.handled_at
                )
                await uow.replies.update(stored)
                asked = await self._record_action(uow, conversation, decision, message)
                closed = stored.handled_at is not None
                return Stored(stored, False, closed, asked, None if closed else decision)
            return _stored_before(stored)
        if conversation is None or conversation.id is None:
            return Stored(added, True, added.handled_at is not None)
        # Nothing for the ESB: the conversation moves in this transaction, and notes the
        # shopper's message with its move (``HandleCustomerReply``).
        with_the_move = decision is not None and decision.action is None
        await note_answer(uow, conversation, message, now, with_the_move=with_the_move)
        noted_at = message.timestamp if with_the_move else None
        asked = await self._record_action(uow, conversation, decision, message)
        return Stored(added, True, False, asked, decision, noted_at)

    async def _record_action(
        self,
        uow: UnitOfWork,
        conversation: Conversation | None,
        decision: Decision | None,
        message: InboundMessage,
    ) -> NdrAction | None:
        """The decision's NDR action recorded with it, before the ESB is asked (docs/esb.md)."""
        if conversation is None or decision is None or decision.action is None:
            return None
        return await record_ask(
            uow, self._actions.asked(conversation, decision, message.message_id)
        )


def _stored_before(reply: CustomerReply) -> Stored:
    """A reply stored before: its own decision stands (read once, here)."""
    decision = None
    if reply.handled_at is None and reply.decision:
        decision = decision_from_json(reply.decision)
    return Stored(reply, False, False, decision=decision)
