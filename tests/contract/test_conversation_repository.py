"""One conversation per shipment attempt, found back the ways the flows look for it."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from application.ports.repositories import ConversationQuery
from domain.conversation import ConversationState
from domain.ndr import NdrAction, NdrActionKind
from domain.outcomes import NO_ANSWER
from domain.reasons import FdrReason
from tests.conftest import UowFactory, new_id
from tests.support.factories import T0, ConversationFactory


async def test_a_conversation_is_stored_and_read_back_whole(uow_factory: UowFactory) -> None:
    conversation = ConversationFactory.build(
        reason=FdrReason.PAYMENT_ISSUE, customer_name="Aman Verma", brand="Scitron Shopify"
    )
    async with uow_factory() as uow:
        stored = await uow.conversations.add(conversation)
        await uow.commit()
    assert stored is not None
    assert stored.id is not None
    async with uow_factory() as uow:
        found = await uow.conversations.get(stored.id)
    assert found == stored


async def test_the_same_attempt_twice_is_refused_by_the_key(uow_factory: UowFactory) -> None:
    first = ConversationFactory.build()
    again = dataclasses.replace(first, customer_name="someone else")
    after = ConversationFactory.build()
    async with uow_factory() as uow:
        assert await uow.conversations.add(first) is not None
        assert await uow.conversations.add(again) is None
        # The refused insert is undone alone: the transaction goes on, before and after it.
        assert await uow.conversations.add(after) is not None
        await uow.commit()
    async with uow_factory() as uow:
        found = await uow.conversations.get_by_attempt(first.shipment_id, first.status_log_id)
        later = await uow.conversations.get_by_attempt(after.shipment_id, after.status_log_id)
    assert found is not None
    assert found.customer_name == first.customer_name
    assert later is not None


async def test_latest_for_shipment_is_the_newest_attempt(uow_factory: UowFactory) -> None:
    shipment = new_id()
    older = ConversationFactory.build(shipment_id=shipment)
    newer = ConversationFactory.build(shipment_id=shipment)
    async with uow_factory() as uow:
        await uow.conversations.add(older)
        stored_newer = await uow.conversations.add(newer)
        await uow.commit()
    async with uow_factory() as uow:
        latest = await uow.conversations.latest_for_shipment(shipment)
    assert latest == stored_newer


async def test_update_changes_state_and_root(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        stored = await uow.conversations.add(ConversationFactory.build())
        assert stored is not None
        stored.state = ConversationState.OPEN
        stored.root_message_id = "wamid.ABCabc=="
        stored.last_customer_message_at = T0 + timedelta(minutes=3)
        await uow.conversations.update(stored)
        await uow.commit()
    async with uow_factory() as uow:
        assert stored.id is not None
        found = await uow.conversations.get(stored.id)
    assert found is not None
    assert found.state is ConversationState.OPEN
    assert found.root_message_id == "wamid.ABCabc=="
    assert found.last_customer_message_at == T0 + timedelta(minutes=3)


async def test_nothing_is_kept_without_commit(uow_factory: UowFactory) -> None:
    conversation = ConversationFactory.build()
    async with uow_factory() as uow:
        await uow.conversations.add(conversation)
    async with uow_factory() as uow:
        found = await uow.conversations.get_by_attempt(
            conversation.shipment_id, conversation.status_log_id
        )
    assert found is None


async def test_search_filters_and_pages_newest_first(uow_factory: UowFactory) -> None:
    account = new_id()
    other_account = new_id()
    conversations = [
        ConversationFactory.build(
            account_id=account,
            reason=FdrReason.REFUSED if i % 2 else FdrReason.ODA,
            created_at=T0 + timedelta(hours=i),
        )
        for i in range(5)
    ]
    async with uow_factory() as uow:
        stored = [await uow.conversations.add(c) for c in conversations]
        await uow.conversations.add(ConversationFactory.build(account_id=other_account))
        await uow.commit()
    ids = [c.id for c in stored if c is not None]

    async with uow_factory() as uow:
        page1 = await uow.conversations.search(ConversationQuery(account_id=account, limit=2))
        page2 = await uow.conversations.search(
            ConversationQuery(account_id=account, limit=2, before_id=page1[-1].id)
        )
        refused = await uow.conversations.search(
            ConversationQuery(account_id=account, reason=FdrReason.REFUSED)
        )
        window = await uow.conversations.search(
            ConversationQuery(
                account_id=account,
                created_from=T0 + timedelta(hours=1),
                created_to=T0 + timedelta(hours=3),
            )
        )
        by_shipment = await uow.conversations.search(
            ConversationQuery(account_id=account, shipment_id=conversations[0].shipment_id)
        )
    assert [c.id for c in page1] == ids[::-1][:2]
    assert [c.id for c in page2] == ids[::-1][2:4]
    assert {c.reason for c in refused} == {FdrReason.REFUSED}
    assert len(refused) == 2
    assert [c.created_at for c in window] == [T0 + timedelta(hours=2), T0 + timedelta(hours=1)]
    assert [c.id for c in by_shipment] == [ids[0]]


async def test_conversations_are_found_by_phone_and_in_bulk(uow_factory: UowFactory) -> None:
    phone = f"91{new_id() % 10**10:010d}"
    first = ConversationFactory.build(customer_phone=phone)
    second = ConversationFactory.build(customer_phone=phone)
    async with uow_factory() as uow:
        a = await uow.conversations.add(first)
        b = await uow.conversations.add(second)
        await uow.commit()
    assert a is not None
    assert b is not None
    assert a.id is not None
    assert b.id is not None
    async with uow_factory() as uow:
        latest = await uow.conversations.latest_for_shopper(phone, None, b.sender_connection_id)
        many = await uow.conversations.get_many([a.id, b.id, 10**15])
    assert latest == b
    assert many == {a.id: a, b.id: b}


async def test_state_and_root_are_set_only_by_compare_and_set(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        stored = await uow.conversations.add(ConversationFactory.build())
        await uow.commit()
    assert stored is not None
    cid = stored.id or 0
    pending = (ConversationState.PENDING,)
    async with uow_factory() as uow:
        assert await uow.conversations.set_root(cid, "wamid.root")
        assert not await uow.conversations.set_root(cid, "wamid.later")
        assert await uow.conversations.move(cid, ConversationState.RESOLVED, (stored.state,), T0)
        assert not await uow.conversations.move(cid, ConversationState.OPEN, pending, T0)
        await uow.commit()
    async with uow_factory() as uow:
        found = await uow.conversations.get(cid)
    assert found is not None
    assert (found.state, found.root_message_id) == (ConversationState.RESOLVED, "wamid.root")


async def test_a_move_may_note_the_shoppers_message_only_forward_and_only_when_it_moves(
    uow_factory: UowFactory,
) -> None:
    open_ = ConversationState.OPEN
    async with uow_factory() as uow:
        a = await uow.conversations.add(ConversationFactory.build(state=open_))
        b = await uow.conversations.add(
            ConversationFactory.build(state=open_, last_customer_message_at=T0)
        )
        await uow.commit()
    assert a is not None
    assert a.id is not None
    assert b is not None
    assert b.id is not None
    later = T0 + timedelta(minutes=5)
    async with uow_factory() as uow:
        # Moved: noted too (a had no message yet).
        assert await uow.conversations.move(
            a.id, ConversationState.AWAITING_DATE, (open_,), later, later
        )
        # Refused by the compare-and-set: nothing is written, not even the note.
        assert not await uow.conversations.move(
            a.id, ConversationState.RESOLVED, (open_,), later, later + timedelta(1)
        )
        # Moved with an earlier message than the one stored: the stored time stays.
        assert await uow.conversations.move(
            b.id, ConversationState.RESOLVED, (open_,), later, T0 - timedelta(1)
        )
        await uow.commit()
    async with uow_factory() as uow:
        found_a = await uow.conversations.get(a.id)
        found_b = await uow.conversations.get(b.id)
    assert found_a is not None
    assert found_b is not None
    assert (found_a.state, found_a.last_customer_message_at) == (
        ConversationState.AWAITING_DATE,
        later,
    )
    assert (found_b.state, found_b.last_customer_message_at) == (ConversationState.RESOLVED, T0)


async def test_the_latest_conversation_is_the_newest_attempt(uow_factory: UowFactory) -> None:
    shipment = new_id()
    newer = ConversationFactory.build(shipment_id=shipment, status_log_id=200)
    older = ConversationFactory.build(shipment_id=shipment, status_log_id=100)
    async with uow_factory() as uow:
        await uow.conversations.add(newer)
        await uow.conversations.add(older)  # arrived late: stored after the newer one
        latest = await uow.conversations.latest_for_shipment(shipment)
    assert latest is not None
    assert latest.status_log_id == 200


async def test_answers_change_only_what_they_own(uow_factory: UowFactory) -> None:
    """The last message time moves only forward, the nudge is spent once, and a new number
    replaces the old one, each without writing the rest of the row."""
    stored_conversation = ConversationFactory.build(last_customer_message_at=None, nudged_at=None)
    async with uow_factory() as uow:
        stored = await uow.conversations.add(stored_conversation)
        await uow.commit()
    assert stored is not None
    assert stored.id is not None
    later, earlier = T0 + timedelta(minutes=5), T0 + timedelta(minutes=1)
    async with uow_factory() as uow:
        await uow.conversations.note_customer_message(stored.id, later)
        await uow.conversations.note_customer_message(stored.id, earlier)
        first = await uow.conversations.mark_nudged(stored.id, later)
        second = await uow.conversations.mark_nudged(stored.id, later + timedelta(1))
        await uow.conversations.change_phone(stored.id, "919812345678", later)
        await uow.commit()
    async with uow_factory() as uow:
        found = await uow.conversations.get(stored.id)
    assert found is not None
    assert (first, second) == (True, False)
    assert found.last_customer_message_at == later
    assert found.nudged_at == later
    assert found.customer_phone == "919812345678"
    assert found.state is stored.state


async def test_search_filters_by_what_the_shopper_chose(uow_factory: UowFactory) -> None:
    account = new_id()
    async with uow_factory() as uow:
        stored = [
            await uow.conversations.add(ConversationFactory.build(account_id=account))
            for _ in range(3)
        ]
        cancelled, rescheduled, silent = [c for c in stored if c is not None]
        for conversation, kind in ((cancelled, NdrActionKind.CANCEL), (rescheduled, None)):
            for asked in (kind, NdrActionKind.RESCHEDULE) if kind else (NdrActionKind.RESCHEDULE,):
                assert conversation.id is not None
                await uow.ndr_actions.add(
                    NdrAction(
                        conversation_id=conversation.id,
                        account_id=account,
                        shipment_id=conversation.shipment_id,
                        kind=asked,
                        reply_message_id=f"wamid.{new_id()}",
                        created_at=T0,
                        updated_at=T0,
                    )
                )
        await uow.commit()

    async def found(answer: str) -> set[int | None]:
        async with uow_factory() as uow:
            query = ConversationQuery(account_id=account, answer=answer)
            return {c.id for c in await uow.conversations.search(query)}

    assert await found("cancel") == {cancelled.id}
    assert await found("reschedule") == {cancelled.id, rescheduled.id}
    assert await found(NO_ANSWER) == {silent.id}
    assert await found("update_phone") == set()


async def test_conversations_are_read_in_bulk_past_one_statement(uow_factory: UowFactory) -> None:
    """MariaDB reads them 256 ids at a time: more than that, every column as stored (times
    aware UTC with their microseconds, states, roots, user ids)."""
    later = T0 + timedelta(days=1, microseconds=250)
    async with uow_factory() as uow:
        stored = [
            await uow.conversations.add(
                ConversationFactory.build(
                    state=ConversationState.OPEN if i % 2 else ConversationState.PENDING,
                    root_message_id=f"wamid.conv-{new_id()}" if i % 2 else None,
                    last_customer_message_at=later if i % 3 == 0 else None,
                    nudged_at=later if i % 4 == 0 else None,
                    customer_user_id=f"IN.{i}" if i % 5 == 0 else None,
                    customer_name="Café ✅",
                )
            )
            for i in range(260)
        ]
        await uow.commit()
    ids = [c.id for c in stored if c is not None and c.id is not None]
    async with uow_factory() as uow:
        many = await uow.conversations.get_many([*ids, 10**15])
        few = await uow.conversations.get_many([ids[3]])
    assert len(ids) == 260
    assert many == {c.id: c for c in stored if c is not None}
    assert few == {ids[3]: stored[3]}
