"""An answer's NDR action settled: the shipment's rows are locked first in the transaction that
stores the ESB's answer (``ReplyActions.lock_shipment``), which says whether the courier's
events came after the conversation's attempt; only then are the outcomes judged again in a
transaction of their own (docs/outcomes.md). SQLite, one database per test."""

from __future__ import annotations

from application.use_cases.reply.acting import ReplyActions
from domain.outcomes import ShipmentEvent, ShipmentEventKind
from tests.conftest import UowFactory
from tests.support.doubles import FixedClock
from tests.support.factories import ConversationFactory


async def test_the_outcomes_are_judged_again_only_when_events_came_after_the_attempt(
    new_uow: UowFactory,
) -> None:
    async with new_uow() as uow:
        added = await uow.conversations.add(ConversationFactory.build())
        await uow.commit()
    assert added is not None
    conversation = added
    shipment, attempt = conversation.shipment_id, conversation.status_log_id

    async def events_after() -> bool:
        async with new_uow() as uow:
            return await ReplyActions.lock_shipment(uow, conversation)

    assert not await events_after()  # nothing from the courier yet
    async with new_uow() as uow:
        for log_id in (attempt - 1, attempt):  # before the attempt, and the attempt itself
            event = ShipmentEvent(
                shipment_id=shipment, status_log_id=log_id, kind=ShipmentEventKind.FAILED_ATTEMPT
            )
            await uow.outcomes.add_event(event, FixedClock().now())
        await uow.commit()
    assert not await events_after()
    async with new_uow() as uow:
        delivered = ShipmentEvent(
            shipment_id=shipment, status_log_id=attempt + 1, kind=ShipmentEventKind.DELIVERED
        )
        await uow.outcomes.add_event(delivered, FixedClock().now())
        await uow.commit()
    assert await events_after()
