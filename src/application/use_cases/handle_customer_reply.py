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
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import structlog

from application.content_codec import decision_json
from application.follow_ups import FollowUp, FollowUpResult, FollowUpSender
from application.opt_outs import OptOutReplies, opt_word_of
from application.ports.clock import Clock
from application.ports.collaborators import ActivityPublisher, NdrActions
from application.ports.repositories import UnitOfWork
from application.services import NotificationOptions, SenderResolver
from application.use_cases.reply.acting import ReplyActions
from application.use_cases.reply.binding import (
    button_of,
    find_conversation,
    new_reply,
    note_answers,
    root_id,
)
from application.use_cases.reply.closing import CloseReplies
from application.use_cases.reply.deciding import ReplyDecider
from application.use_cases.reply.reading import NO_READS, ReadAhead
from application.use_cases.reply.storing import ReplyStore
from domain.activity import ActivityKind, Outcome
from domain.conversation import Conversation
from domain.errors import Conflict
from domain.flows import Decision
from domain.messages import CustomerReply, OutgoingMessage
from domain.ndr import NdrAction, NdrActionKind, NdrActionState
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
    """Two transactions for an answer that is followed up and asks nothing of the ESB
    (docs/webhooks.md, "Answers side by side"): bound, stored and decided, the conversation
    moved and the follow-up recorded, in one (``ReplyStore``, then ``_settle``); Meta's answer
    stored and the reply closed (in the pump, together with other answers of the pass:
    ``CloseReplies``; the reads that bind and decide done for the pass too: ``ReadAhead``;
    the first transaction of the common answers shared too: ``begin_together``).
    An answer with an NDR action records it with its decision, asks the ESB
    (``ask_logistics``) and only then moves the conversation and records the follow-up, in
    the transaction that stores the ESB's answer. An opt-out (``OptOutReplies``) keeps its
    own transaction, between the first two."""

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
        self._decider = ReplyDecider(clock, options)
        self._opt_outs = OptOutReplies(uow, activity, clock, options)
        self._actions = ReplyActions(uow, ndr, activity, clock)
        self._store = ReplyStore(self._decider, self._actions, clock)

    async def __call__(
        self,
        message: InboundMessage,
        *,
        again: bool = False,
        closer: CloseReplies | None = None,
        reads: ReadAhead = NO_READS,
    ) -> ReplyHandled:
        """Raises ``UpstreamUnavailable`` when the ESB or Meta must be asked again later.
        ``again``: the answer was most likely stored before (its body is retried): the stored
        reply is read first, and its decision stands without deciding again. ``closer``: the
        last transaction shared with the other answers of the pass (``CloseReplies``); ``reads``:
        what the pass read for it already (``ReadAhead``); without, one of its own (a group of
        one)."""
        closer = closer or CloseReplies(self._uow, self._clock)
        button_id, payload = button_of(message)
        word = opt_word_of(message, button_id)  # STOP / START (docs/opt-out.md)
        settled: _Settled | None = None
        async with self._uow as uow:
            found = await find_conversation(uow, self._senders, message, payload, reads)
            stored = await self._store(
                uow, message, button_id, found, word, again=again, reads=reads
            )
            decided = stored.decision
            if found.conversation is not None and decided is not None and decided.action is None:
                # Nothing to ask of the ESB: moved and recorded with the decision, in this
                # transaction (docs/webhooks.md, "Answers side by side").
                known = (
                    found.conversation if message.kind is not InboundKind.NUMBER_CHANGED else None
                )
                settled = await self._settle(
                    uow,
                    found.conversation,
                    decided,
                    None,
                    stored.reply,
                    message.message_id,
                    known,
                    stored.noted_at,
                )
            else:
                assert stored.noted_at is None  # noted by the move, which is here alone
            await uow.commit()
        reply, conversation = stored.reply, found.conversation
        if stored.is_new and conversation is not None and message.kind is InboundKind.ANSWER:
            await self._actions.publish(
                conversation, Outcome.ANSWERED, ActivityKind.ANSWER, button_id
            )
        if settled is not None:
            return await self._deliver(settled, reply, message.message_id, closer)
        if conversation is None:
            why = f"not bound: {found.refused}" if found.refused else "no conversation"
            if stored.closed_now and found.refused:
                _log.warning("answer refused", reason=found.refused, message_id=message.message_id)
            refused = found.refused is not None
            return ReplyHandled(None, duplicate=not stored.closed_now, why=why, refused=refused)
        if reply.handled_at is not None:
            return ReplyHandled(conversation.id, duplicate=True)
        assert conversation.id is not None
        decision = stored.decision
        if decision is None:  # an opt-out word: recorded and told in its own transaction
            assert word is not None
            decision = await self._opt_outs(conversation, message, word)
            reply = dataclasses.replace(reply, decision=decision_json(decision))
            await self._actions.save_reply(reply)
        ref = message.message_id
        settled = await self._carry_out(conversation, decision, reply, ref, stored.asked)
        return await self._deliver(settled, reply, ref, closer)

    async def begin_together(
        self, messages: Sequence[InboundMessage], reads: ReadAhead
    ) -> dict[str, Begun]:
        """The first transaction of several new answers, in one (docs/webhooks.md, "Begun
        together"): those that quote a message of ours, are bound to its conversation and are
        a tap, bound, stored and decided in a few statements for all; those that ask nothing
        of the ESB moved and followed up too, those that do with their NDR action recorded
        (the ESB is asked by ``finish``); by the answer's wamid. The others, or all of them
        when any statement finds what it would not find alone (a reply or an action stored
        before, a conversation moved since it was read, a follow-up recorded before), are not
        in the result and nothing of them is written: each goes through ``__call__``.
        ``finish`` does the rest."""
        begun: list[Begun] = []
        async with self._uow as uow:
            plans: dict[int, _Plan] = {}
            for message in messages:
                plan = await self._plan(uow, message, reads)
                if plan is not None and plan.conversation.id not in plans:
                    assert plan.conversation.id is not None
                    plans[plan.conversation.id] = plan
            if not plans:
                return {}
            try:
                begun = await self._write_together(uow, list(plans.values()))
            except Conflict:
                return {}  # recorded before: rolled back, each alone
            if not begun:
                return {}  # rolled back, each alone
            await uow.commit()
        return {b.message.message_id: b for b in await self._reserve(begun)}

    async def _reserve(self, begun: list[Begun]) -> list[Begun]:
        """Each recorded follow-up of the group with its slot of the sender's limiter, booked
        for all at once (one call per sender, not one per send). Never raises: the group is
        committed, and a follow-up without a slot waits for one as it is sent."""
        sent = [
            b
            for b in begun
            if b.settled is not None and isinstance(b.settled.recorded, OutgoingMessage)
        ]
        try:
            slots = await self._follow_ups.reserve([b.conversation for b in sent])
        except Exception as exc:
            _log.warning("follow-up slots not booked together", error=str(exc)[:200])
            return begun
        booked = {
            id(b): dataclasses.replace(b, settled=dataclasses.replace(b.settled, slot=slot))
            for b, slot in zip(sent, slots, strict=True)
            if b.settled is not None
        }
        return [booked.get(id(b), b) for b in begun]

    async def act(self, begun: Begun) -> Begun:
        """After ``begin_together``, for an answer with an NDR action (``Begun.acts``): told,
        its action asked of the ESB, then the conversation moved and the follow-up recorded
        (``_carry_out``: the transactions that hold a connection); ``finish`` sends it, and
        holds none."""
        await self._tell(begun)
        ref = begun.message.message_id
        settled = await self._carry_out(
            begun.conversation, begun.decision, begun.reply, ref, begun.asked
        )
        return dataclasses.replace(begun, settled=settled, told=True)

    async def finish(self, begun: Begun, closer: CloseReplies) -> ReplyHandled:
        """After ``begin_together`` (and ``act`` for an answer with an NDR action): the answer
        told, its follow-up sent and the reply closed. This opens no transaction (bar the
        store of a refusal for now or of an unreachable number's signal, one at a time:
        ``SendStep.storing``), so one handler may finish
        many answers at once; an answer not acted on yet is acted on first."""
        if begun.acts:
            begun = await self.act(begun)
        elif not begun.told:
            await self._tell(begun)
        assert begun.settled is not None
        return await self._deliver(begun.settled, begun.reply, begun.message.message_id, closer)

    async def _tell(self, begun: Begun) -> None:
        button_id = begun.reply.button_id
        await self._actions.publish(
            begun.conversation, Outcome.ANSWERED, ActivityKind.ANSWER, button_id
        )

    async def _plan(
        self, uow: UnitOfWork, message: InboundMessage, reads: ReadAhead
    ) -> _Plan | None:
        """Bound and decided, nothing written (None: not one to begin together)."""
        button_id, payload = button_of(message)
        if message.kind is not InboundKind.ANSWER or button_id is None:
            return None  # typed text may choose a language, which is a write
        if opt_word_of(message, button_id) is not None:
            return None
        found = await find_conversation(uow, self._senders, message, payload, reads)
        conversation = found.conversation
        if conversation is None or conversation.id is None or found.context is None:
            return None
        decision = await self._decider(uow, conversation, message, button_id, reads)
        root = await root_id(uow, found.context, conversation)
        return _Plan(message, button_id, conversation, decision, root)

    async def _write_together(self, uow: UnitOfWork, plans: list[_Plan]) -> list[Begun]:
        """``ReplyStore`` of each plan, and ``_settle`` of those asking nothing of the ESB, in
        a few statements for all; empty when one would have gone otherwise alone (the caller
        drops the transaction)."""
        now = self._clock.now()
        replies = [
            dataclasses.replace(
                new_reply(p.message, p.button_id, p.root, now), decision=decision_json(p.decision)
            )
            for p in plans
        ]
        added = [r for r in await uow.replies.add_many(replies) if r is not None]
        if len(added) < len(plans):
            return []  # stored before: its own decision stands (``ReplyStore``)
        await note_answers(uow, [(p.conversation, p.message) for p in plans], now)
        quick = [p for p in plans if p.decision.action is None]
        acting = [p for p in plans if p.decision.action is not None]
        if not await self._actions.move_together(
            uow,
            [(p.conversation, p.decision, p.message.timestamp) for p in quick],
            [(p.conversation, p.message.timestamp) for p in acting],
        ):
            return []  # another writer moved one first: decided again alone
        asked = await uow.ndr_actions.add_many(
            [self._actions.asked(p.conversation, p.decision, p.message.message_id) for p in acting]
        )
        if None in asked:
            return []  # recorded before (``record_ask``): alone, which finds it
        sent = [p for p in quick if p.decision.message is not None]
        recorded = await self._follow_ups.record_many(
            uow,
            [
                (p.conversation, p.decision.message, follow_up_ref(p.message.message_id))
                for p in sent
                if p.decision.message is not None
            ],
        )
        if recorded is None:
            return []
        by_plan: dict[int, OutgoingMessage | NdrAction | None] = {
            **{id(p): r for p, r in zip(sent, recorded, strict=True)},
            **{id(p): a for p, a in zip(acting, asked, strict=True)},
        }
        quiet = [r.message_id for p, r in zip(plans, added, strict=True) if id(p) not in by_plan]
        await uow.replies.close_many(quiet, now)  # nothing to send, nothing to ask
        return [
            _begun(plan, reply, by_plan.get(id(plan)))
            for plan, reply in zip(plans, added, strict=True)
        ]

    async def _carry_out(
        self,
        conversation: Conversation,
        decision: Decision,
        reply: CustomerReply,
        ref: str,
        asked: NdrAction | None,
    ) -> _Settled:
        """The decision's NDR action asked of the ESB, then, in one transaction, its answer
        stored, the conversation moved and the follow-up recorded (``_settle``)."""
        assert conversation.id is not None
        action: NdrAction | None = None
        asked_now = False
        if decision.action is not None:
            action, asked_now = await self._actions.ask(conversation, decision, ref, asked)
        action_state = action.state if action is not None else None
        async with self._uow as uow:
            if asked_now:  # the ESB's answer, stored with the move (docs/webhooks.md)
                assert action is not None
                await uow.ndr_actions.update(action)
            # After the ESB, the conversation as the answer's first transaction read it: the
            # move's compare-and-set starts from it (and reads again if another writer moved
            # it meanwhile).
            known = conversation if action is not None else None
            settled = await self._settle(
                uow, conversation, decision, action_state, reply, ref, known, known_earlier=True
            )
            await uow.commit()
        if asked_now:
            assert action is not None
            await self._actions.settled(conversation, action)
        return settled

    async def _settle(
        self,
        uow: UnitOfWork,
        conversation: Conversation,
        decision: Decision,
        action_state: NdrActionState | None,
        reply: CustomerReply,
        ref: str,
        known: Conversation | None = None,
        noted_at: datetime | None = None,
        *,
        known_earlier: bool = False,
    ) -> _Settled:
        """The conversation moved and the follow-up recorded in flight, inside ``uow``'s
        transaction (the reply closed there when nothing is to be sent). ``known``: the
        conversation as this transaction read it already (the move's first compare-and-set
        starts from it); ``noted_at``: the shopper's message, noted with the move."""
        assert conversation.id is not None
        content = decision.message
        conversation = await self._actions.move_conversation(
            uow,
            conversation.id,
            decision,
            action_state,
            known,
            noted_at,
            known_earlier=known_earlier,
        )
        if action_state is NdrActionState.FAILED:
            assert decision.action is not None
            content = await self._decider.refusal(uow, conversation, decision.action)
        recorded = None
        if content is not None:
            recorded = await self._follow_ups.record(
                uow, conversation, content, client_ref=follow_up_ref(ref)
            )
        if not isinstance(recorded, OutgoingMessage):
            await self._actions.close_reply(uow, reply)  # nothing to send
        return _Settled(conversation, decision, action_state, content, recorded)

    async def _deliver(
        self, settled: _Settled, reply: CustomerReply, ref: str, closer: CloseReplies
    ) -> ReplyHandled:
        """The recorded follow-up sent, outside any transaction; Meta's answer stored and the
        reply closed in ``closer``'s transaction (shared with the pass's other answers)."""
        conversation, decision, recorded = settled.conversation, settled.decision, settled.recorded
        if isinstance(recorded, OutgoingMessage):
            assert settled.content is not None
            answer = await self._follow_ups.ask(
                recorded, conversation, settled.content, slot=settled.slot
            )
            stored = await closer(answer.message if answer is not None else None, reply)
            if answer is not None:
                assert stored is not None
                await self._follow_ups.told(answer, stored, conversation)
        return ReplyHandled(
            conversation.id,
            why=decision.why,
            action=decision.action,
            action_state=settled.action_state,
        )


@dataclass(frozen=True, slots=True)
class _Plan:
    message: InboundMessage
    button_id: str
    conversation: Conversation
    decision: Decision
    root: int | None


@dataclass(frozen=True, slots=True)
class Begun:
    """An answer whose first transaction is done (``begin_together``), for ``finish``."""

    message: InboundMessage
    reply: CustomerReply
    conversation: Conversation
    decision: Decision
    settled: _Settled | None  # moved and followed up already; None: the ESB is asked first
    asked: NdrAction | None = None  # the decision's action, recorded (the ESB not asked yet)
    told: bool = False  # the timeline heard of the answer (``act``)

    @property
    def acts(self) -> bool:
        """Its NDR action is still to be asked of the ESB (the steps that hold a connection
        each, as an answer alone: ``finish``)."""
        return self.settled is None


def _begun(plan: _Plan, reply: CustomerReply, written: OutgoingMessage | NdrAction | None) -> Begun:
    """What ``begin_together`` wrote for ``plan``: its follow-up recorded in flight, or its
    NDR action recorded, or neither (nothing to send: the reply closed)."""
    conversation, decision = plan.conversation, plan.decision
    if isinstance(written, NdrAction):
        return Begun(plan.message, reply, conversation, decision, None, written)
    settled = _Settled(conversation, decision, None, decision.message, written)
    return Begun(plan.message, reply, conversation, decision, settled)


@dataclass(frozen=True, slots=True)
class _Settled:
    conversation: Conversation
    decision: Decision
    action_state: NdrActionState | None
    content: FollowUp | None
    recorded: OutgoingMessage | FollowUpResult | None
    slot: float | None = None  # booked with the group's (``_reserve``); None: waits for one
