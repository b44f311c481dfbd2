"""An answer's move after the ESB was asked starts from the row as read before: whatever that
copy says, the move follows what the row is when it is written."""

from __future__ import annotations

import dataclasses
from typing import cast

from application.ports.collaborators import NdrActions
from application.use_cases.reply.acting import ReplyActions
from domain.conversation import ConversationState
from domain.flows import Decision
from infrastructure.local.activity import RecordingActivityPublisher
from tests.conftest import UowFactory
from tests.support.doubles import FixedClock
from tests.support.factories import ConversationFactory


async def test_a_move_decided_on_a_row_read_before_the_esb_follows_the_row_as_it_is_now(
    new_uow: UowFactory,
) -> None:
    """Read before the ESB was asked, the conversation needed a person, where an answer that
    does not resolve it leaves it; meanwhile someone moved it back to open. The answer moves
    it from there, as it would have had it been read now."""
    async with new_uow() as uow:
        stored = await uow.conversations.add(
            ConversationFactory.build(state=ConversationState.OPEN, sender_connection_id=0)
        )
        await uow.commit()
    assert stored is not None
    assert stored.id is not None
    read_before = dataclasses.replace(stored, state=ConversationState.NEEDS_PERSON)
    actions = ReplyActions(
        new_uow(), cast(NdrActions, None), RecordingActivityPublisher(), FixedClock()
    )
    decision = Decision(state=ConversationState.AWAITING_DATE)

    async with new_uow() as uow:
        moved = await actions.move_conversation(
            uow, stored.id, decision, None, known=read_before, known_earlier=True
        )
        await uow.commit()

    assert moved.state is ConversationState.AWAITING_DATE
    async with new_uow() as uow:
        now = await uow.conversations.get(stored.id)
    assert now is not None
    assert now.state is ConversationState.AWAITING_DATE
