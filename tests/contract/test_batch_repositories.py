"""The writes and reads of a batch of failed deliveries (``notify.batch``): several rows in
one statement, each row ending as it would alone (a unique key refuses that row only)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from application.ports.repositories import NotedMove
from domain.activity import Outcome
from domain.conversation import Conversation, ConversationState
from domain.errors import Conflict
from domain.ndr import NdrActionKind
from domain.opt_out import OptOut, OptOutScope, OptOutSource
from domain.records import FdrEventRecord
from domain.scheduling import ScheduledJob
from domain.status import MessageStatus
from tests.conftest import UowFactory, new_id
from tests.support.factories import (
    T0,
    ConversationFactory,
    CustomerReplyFactory,
    DeliveryReportFactory,
    NdrActionFactory,
    OutgoingMessageFactory,
)


async def test_conversations_added_together_are_stored_whole_in_order(
    uow_factory: UowFactory,
) -> None:
    batch = ConversationFactory.batch(5)
    async with uow_factory() as uow:
        stored = await uow.conversations.add_many(batch)
        await uow.commit()
    assert [dataclasses.replace(s, id=None) if s else None for s in stored] == batch
    async with uow_factory() as uow:
        for conversation in stored:
            assert conversation is not None
            assert conversation.id is not None
            assert await uow.conversations.get(conversation.id) == conversation


async def test_an_attempt_stored_before_is_refused_in_a_batch_alone(
    uow_factory: UowFactory,
) -> None:
    taken = ConversationFactory.build()
    async with uow_factory() as uow:
        assert await uow.conversations.add(taken) is not None
        await uow.commit()
    first, last = ConversationFactory.build(), ConversationFactory.build()
    again = dataclasses.replace(taken, customer_name="someone else")
    async with uow_factory() as uow:
        stored = await uow.conversations.add_many([first, again, last])
        after = await uow.conversations.add(ConversationFactory.build())  # the transaction goes on
        await uow.commit()
    assert stored[1] is None
    assert after is not None
    found_rows = []
    async with uow_factory() as uow:
        for conversation in (first, last):
            found = await uow.conversations.get_by_attempt(
                conversation.shipment_id, conversation.status_log_id
            )
            assert found is not None
            found_rows.append(found)
        kept = await uow.conversations.get_by_attempt(taken.shipment_id, taken.status_log_id)
    assert kept is not None
    assert kept.customer_name == taken.customer_name
    assert [f.id for f in found_rows] == [s.id if s else None for s in (stored[0], stored[2])]


async def test_roots_and_moves_of_several_conversations_are_compare_and_sets(
    uow_factory: UowFactory,
) -> None:
    rooted = ConversationFactory.build(root_message_id="wamid.first")
    opened = ConversationFactory.build(state=ConversationState.FAILED)
    plain = ConversationFactory.build()
    async with uow_factory() as uow:
        stored = await uow.conversations.add_many([rooted, opened, plain])
        await uow.commit()
    ids = [s.id for s in stored if s is not None and s.id is not None]
    assert len(ids) == 3
    later = T0.replace(hour=T0.hour + 1)
    async with uow_factory() as uow:
        await uow.conversations.set_roots({i: f"wamid.new{i}" for i in ids})
        moved = await uow.conversations.move_many(
            ids, ConversationState.OPEN, [ConversationState.PENDING], later
        )
        await uow.commit()
    assert moved == 2
    async with uow_factory() as uow:
        found = await uow.conversations.get_many(ids)
    assert [found[i].root_message_id for i in ids] == [
        "wamid.first",
        f"wamid.new{ids[1]}",
        f"wamid.new{ids[2]}",
    ]
    assert [found[i].state for i in ids] == [
        ConversationState.OPEN,
        ConversationState.FAILED,
        ConversationState.OPEN,
    ]


async def test_the_languages_of_several_shoppers_in_one_read(uow_factory: UowFactory) -> None:
    chose, other, silent = (f"91{new_id() % 10**10:010d}" for _ in range(3))
    async with uow_factory() as uow:
        await uow.conversations.remember_language(chose, "hi", T0)
        await uow.conversations.remember_language(other, "ta", T0)
        await uow.commit()
    async with uow_factory() as uow:
        found = await uow.conversations.shopper_languages([chose, other, silent])
        assert await uow.conversations.shopper_languages([]) == {}
    assert found == {chose: "hi", other: "ta"}


async def test_messages_added_together_get_their_ids_in_order(uow_factory: UowFactory) -> None:
    batch = OutgoingMessageFactory.batch(4)
    async with uow_factory() as uow:
        stored = await uow.messages.add_many(batch)
        await uow.commit()
    assert [dataclasses.replace(m, id=None) for m in stored] == batch
    async with uow_factory() as uow:
        for message in stored:
            assert message.id is not None
            found = await uow.messages.get(message.id)
            assert found is not None
            assert found.client_ref == message.client_ref


async def test_a_message_whose_ref_exists_refuses_the_batch_as_add_does(
    uow_factory: UowFactory,
) -> None:
    taken = OutgoingMessageFactory.build()
    async with uow_factory() as uow:
        await uow.messages.add(taken)
        await uow.commit()
    with pytest.raises(Conflict):
        async with uow_factory() as uow:
            await uow.messages.add_many([OutgoingMessageFactory.build(), taken])


async def test_wamids_with_reports_not_yet_linked(uow_factory: UowFactory) -> None:
    early = DeliveryReportFactory.build()
    linked = DeliveryReportFactory.build()
    async with uow_factory() as uow:
        await uow.delivery_reports.add_many([early, linked])
        await uow.delivery_reports.link(linked.message_id, new_id())
        await uow.commit()
    nobody = f"wamid.{new_id()}"
    async with uow_factory() as uow:
        found = await uow.delivery_reports.unlinked([early.message_id, linked.message_id, nobody])
        assert await uow.delivery_reports.unlinked([]) == set()
    assert found == {early.message_id}


def _record(key: str, detail: str = "") -> FdrEventRecord:
    return FdrEventRecord(event_key=key, outcome=Outcome.SENT, detail=detail, received_at=T0)


async def test_event_records_added_together_keep_one_per_key(uow_factory: UowFactory) -> None:
    seen = f"shipment:{new_id()}"
    async with uow_factory() as uow:
        assert await uow.fdr_events.add(_record(seen, "first")) is not None
        await uow.commit()
    keys = [f"shipment:{new_id()}" for _ in range(3)]
    async with uow_factory() as uow:
        added = await uow.fdr_events.add_many(
            [_record(keys[0]), _record(seen, "again"), _record(keys[1]), _record(keys[2])]
        )
        await uow.commit()
    assert [a is not None for a in added] == [True, False, True, True]
    async with uow_factory() as uow:
        assert await uow.fdr_events.recorded([*keys, seen, "shipment:none"]) == {*keys, seen}
        assert await uow.fdr_events.recorded([]) == set()
        first = await uow.fdr_events.get(seen)
        stored = [await uow.fdr_events.get(k) for k in keys]
    assert first is not None
    assert first.detail == "first"
    assert [s.id if s else None for s in stored] == [
        a.id if a else None for a in (added[0], added[2], added[3])
    ]


def _opt_out(account_id: int, phone: str, scope: OptOutScope, *, active: bool = True) -> OptOut:
    return OptOut(
        account_id=account_id,
        customer_phone=phone,
        scope=scope,
        active=active,
        source=OptOutSource.TEXT,
        detail="STOP",
        opted_out_at=T0,
        updated_at=T0,
    )


async def test_opt_outs_of_several_numbers_in_one_read(uow_factory: UowFactory) -> None:
    account, other = new_id(), new_id()
    out, marketing, back, elsewhere = (f"91{new_id() % 10**10:010d}" for _ in range(4))
    async with uow_factory() as uow:
        await uow.opt_outs.save(_opt_out(account, out, OptOutScope.ALL))
        await uow.opt_outs.save(_opt_out(account, marketing, OptOutScope.MARKETING))
        await uow.opt_outs.save(_opt_out(account, back, OptOutScope.ALL, active=False))
        await uow.opt_outs.save(_opt_out(other, elsewhere, OptOutScope.ALL))
        await uow.commit()
    asked = [(account, n) for n in (out, marketing, back, elsewhere)] + [(other, out)]
    async with uow_factory() as uow:
        found = await uow.opt_outs.opted_out_among(asked)
        assert await uow.opt_outs.opted_out_among([]) == set()
        one_by_one = {pair for pair in asked if await uow.opt_outs.is_opted_out(*pair)}
    assert found == {(account, out)} == one_by_one


def _job(kind: str, key: str, minute: int) -> ScheduledJob:
    return ScheduledJob(
        kind=kind,
        key=key,
        account_id=379,
        conversation_id=new_id(),
        due_at=T0.replace(minute=minute),
        payload={"n": minute},
        created_at=T0,
    )


async def test_jobs_scheduled_together_keep_the_first_of_a_kind_and_key(
    uow_factory: UowFactory,
) -> None:
    kind = f"test-{new_id()}"
    async with uow_factory() as uow:
        assert await uow.jobs.schedule(_job(kind, "c:1", 1))
        await uow.commit()
    async with uow_factory() as uow:
        scheduled = await uow.jobs.schedule_many(
            [_job(kind, "c:2", 2), _job(kind, "c:1", 3), _job(kind, "c:3", 4)]
        )
        await uow.commit()
    assert scheduled == [True, False, True]
    async with uow_factory() as uow:
        jobs = [await uow.jobs.get(kind, key) for key in ("c:1", "c:2", "c:3")]
    assert [j.payload["n"] if j else None for j in jobs] == [1, 2, 4]


async def test_slots_and_answers_written_alike_are_each_a_compare_and_set(
    uow_factory: UowFactory,
) -> None:
    async with uow_factory() as uow:
        rows = await uow.messages.add_many(
            OutgoingMessageFactory.batch(5, status=MessageStatus.QUEUED)
        )
        taken = await uow.messages.add(
            OutgoingMessageFactory.build(message_id=f"wamid.taken-{new_id()}")
        )
        await uow.commit()
    other_worker = dataclasses.replace(rows[4], status=MessageStatus.PENDING)
    async with uow_factory() as uow:
        assert await uow.messages.advance(other_worker)
        await uow.commit()
    times = [T0 + timedelta(seconds=i) for i in range(5)]
    slots = [
        dataclasses.replace(r, status=MessageStatus.PENDING, updated_at=t)
        for r, t in zip(rows, times, strict=True)
    ]
    async with uow_factory() as uow:
        in_flight = await uow.messages.advance_many(slots[:3])  # one statement
        in_flight |= await uow.messages.advance_many(slots[3:])
        await uow.commit()
    assert in_flight == {r.id for r in rows[:4]}  # the fifth: another worker's
    wamids = [f"wamid.alike-{new_id()}" for _ in range(3)]
    answers = [
        dataclasses.replace(
            slots[i], status=MessageStatus.ACCEPTED, message_id=wamids[i], updated_at=times[i]
        )
        for i in range(3)
    ]
    refused = dataclasses.replace(
        slots[3], status=MessageStatus.FAILED, error_code=131026, error_title="undeliverable"
    )
    onto_taken = dataclasses.replace(answers[2], message_id=taken.message_id)
    async with uow_factory() as uow:
        written = await uow.messages.advance_many([answers[0], answers[1], refused])
        written |= await uow.messages.advance_many([onto_taken, answers[0]])
        again = await uow.messages.advance_many(answers[1:2])  # would put the status back
        await uow.commit()
    assert written == {rows[0].id, rows[1].id, rows[3].id}
    assert again == set()
    async with uow_factory() as uow:
        found = [await uow.messages.get(r.id or 0) for r in rows]
    assert [(f.status, f.message_id, f.updated_at) if f else None for f in found] == [
        (MessageStatus.ACCEPTED, wamids[0], times[0]),
        (MessageStatus.ACCEPTED, wamids[1], times[1]),
        (MessageStatus.PENDING, None, times[2]),
        (MessageStatus.FAILED, None, times[3]),
        (MessageStatus.PENDING, None, rows[4].updated_at),
    ]
    assert found[3] is not None
    assert (found[3].error_code, found[3].error_title) == (131026, "undeliverable")


async def test_a_pass_of_statuses_moves_every_message_in_statements_of_many_rows(
    uow_factory: UowFactory,
) -> None:
    # More messages than one statement takes (128): some given their wamid, some failed with
    # an error, all with their own times; on MariaDB prepared, its values in binary form.
    async with uow_factory() as uow:
        rows = await uow.messages.add_many(
            OutgoingMessageFactory.batch(131, status=MessageStatus.ACCEPTED, message_id=None)
        )
        await uow.commit()
    wamids = [f"wamid.pass-{new_id()}" if i % 3 else None for i in range(len(rows))]
    moved = [
        dataclasses.replace(
            r,
            message_id=wamids[i],
            status=MessageStatus.FAILED if i % 5 == 0 else MessageStatus.DELIVERED,
            error_code=131026 if i % 5 == 0 else None,
            error_title="undeliverable" if i % 5 == 0 else None,
            external_updated_at=T0 + timedelta(seconds=i, microseconds=7),
            updated_at=T0 + timedelta(minutes=1, seconds=i),
        )
        for i, r in enumerate(rows)
    ]
    async with uow_factory() as uow:
        advanced = await uow.messages.advance_many(moved)
        await uow.commit()
    assert advanced == {r.id for r in rows}
    async with uow_factory() as uow:
        found = [await uow.messages.get(r.id or 0) for r in rows]
    assert found == moved


async def _attempts_of_two_shipments(
    uow_factory: UowFactory, logs: tuple[int, ...]
) -> tuple[int, int, int, Conversation]:
    """A shipment's attempts at ``logs`` (stored in that order), another shipment's one
    attempt, and a shipment never messaged: their ids, and the other's attempt."""
    shipment, other, never = new_id(), new_id(), new_id()
    attempts = [ConversationFactory.build(shipment_id=shipment, status_log_id=log) for log in logs]
    elsewhere = ConversationFactory.build(shipment_id=other)
    async with uow_factory() as uow:
        await uow.conversations.add_many([*attempts, elsewhere])
        await uow.commit()
    return shipment, other, never, elsewhere


async def test_every_attempt_of_several_shipments_in_one_read(uow_factory: UowFactory) -> None:
    shipment, other, never, elsewhere = await _attempts_of_two_shipments(uow_factory, (7, 9, 8))
    async with uow_factory() as uow:
        found = await uow.conversations.for_shipments([shipment, other, never])
        assert await uow.conversations.for_shipments([]) == []
    assert sorted((c.shipment_id, c.status_log_id) for c in found) == sorted(
        [(shipment, 7), (shipment, 8), (shipment, 9), (other, elsewhere.status_log_id)]
    )


async def test_the_first_attempt_of_several_shipments_in_one_read(
    uow_factory: UowFactory,
) -> None:
    shipment, other, never, elsewhere = await _attempts_of_two_shipments(uow_factory, (9, 7, 8))
    async with uow_factory() as uow:
        first = await uow.outcomes.first_attempts([shipment, other, never])
        assert await uow.outcomes.first_attempts([]) == {}
    assert first == {shipment: 7, other: elsewhere.status_log_id}


async def test_the_reads_of_a_pass_of_answers_each_in_one_read(uow_factory: UowFactory) -> None:
    # ``ReadAhead``: what each answer read alone, for all answers of a pump pass at once.
    shipment, quiet = new_id(), new_id()
    attempts = [
        ConversationFactory.build(shipment_id=shipment, status_log_id=log) for log in (7, 9, 8)
    ]
    async with uow_factory() as uow:
        stored = [c for c in await uow.conversations.add_many([*attempts]) if c is not None]
        newest = next(c for c in stored if c.status_log_id == 9)
        assert newest.id is not None
        quoted = await uow.messages.add(
            OutgoingMessageFactory.build(conversation_id=newest.id, message_id=f"wamid.q{new_id()}")
        )
        alone = await uow.messages.add(
            OutgoingMessageFactory.build(conversation_id=new_id(), message_id=f"wamid.a{new_id()}")
        )
        action = await uow.ndr_actions.add(NdrActionFactory.build(conversation_id=newest.id))
        await uow.commit()
    assert quoted.message_id is not None
    assert alone.message_id is not None
    assert action is not None
    async with uow_factory() as uow:
        found = await uow.messages.get_many_with_conversations(
            [quoted.message_id, alone.message_id, "wamid.none"]
        )
        latest = await uow.conversations.latest_for_shipments([shipment, quiet])
        actions = await uow.ndr_actions.for_conversations([newest.id, newest.id + 10**9])
        alone_ = await uow.messages.get_with_conversation(quoted.message_id)
    assert found[quoted.message_id] == alone_
    assert found[quoted.message_id][1] == newest
    assert found[alone.message_id] == (alone, None)
    assert "wamid.none" not in found
    assert latest == {shipment: newest}
    assert actions == {newest.id: [action], newest.id + 10**9: []}


async def test_replies_closed_together_are_closed_and_only_they(uow_factory: UowFactory) -> None:
    replies = CustomerReplyFactory.batch(3)
    async with uow_factory() as uow:
        for reply in replies:
            assert await uow.replies.add(reply) is not None
        await uow.replies.close_many([r.message_id for r in replies[:2]], T0)
        await uow.replies.close_many([], T0)
        await uow.commit()
    async with uow_factory() as uow:
        closed = [await uow.replies.get(r.message_id) for r in replies]
    assert [r.handled_at if r else "missing" for r in closed] == [T0, T0, None]


async def test_replies_added_together_keep_one_per_wamid(uow_factory: UowFactory) -> None:
    before = CustomerReplyFactory.build()
    async with uow_factory() as uow:
        assert await uow.replies.add(before) is not None
        await uow.commit()
    fresh = CustomerReplyFactory.batch(2)
    async with uow_factory() as uow:
        added = await uow.replies.add_many(
            [fresh[0], dataclasses.replace(before, value="x"), fresh[1]]
        )
        await uow.commit()
    assert added[1] is None
    assert [a.id is not None for a in added if a is not None] == [True, True]
    async with uow_factory() as uow:
        found = [await uow.replies.get(r.message_id) for r in (fresh[0], before, fresh[1])]
    assert found[0::2] == [added[0], added[2]]
    assert found[1] is not None
    assert found[1].value == before.value


async def test_actions_added_together_keep_one_per_conversation_and_kind(
    uow_factory: UowFactory,
) -> None:
    before = NdrActionFactory.build(kind=NdrActionKind.REATTEMPT)
    async with uow_factory() as uow:
        assert await uow.ndr_actions.add(before) is not None
        await uow.commit()
    fresh = [NdrActionFactory.build(kind=NdrActionKind.CANCEL) for _ in range(2)]
    # Another kind for the same conversation is an action of its own.
    other_kind = dataclasses.replace(before, kind=NdrActionKind.CANCEL)
    again = dataclasses.replace(before, reply_message_id="wamid.again")
    async with uow_factory() as uow:
        together = await uow.ndr_actions.add_many([fresh[0], other_kind, fresh[1]])
        refused = await uow.ndr_actions.add_many([again, *NdrActionFactory.batch(1)])
        await uow.commit()
    assert all(a is not None and a.id is not None for a in together)
    assert refused[0] is None
    assert refused[1] is not None
    async with uow_factory() as uow:
        stored = await uow.ndr_actions.get_for(before.conversation_id, NdrActionKind.REATTEMPT)
        for action in together:
            assert action is not None
            assert await uow.ndr_actions.get_for(action.conversation_id, action.kind) == action
    assert stored is not None
    assert stored.reply_message_id == before.reply_message_id


async def test_answers_moves_together_are_each_a_compare_and_set_noting_forward(
    uow_factory: UowFactory,
) -> None:
    seen = T0 - timedelta(hours=1)
    moved, noted_later, elsewhere = (
        ConversationFactory.build(state=ConversationState.OPEN, last_customer_message_at=at)
        for at in (None, T0 + timedelta(hours=1), None)
    )
    async with uow_factory() as uow:
        stored = [c for c in await uow.conversations.add_many([moved, noted_later, elsewhere]) if c]
        await uow.commit()
    ids = [c.id for c in stored if c.id is not None]
    awaiting = ConversationState.AWAITING_DATE
    async with uow_factory() as uow:
        count = await uow.conversations.move_noted_many(
            [
                NotedMove(ids[0], awaiting, ConversationState.OPEN, seen),
                NotedMove(ids[1], ConversationState.AWAITING_PHONE, ConversationState.OPEN, seen),
                # Read as pending, but it is open now: not moved.
                NotedMove(ids[2], awaiting, ConversationState.PENDING, seen),
            ],
            T0,
        )
        assert await uow.conversations.move_noted_many([], T0) == 0
        await uow.commit()
    assert count == 2
    async with uow_factory() as uow:
        rows = [await uow.conversations.get(i) for i in ids]
    assert [(r.state, r.last_customer_message_at) if r else None for r in rows] == [
        (awaiting, seen),
        (ConversationState.AWAITING_PHONE, T0 + timedelta(hours=1)),  # only forward
        (ConversationState.OPEN, None),
    ]
