"""An answer cut off between its steps and done again (the pump redoes the body): the ESB is
asked once, the shopper gets one follow-up, the reply ends closed (docs/webhooks.md, "Answers
side by side"). On a SQLite database of the test's own; the real use cases, fakes that raise
where the process would die."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pytest

from application.follow_ups import FollowUpSender
from application.services import SenderResolver
from application.use_cases.handle_customer_reply import HandleCustomerReply
from application.use_cases.reply.reading import NO_READS, ReadAhead
from domain.activity import ActivityKind, Outcome
from domain.conversation import ConversationState
from domain.ndr import NdrAction, NdrActionKind
from domain.notification import button_payload
from domain.status import MessageStatus
from domain.webhook import InboundMessage, follow_up_ref
from infrastructure.local.collaborators import InMemoryNdrActions
from tests.conftest import UowFactory
from tests.integration.test_send_path import Killed, World, _world
from tests.support.doubles import DEFAULT_SENDER, StaticDirectory
from tests.support.factories import T0


@pytest.fixture
def world(new_uow: UowFactory) -> World:
    return _world(new_uow)


class DyingEsb(InMemoryNdrActions):
    """Acts on the request, then the process dies before it hears the answer (once)."""

    def __init__(self) -> None:
        super().__init__()
        self.die = True

    async def perform(self, action: NdrAction) -> str:
        reference = await super().perform(action)
        if self.die:
            self.die = False
            raise Killed
        return reference


@dataclass
class Answer:
    handle: HandleCustomerReply
    tap: InboundMessage
    conversation_id: int


async def _answer(world: World, esb: InMemoryNdrActions) -> Answer:
    """A conversation whose template went out, its shopper's tap, and the answers' handler."""
    fdr = await world.fdr()
    await world.notify()(fdr)
    conversation, template = await world.state(fdr)
    assert template.message_id is not None
    assert conversation.id is not None
    senders = SenderResolver(StaticDirectory(), DEFAULT_SENDER)
    uow = world.uow()
    handle = HandleCustomerReply(
        world.uow(),
        FollowUpSender(uow, senders, world.step(uow), world.activity, world.clock),
        esb,
        world.activity,
        world.clock,
        world.options,
        senders,
    )
    tap = InboundMessage(
        message_id=f"wamid.tap{conversation.id}",
        from_phone=conversation.customer_phone,
        timestamp=world.clock.now(),
        type="button",
        context_message_id=template.message_id,
        button_payload=button_payload(conversation, "not_cancelled"),
        button_text="I did not cancel",
        business_number_id=DEFAULT_SENDER.phone_number_id,
    )
    return Answer(handle, tap, conversation.id)


async def _asking_dates(world: World, esb: InMemoryNdrActions, count: int) -> list[Answer]:
    """Answers whose tap asks for a date (nothing for the ESB: the path begun together)."""
    answers = []
    for _ in range(count):
        answer = await _answer(world, esb)
        async with world.uow() as uow:
            conversation = await uow.conversations.get(answer.conversation_id)
        assert conversation is not None
        tap = dataclasses.replace(
            answer.tap,
            button_payload=button_payload(conversation, "choose_date"),
            button_text="Choose a date",
        )
        answers.append(dataclasses.replace(answer, tap=tap))
    return answers


async def _closed(world: World, answer: Answer) -> bool:
    async with world.uow() as uow:
        reply = await uow.replies.get(answer.tap.message_id)
    return reply is not None and reply.handled_at is not None


async def _state(world: World, answer: Answer) -> ConversationState:
    async with world.uow() as uow:
        conversation = await uow.conversations.get(answer.conversation_id)
    assert conversation is not None
    return conversation.state


def _follow_ups(world: World, answer: Answer) -> int:
    return sum(1 for ref, _ in world.meta.sent if ref == follow_up_ref(answer.tap.message_id))


async def test_a_crash_after_the_esb_accepted_asks_it_once_and_follows_up_once(
    world: World,
) -> None:
    esb = DyingEsb()
    answer = await _answer(world, esb)

    with pytest.raises(Killed):
        await answer.handle(answer.tap)
    assert _follow_ups(world, answer) == 0
    assert not await _closed(world, answer)

    handled = await answer.handle(answer.tap)  # the body done again

    assert handled.action is NdrActionKind.REATTEMPT
    # Asked again with the same idempotency key (the answer was lost with the process): the
    # ESB acts once (docs/esb.md).
    assert esb.calls == 2
    assert len(esb.performed) == 1
    assert _follow_ups(world, answer) == 1
    assert await _closed(world, answer)
    assert await _state(world, answer) is ConversationState.RESOLVED
    assert (await answer.handle(answer.tap)).duplicate  # and once more: nothing at all
    assert esb.calls == 2
    assert _follow_ups(world, answer) == 1


async def test_a_crash_after_meta_accepted_the_follow_up_never_sends_it_again(
    world: World,
) -> None:
    esb = InMemoryNdrActions()
    answer = await _answer(world, esb)
    world.meta.die_after_accepting = True

    with pytest.raises(Killed):
        await answer.handle(answer.tap)
    world.meta.die_after_accepting = False
    assert _follow_ups(world, answer) == 1
    assert not await _closed(world, answer)
    assert await _state(world, answer) is ConversationState.RESOLVED  # moved before the send

    await answer.handle(answer.tap)  # the body done again

    assert _follow_ups(world, answer) == 1  # recorded in flight: Meta may have it, never again
    assert esb.calls == 1  # settled before the follow-up: not asked again
    assert await _closed(world, answer)


async def test_an_answer_without_an_esb_action_cut_off_after_meta_follows_up_once(
    world: World,
) -> None:
    # A date asked for: nothing for the ESB, so the conversation is moved and the follow-up
    # recorded in the transaction that stores the decision.
    esb = InMemoryNdrActions()
    (answer,) = await _asking_dates(world, esb, 1)
    tap = answer.tap
    world.meta.die_after_accepting = True

    with pytest.raises(Killed):
        await answer.handle(tap)
    world.meta.die_after_accepting = False
    assert _follow_ups(world, answer) == 1
    assert not await _closed(world, answer)
    assert await _state(world, answer) is ConversationState.AWAITING_DATE  # before the send

    await answer.handle(tap)  # the body done again

    assert _follow_ups(world, answer) == 1  # recorded in flight: Meta may have it, never again
    assert await _closed(world, answer)
    assert esb.calls == 0
    assert (await answer.handle(tap)).duplicate
    assert _follow_ups(world, answer) == 1


async def test_answers_begun_together_cut_off_after_meta_follow_up_once_each(
    world: World,
) -> None:
    # The pump's shared path (``begin_together``, then ``finish`` for each): the replies,
    # moves and follow-ups of both answers committed in one transaction before either send.
    esb = InMemoryNdrActions()
    answers = await _asking_dates(world, esb, 2)
    taps = [a.tap for a in answers]
    begun = await answers[0].handle.begin_together(taps, NO_READS)
    assert set(begun) == {t.message_id for t in taps}
    for answer in answers:
        assert await _state(world, answer) is ConversationState.AWAITING_DATE
    world.meta.die_after_accepting = True

    with pytest.raises(Killed):
        await answers[0].handle.finish(begun[taps[0].message_id])
    world.meta.die_after_accepting = False
    assert _follow_ups(world, answers[0]) == 1
    assert not await _closed(world, answers[0])

    for answer in answers:  # the body done again
        await answer.handle(answer.tap, again=True)

    assert _follow_ups(world, answers[0]) == 1  # recorded in flight: never again
    # Recorded in flight too, though the process died before sending it: Meta may have it
    # for all the pump can tell, so never sent (as for an answer begun alone).
    assert _follow_ups(world, answers[1]) == 0
    for answer in answers:
        assert await _closed(world, answer)
        assert (await answer.handle(answer.tap, again=True)).duplicate
    assert _follow_ups(world, answers[0]) == 1
    assert esb.calls == 0


async def test_answers_whose_conversation_moved_since_read_are_not_begun_together(
    world: World,
) -> None:
    answers = await _asking_dates(world, InMemoryNdrActions(), 2)
    read_in = await _state(world, answers[1])
    async with world.uow() as uow:  # the pass reads ahead
        quoted = [a.tap.context_message_id for a in answers if a.tap.context_message_id]
        ahead = await ReadAhead.of(uow, quoted)
        await uow.commit()
    async with world.uow() as uow:  # another writer moves it after the pass read it
        moved = await uow.conversations.move(
            answers[1].conversation_id, ConversationState.AWAITING_PHONE, {read_in}, T0
        )
        await uow.commit()
    assert moved

    assert await answers[0].handle.begin_together([a.tap for a in answers], ahead) == {}

    for answer in answers:  # nothing of either was written: each goes alone
        assert not await _closed(world, answer)
        async with world.uow() as uow:
            assert await uow.replies.get(answer.tap.message_id) is None
        await answer.handle(answer.tap, reads=ahead)
        assert _follow_ups(world, answer) == 1
        assert await _closed(world, answer)


async def test_statuses_ahead_of_a_follow_ups_answer_are_told_as_the_pass_tells_them(
    world: World,
) -> None:
    """Not a crash: the follow-up's statuses reach the pass before the answer's handler has
    stored Meta's answer (stored unlinked); the handler joins them and tells the timeline each
    one, as the pass does for those it applies (docs/sending.md)."""
    answer = await _answer(world, InMemoryNdrActions())

    async def accepted(wamid: str, client_ref: str) -> None:
        for status in ("sent", "delivered"):
            await world.status(wamid, status)
            world.clock.advance(1)

    world.meta.when_accepted = accepted
    await answer.handle(answer.tap)

    async with world.uow() as uow:
        follow_up = await uow.messages.get_by_client_ref(follow_up_ref(answer.tap.message_id))
    assert follow_up is not None
    assert follow_up.status is MessageStatus.DELIVERED
    told = [e for e in world.activity.events if e.message_id == follow_up.message_id]
    ticks = [e.outcome for e in told if e.kind is ActivityKind.STATUS]
    assert ticks == [Outcome.SENT, Outcome.DELIVERED]
