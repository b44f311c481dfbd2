"""A decided answer carried out: the NDR action once, the conversation moved, the reply closed.

Rules: the action goes through ``ask_logistics`` (recorded first, one per conversation and
kind); once settled, the shipment's outcomes are judged again (``OutcomeJudge``); a refused
action needs a person; the conversation moves by compare-and-set, never a whole-row write, in
the transaction that records the follow-up; the reply is closed in the transaction that
stores Meta's answer to the follow-up (or in the move's, when nothing is sent).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime

from application.ndr_requests import ask_logistics
from application.ports.clock import Clock
from application.ports.collaborators import ActivityPublisher, NdrActions
from application.ports.repositories import UnitOfWork
from application.shipment_outcomes import OutcomeJudge
from domain.activity import ActivityEvent, ActivityKind, Outcome
from domain.conversation import Conversation
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

    async def perform(
        self,
        conversation: Conversation,
        decision: Decision,
        reply_id: str,
        recorded: NdrAction | None = None,
    ) -> NdrActionState:
        """``recorded``: the action as the answer's first transaction recorded it."""
        asked = self.asked(conversation, decision, reply_id)
        action, asked_now = await ask_logistics(self._uow, self._ndr, self._clock, asked, recorded)
        if not asked_now:
            return action.state  # asked for by another answer, or finished before
        await self._outcomes.after_action(conversation)
        await self.publish(conversation, action.outcome, ActivityKind.ACTION, action.kind.value)
        if action.state is NdrActionState.FAILED:
            await self.publish(
                conversation,
                Outcome.NEEDS_PERSON,
                ActivityKind.ACTION,
                f"{action.kind.value}: {action.result}"[:500],
            )
        return action.state

    async def move_conversation(
        self,
        uow: UnitOfWork,
        conversation_id: int,
        decision: Decision,
        action_state: NdrActionState | None,
        known: Conversation | None = None,
        noted_at: datetime | None = None,
    ) -> Conversation:
        """Inside ``uow``'s transaction (the one that records the follow-up); ``known``: the
        conversation as that transaction read it already, else it is read here; ``noted_at``:
        the shopper's message, not noted yet (``note_answer``): noted with the move."""
        # Compare-and-set at the database, never a whole-row write: the worker and the status
        # webhook change the same conversation at the same time (docs/sending.md). READ
        # COMMITTED: each read below sees what the other writers committed.
        for _ in range(3):
            conversation = known or await uow.conversations.get(conversation_id)
            known = None  # a compare-and-set that failed: read again
            assert conversation is not None
            before = conversation.state
            now = self._clock.now()
            moved = conversation.answered(
                decision.state, refused=action_state is NdrActionState.FAILED
            )
            if moved:
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
            if decision.nudge and await uow.conversations.mark_nudged(conversation_id, now):
                conversation.nudged_at = now
            return conversation
        current = await uow.conversations.get(conversation_id)  # three writers moved it first
        assert current is not None
        return current

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
