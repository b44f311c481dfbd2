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
from domain.conversation import ConversationState
from domain.ndr import NdrAction, NdrActionKind
from domain.notification import button_payload
from domain.webhook import InboundMessage, follow_up_ref
from infrastructure.local.collaborators import InMemoryNdrActions
from tests.conftest import UowFactory
from tests.integration.test_send_path import Killed, World, _world
from tests.support.doubles import DEFAULT_SENDER, StaticDirectory


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
    answer = await _answer(world, esb)
    async with world.uow() as uow:
        conversation = await uow.conversations.get(answer.conversation_id)
    assert conversation is not None
    tap = dataclasses.replace(
        answer.tap,
        button_payload=button_payload(conversation, "choose_date"),
        button_text="Choose a date",
    )
    answer = dataclasses.replace(answer, tap=tap)
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
