"""A decided answer carried out: the NDR action once, the conversation moved, the reply closed.

Rules: the action goes through ``ask_logistics`` (recorded first, one per conversation and
kind; the ESB's answer stored with the conversation's move); once settled, the shipment's
outcomes are judged again (``OutcomeJudge``); a refused
action needs a person; the conversation moves by compare-and-set, never a whole-row write, in
the transaction that records the follow-up; the reply is closed in the transaction that
stores Meta's answer to the follow-up (or in the move's, when nothing is sent).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime

from application.ndr_requests import ask_logistics
from application.ports.clock import Clock
from application.ports.collaborators import ActivityPublisher, NdrActions
from application.ports.repositories import NotedMove, UnitOfWork
from application.shipment_outcomes import OutcomeJudge
from domain.activity import ActivityEvent, ActivityKind, Outcome
from domain.conversation import Conversation, ConversationState
from domain.flows import Decision
from domain.messages import CustomerReply
from domain.ndr import NdrAction, NdrActionState


class ReplyActions:
    def __init__(
        self,
        uow: UnitOfWork,
        ndr: NdrActions,
        activity: ActivityPublisher,
        clock: Clock,
    ) -> None:
        self._outcomes = OutcomeJudge(uow, activity, clock)  # again once an action is settled
        self._uow = uow
        self._ndr = ndr
        self._activity = activity
        self._clock = clock

    def asked(self, conversation: Conversation, decision: Decision, reply_id: str) -> NdrAction:
        """What the decision asks of logistics (``decision.action`` set)."""
        assert conversation.id is not None
        assert decision.action is not None
        now = self._clock.now()
        return NdrAction(
            conversation_id=conversation.id,
            account_id=conversation.account_id,
            shipment_id=conversation.shipment_id,
            external_shipment_id=conversation.external_shipment_id,
            kind=decision.action,
            reply_message_id=reply_id,
            delivery_date=decision.delivery_date,
            phone=decision.phone,
            disputed_fake_attempt=decision.disputed_fake_attempt,
            created_at=now,
            updated_at=now,
        )

    async def ask(
        self,
        conversation: Conversation,
        decision: Decision,
        reply_id: str,
        recorded: NdrAction | None = None,
    ) -> tuple[NdrAction, bool]:
        """The ESB asked for the decision's action (``ask_logistics``): the action with the
        ESB's answer, to be stored in the transaction that moves the conversation, and whether
        it was asked now. ``recorded``: the action as the answer's first transaction recorded
        it."""
        asked = self.asked(conversation, decision, reply_id)
        return await ask_logistics(self._uow, self._ndr, self._clock, asked, recorded, store=False)

    @staticmethod
    async def lock_shipment(uow: UnitOfWork, conversation: Conversation) -> bool:
        """First in the transaction that stores the ESB's answer: the shipment's rows locked,
        as a shipment event locks them (docs/outcomes.md), so an event stored at this moment
        either committed before (and is read here) or reads the settled action after this
        commit. Whether the courier's events came after the conversation's attempt: only then
        are the outcomes judged again (``judge_again``), in a transaction of their own."""
        await uow.outcomes.attempts(conversation.shipment_id, lock=True)
        events = await uow.outcomes.events(conversation.shipment_id)
        return any(e.status_log_id > conversation.status_log_id for e in events)

    async def judge_again(self, conversation: Conversation) -> None:
        """Once the ESB's answer (asked now) is stored, and the shipment has events after the
        attempt (``lock_shipment``): its outcomes judged again with it."""
        await self._outcomes.after_action(conversation)

    async def tell_settled(self, conversation: Conversation, action: NdrAction) -> None:
        """The timeline told of the ESB's answer (asked now), once it is stored."""
        await self.publish(conversation, action.outcome, ActivityKind.ACTION, action.kind.value)
        if action.state is NdrActionState.FAILED:
            await self.publish(
                conversation,
                Outcome.NEEDS_PERSON,
                ActivityKind.ACTION,
                f"{action.kind.value}: {action.result}"[:500],
            )

    async def move_conversation(
        self,
        uow: UnitOfWork,
        conversation_id: int,
        decision: Decision,
        action_state: NdrActionState | None,
        known: Conversation | None = None,
        noted_at: datetime | None = None,
        *,
        known_earlier: bool = False,
    ) -> Conversation:
        """Inside ``uow``'s transaction (the one that records the follow-up); ``known``: the
        conversation as that transaction read it already, else it is read here; ``noted_at``:
        the shopper's message, not noted yet (``note_answer``): noted with the move.
        ``known_earlier``: ``known`` was read by an earlier transaction (before the ESB was
        asked); where it says the conversation stays, no compare-and-set would tell whether
        another writer moved it since, so it is read again."""
        # Compare-and-set at the database, never a whole-row write: the worker and the status
        # webhook change the same conversation at the same time (docs/sending.md). READ
        # COMMITTED: each read below sees what the other writers committed.
        for _ in range(3):
            earlier, known_earlier = known is not None and known_earlier, False
            conversation = known or await uow.conversations.get(conversation_id)
            known = None  # a compare-and-set that failed: read again
            assert conversation is not None
            now = self._clock.now()
            before = _leaves(conversation, decision, action_state)
            if before is None and earlier:
                continue  # "stays" by the row as read before the ESB: read it as it is now
            if before is not None:
                if not await uow.conversations.move(
                    conversation_id, conversation.state, {before}, now, noted_at
                ):
                    # Another writer moved it first: noted alone, then decided again on
                    # what it is now.
                    await self._note(uow, conversation_id, noted_at)
                    noted_at = None
                    continue
                noted_at = None
            await self._note(uow, conversation_id, noted_at)
            await self._nudge(uow, conversation, decision, now)
            return conversation
        current = await uow.conversations.get(conversation_id)  # three writers moved it first
        assert current is not None
        return current

    async def move_together(
        self,
        uow: UnitOfWork,
        answered: Sequence[tuple[Conversation, Decision, datetime]],
        noted: Sequence[tuple[Conversation, datetime]] = (),
    ) -> bool:
        """``move_conversation`` of each of ``answered`` (conversation as read, decision asking
        nothing of the ESB, shopper's message noted with the move), and the shopper's message
        noted on each of ``noted`` (answers whose move waits for the ESB), in one statement,
        each row under its own compare-and-set (the state it was read in); False when another
        writer moved one first (the caller drops the transaction: each goes alone, and reads
        again)."""
        now = self._clock.now()
        moves = [NotedMove(c.id or 0, c.state, c.state, at) for c, at in noted]
        for conversation, decision, noted_at in answered:
            assert conversation.id is not None
            before = _leaves(conversation, decision, None)
            if before is None:
                await self._note(uow, conversation.id, noted_at)
            else:
                moves.append(NotedMove(conversation.id, conversation.state, before, noted_at))
            await self._nudge(uow, conversation, decision, now)
        return await uow.conversations.move_noted_many(moves, now) == len(moves)

    @staticmethod
    async def _nudge(
        uow: UnitOfWork, conversation: Conversation, decision: Decision, now: datetime
    ) -> None:
        assert conversation.id is not None
        if decision.nudge and await uow.conversations.mark_nudged(conversation.id, now):
            conversation.nudged_at = now

    @staticmethod
    async def _note(uow: UnitOfWork, conversation_id: int, noted_at: datetime | None) -> None:
        if noted_at is not None:
            await uow.conversations.note_customer_message(conversation_id, noted_at)

    async def save_reply(self, reply: CustomerReply) -> None:
        """The reply with its decision, in a transaction of its own."""
        async with self._uow as uow:
            await uow.replies.update(reply)
            await uow.commit()

    async def close_reply(self, uow: UnitOfWork, reply: CustomerReply) -> None:
        """Nothing is left to do for the reply: closed inside ``uow``'s transaction."""
        await uow.replies.update(dataclasses.replace(reply, handled_at=self._clock.now()))

    async def publish(
        self, conversation: Conversation, outcome: Outcome, kind: ActivityKind, detail: str | None
    ) -> None:
        await self._activity.publish(
            ActivityEvent(
                account_id=conversation.account_id,
                shipment_id=conversation.shipment_id,
                reason=conversation.reason.value,
                outcome=outcome,
                kind=kind,
                conversation_id=conversation.id,
                detail=detail,
                occurred_at=self._clock.now(),
            )
        )


def _leaves(
    conversation: Conversation, decision: Decision, action_state: NdrActionState | None
) -> ConversationState | None:
    """The state ``conversation`` leaves when the answer moves it (``Conversation.answered``
    sets the new one on it); None when it stays."""
    before = conversation.state
    moved = conversation.answered(decision.state, refused=action_state is NdrActionState.FAILED)
    return before if moved else None
