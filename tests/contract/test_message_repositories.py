"""Outgoing messages, delivery reports and replies: found by Meta's ids, stored once."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.cost import Pricing
from domain.errors import Conflict
from domain.messages import DeliveryReport, MessageKind, OutgoingMessage
from domain.status import MessageStatus
from infrastructure.db.uow import SqlUnitOfWork
from tests.conftest import UowFactory, new_id
from tests.support.factories import (
    T0,
    ConversationFactory,
    CustomerReplyFactory,
    DeliveryReportFactory,
    OutgoingMessageFactory,
)


async def test_an_outgoing_message_is_found_by_wamid_and_by_our_ref(
    uow_factory: UowFactory,
) -> None:
    message = OutgoingMessageFactory.build(payload='{"to": "+917891971009"}')
    async with uow_factory() as uow:
        stored = await uow.messages.add(message)
        stored.message_id = "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI4MjZGRDA0OUE2OTQ3RkEyMzcA"
        stored.status = MessageStatus.ACCEPTED
        await uow.messages.update(stored)
        await uow.commit()
    async with uow_factory() as uow:
        by_wamid = await uow.messages.get_by_message_id(stored.message_id)
        by_ref = await uow.messages.get_by_client_ref(message.client_ref)
        by_conversation = await uow.messages.for_conversation(message.conversation_id)
    assert by_wamid == stored
    assert by_ref == stored
    assert by_conversation == [stored]


async def test_the_message_an_answer_quotes_is_read_with_its_conversation(
    uow_factory: UowFactory,
) -> None:
    async with uow_factory() as uow:
        conversation = await uow.conversations.add(ConversationFactory.build())
        assert conversation is not None
        assert conversation.id is not None
        template = await uow.messages.add(
            OutgoingMessageFactory.build(
                conversation_id=conversation.id, message_id=f"wamid.q{conversation.id}"
            )
        )
        orphan = await uow.messages.add(
            OutgoingMessageFactory.build(message_id=f"wamid.o{conversation.id}")
        )
        await uow.commit()
    async with uow_factory() as uow:
        found = await uow.messages.get_with_conversation(f"wamid.q{conversation.id}")
        without = await uow.messages.get_with_conversation(f"wamid.o{conversation.id}")
        missing = await uow.messages.get_with_conversation("wamid.none")
        read_alone = await uow.conversations.get(conversation.id)
    assert found == (template, read_alone)
    assert without == (orphan, None)  # its conversation is gone
    assert missing is None


async def test_wamids_differing_only_in_case_are_different_messages(
    uow_factory: UowFactory,
) -> None:
    upper = OutgoingMessageFactory.build(message_id="wamid.ABCdef")
    lower = OutgoingMessageFactory.build(message_id="wamid.abcdef")
    async with uow_factory() as uow:
        await uow.messages.add(upper)
        await uow.messages.add(lower)
        await uow.commit()
    async with uow_factory() as uow:
        found = await uow.messages.get_by_message_id("wamid.abcdef")
    assert found is not None
    assert found.client_ref == lower.client_ref


async def test_follow_ups_carry_the_template_as_root(uow_factory: UowFactory) -> None:
    template = OutgoingMessageFactory.build(message_id="wamid.root-1")
    follow_up = OutgoingMessageFactory.build(
        conversation_id=template.conversation_id,
        kind=MessageKind.INTERACTIVE,
        root_message_id="wamid.root-1",
    )
    async with uow_factory() as uow:
        await uow.messages.add(template)
        await uow.messages.add(follow_up)
        await uow.commit()
    async with uow_factory() as uow:
        thread = await uow.messages.for_conversation(template.conversation_id)
    assert [(m.kind, m.root_message_id) for m in thread] == [
        (MessageKind.TEMPLATE, None),
        (MessageKind.INTERACTIVE, "wamid.root-1"),
    ]


async def test_the_same_client_ref_cannot_be_stored_twice(uow_factory: UowFactory) -> None:
    message = OutgoingMessageFactory.build()
    async with uow_factory() as uow:
        await uow.messages.add(message)
        await uow.commit()
    async with uow_factory() as uow:
        with pytest.raises(Conflict):
            await uow.messages.add(dataclasses.replace(message))


async def test_a_status_is_stored_once_per_message_and_status(uow_factory: UowFactory) -> None:
    delivered = DeliveryReportFactory.build(status=MessageStatus.DELIVERED, payload='{"a":1}')
    read = dataclasses.replace(delivered, status=MessageStatus.READ, external_timestamp=T0)
    async with uow_factory() as uow:
        first = await uow.delivery_reports.add_many([delivered, read, delivered])
        await uow.commit()
    async with uow_factory() as uow:
        second = await uow.delivery_reports.add_many([read])
        stored = await uow.delivery_reports.for_message(delivered.message_id)
        await uow.commit()
    assert [r.status for r in first] == [MessageStatus.DELIVERED, MessageStatus.READ]
    assert second == []
    assert [(r.status, r.payload) for r in stored] == [
        (MessageStatus.DELIVERED, '{"a":1}'),
        (MessageStatus.READ, '{"a":1}'),
    ]


async def test_statuses_stored_before_are_left_out_past_one_statement(
    uow_factory: UowFactory,
) -> None:
    """More wamids than one read of the stored statuses takes (256 a statement on MariaDB):
    every one stored before is left out, whichever statement found it, and every new one is
    returned and stored once."""
    prefix = f"wamid.many{new_id()}."
    sent = [
        DeliveryReportFactory.build(message_id=f"{prefix}{i}", status=MessageStatus.SENT)
        for i in range(300)
    ]
    delivered = [dataclasses.replace(r, status=MessageStatus.DELIVERED) for r in sent]
    before = sent[::3] + delivered[250:]
    async with uow_factory() as uow:
        await uow.delivery_reports.add_many(before)
        await uow.commit()
    async with uow_factory() as uow:
        fresh = await uow.delivery_reports.add_many(sent + delivered)
        again = await uow.delivery_reports.add_many(sent + delivered)
        stored = await uow.delivery_reports.for_message(sent[0].message_id)
        await uow.commit()
    assert fresh == [r for r in sent + delivered if r not in before]
    assert again == []
    assert [r.status for r in stored] == [MessageStatus.SENT, MessageStatus.DELIVERED]


async def test_a_batch_of_reports_is_stored_exactly_as_given(uow_factory: UowFactory) -> None:
    """Every column of every row as given, whatever the other rows hold: columns set in some
    rows only, payloads with quotes, backslashes, NUL and emoji, sub-second times, pricing."""
    failed = DeliveryReportFactory.build(
        status=MessageStatus.FAILED,
        wa_outgoing_message_id=new_id(),
        client_ref=f"ref-{new_id()}",
        error_code=131026,
        error_title='Message undeliverable: "it\'s" \\ 🚫',
        payload='{"title":"a \\"quoted\\" \\\\ back\\u0000slash","emoji":"🙂"}\x00\n',
        external_timestamp=T0 + timedelta(seconds=1, microseconds=250),
        # Any zone given, UTC stored.
        created_at=(T0 + timedelta(microseconds=999_999)).astimezone(
            timezone(timedelta(hours=5, minutes=30))
        ),
        pricing=None,
    )
    priced = DeliveryReportFactory.build(
        status=MessageStatus.SENT,
        payload="{}",
        pricing=Pricing(
            billable=True, model="PMP", category="utility", type="regular", conversation_id="c1"
        ),
    )
    free = dataclasses.replace(
        priced,
        message_id=f"wamid.{new_id()}",
        pricing=Pricing(
            billable=False, model="PMP", category="service", type="free_customer_service"
        ),
    )
    bare = DeliveryReportFactory.build(status=MessageStatus.READ, payload="", pricing=None)
    given = [failed, priced, free, bare]
    async with uow_factory() as uow:
        fresh = await uow.delivery_reports.add_many(given)
        stored = [await uow.delivery_reports.for_message(r.message_id) for r in given]
        await uow.commit()
    assert fresh == given
    assert [[dataclasses.replace(r, id=None) for r in rows] for rows in stored] == [
        [r] for r in given
    ]


async def test_reports_at_the_two_instants_of_a_local_repeated_hour_keep_their_own_times(
    uow_factory: UowFactory,
) -> None:
    """A local time given for both instants of a clock's repeated hour (01:30 in London on
    the night summer time ends, ``fold`` 0 then 1): each is stored as its own UTC instant,
    an hour apart, though the batch's times are converted once per instant."""
    first = datetime(2026, 10, 25, 1, 30, tzinfo=ZoneInfo("Europe/London"))
    second = first.replace(fold=1)
    given = [
        DeliveryReportFactory.build(
            status=MessageStatus.SENT, external_timestamp=first, created_at=first
        ),
        DeliveryReportFactory.build(
            status=MessageStatus.SENT, external_timestamp=second, created_at=second
        ),
    ]
    async with uow_factory() as uow:
        await uow.delivery_reports.add_many(given)
        stored = [await uow.delivery_reports.for_message(r.message_id) for r in given]
        await uow.commit()
    assert [(r.external_timestamp, r.created_at) for [r] in stored] == [
        (datetime(2026, 10, 25, 0, 30, tzinfo=UTC), datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),
        (datetime(2026, 10, 25, 1, 30, tzinfo=UTC), datetime(2026, 10, 25, 1, 30, tzinfo=UTC)),
    ]


async def test_reports_that_came_first_are_linked_when_the_message_is_known(
    uow_factory: UowFactory,
) -> None:
    early = DeliveryReportFactory.build(wa_outgoing_message_id=None)
    async with uow_factory() as uow:
        await uow.delivery_reports.add_many([early])
        outgoing_id = new_id()  # not a literal: other tests' rows share the database and its ids
        linked = await uow.delivery_reports.link(early.message_id, outgoing_id)
        again = await uow.delivery_reports.link(early.message_id, new_id())
        stored = await uow.delivery_reports.for_message(early.message_id)
        await uow.commit()
    assert (linked, again) == (1, 0)
    assert [r.wa_outgoing_message_id for r in stored] == [outgoing_id]


async def test_a_reply_is_stored_once(uow_factory: UowFactory) -> None:
    root = new_id()  # not a literal: other tests' rows share the database and its ids
    reply = CustomerReplyFactory.build(
        root_id=root,
        value="Reattempt delivery ✅ café",
        button_id="reattempt",
    )
    async with uow_factory() as uow:
        first = await uow.replies.add(reply)
        second = await uow.replies.add(dataclasses.replace(reply, value="x"))
        await uow.commit()
    async with uow_factory() as uow:
        stored = await uow.replies.for_root(root)
    assert first is not None
    assert second is None
    assert [r.value for r in stored if r.message_id == reply.message_id] == [
        "Reattempt delivery ✅ café"
    ]


async def test_messages_are_found_in_bulk_by_wamid(uow_factory: UowFactory) -> None:
    one = OutgoingMessageFactory.build(message_id=f"wamid.bulk{new_id()}")
    two = OutgoingMessageFactory.build(message_id=f"wamid.bulk{new_id()}")
    async with uow_factory() as uow:
        stored = [await uow.messages.add(one), await uow.messages.add(two)]
        await uow.commit()
    async with uow_factory() as uow:
        found = await uow.messages.get_many_by_message_ids([one.message_id or "", "wamid.none"])
        # The status pass's second look (docs/sending.md), a locking read on MariaDB.
        locked = await uow.messages.lock_many_by_message_ids({one.message_id or "", "wamid.x"})
    assert found == locked == {one.message_id: stored[0]}


async def test_a_reply_keeps_its_decision_and_handled_time(uow_factory: UowFactory) -> None:
    reply = CustomerReplyFactory.build()
    async with uow_factory() as uow:
        await uow.replies.add(reply)
        await uow.commit()
    async with uow_factory() as uow:
        stored = await uow.replies.get(reply.message_id)
        assert stored is not None
        assert (stored.decision, stored.handled_at) == (None, None)
        await uow.replies.update(
            dataclasses.replace(stored, decision='{"why": "reattempt"}', handled_at=T0)
        )
        await uow.commit()
    async with uow_factory() as uow:
        updated = await uow.replies.get(reply.message_id)
    assert updated is not None
    assert (updated.decision, updated.handled_at) == ('{"why": "reattempt"}', T0)


async def test_a_status_is_written_only_over_an_earlier_one(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        stored = await uow.messages.add(OutgoingMessageFactory.build())
        await uow.commit()
    wamid = f"wamid.cas-{new_id()}"
    sent = dataclasses.replace(stored, status=MessageStatus.SENT, message_id=wamid)
    accepted = dataclasses.replace(stored, status=MessageStatus.ACCEPTED, message_id=wamid)
    other = dataclasses.replace(stored, status=MessageStatus.READ, message_id="wamid.other")
    async with uow_factory() as uow:
        assert await uow.messages.advance(sent)
        assert not await uow.messages.advance(accepted)  # would put the status back
        assert not await uow.messages.advance(other)  # another wamid is stored
        await uow.commit()
    async with uow_factory() as uow:
        found = await uow.messages.get(stored.id or 0)
    assert found is not None
    assert (found.status, found.message_id) == (MessageStatus.SENT, wamid)


async def test_statuses_written_together_follow_the_same_compare_and_set(
    uow_factory: UowFactory,
) -> None:
    async with uow_factory() as uow:
        rows = [await uow.messages.add(OutgoingMessageFactory.build()) for _ in range(4)]
        taken = await uow.messages.add(
            OutgoingMessageFactory.build(message_id=f"wamid.taken-{new_id()}")
        )
        await uow.commit()
    wamids = [f"wamid.many-{new_id()}" for _ in rows]
    later = T0 + timedelta(minutes=5)

    def moved(i: int, status: MessageStatus, wamid: str | None = None) -> OutgoingMessage:
        return dataclasses.replace(
            rows[i],
            status=status,
            message_id=wamid if wamid is not None else wamids[i],
            error_code=131_000 + i if status is MessageStatus.FAILED else None,
            external_updated_at=later,
            updated_at=later,
        )

    async with uow_factory() as uow:
        first = await uow.messages.advance_many([moved(i, MessageStatus.SENT) for i in range(4)])
        # Then: one forward, one backward (refused), one forward, one onto a wamid another
        # message holds (refused by the unique key): the others are written all the same.
        second = await uow.messages.advance_many(
            [
                moved(0, MessageStatus.DELIVERED),
                moved(1, MessageStatus.ACCEPTED),
                moved(2, MessageStatus.FAILED),
                moved(3, MessageStatus.READ, taken.message_id),
            ]
        )
        await uow.commit()
    assert first == {r.id for r in rows}
    assert second == {rows[0].id, rows[2].id}
    async with uow_factory() as uow:
        found = [await uow.messages.get(r.id or 0) for r in rows]
    assert [(f.status, f.message_id) if f else None for f in found] == [
        (MessageStatus.DELIVERED, wamids[0]),
        (MessageStatus.SENT, wamids[1]),
        (MessageStatus.FAILED, wamids[2]),
        (MessageStatus.SENT, wamids[3]),
    ]
    assert found[2] is not None
    assert (found[2].error_code, found[2].external_updated_at) == (131_002, later)


async def test_due_unknown_sends_are_claimed_oldest_first(uow_factory: UowFactory) -> None:
    conversation_id = new_id()
    due = OutgoingMessageFactory.build(
        conversation_id=conversation_id,
        kind=MessageKind.TEMPLATE,
        status=MessageStatus.UNKNOWN,
        updated_at=T0 - timedelta(hours=1),
    )
    fresh = OutgoingMessageFactory.build(
        conversation_id=conversation_id,
        kind=MessageKind.TEMPLATE,
        status=MessageStatus.UNKNOWN,
        updated_at=T0,
    )
    async with uow_factory() as uow:
        await uow.messages.add(due)
        await uow.messages.add(fresh)
        claimed = await uow.messages.claim_unknown(T0 - timedelta(minutes=10), 1000, [])
        counts = await uow.messages.count_unknown(T0, [600.0, 7200.0])
    refs = [m.client_ref for m in claimed]
    assert due.client_ref in refs
    assert fresh.client_ref not in refs
    assert counts[0] >= 1  # the fresh one
    assert counts[1] >= 1  # the hour-old one


async def test_two_workers_claim_disjoint_unknown_sends_on_mariadb(
    mysql_engine: AsyncEngine,
) -> None:
    """``FOR UPDATE SKIP LOCKED``: a second worker skips what the first has claimed."""
    old = T0 - timedelta(days=400)  # older than anything other tests leave behind
    async with SqlUnitOfWork(mysql_engine) as uow:
        mine = [
            await uow.messages.add(
                OutgoingMessageFactory.build(
                    kind=MessageKind.TEMPLATE, status=MessageStatus.UNKNOWN, updated_at=old
                )
            )
            for _ in range(2)
        ]
        await uow.commit()
    cutoff = old + timedelta(seconds=1)
    async with SqlUnitOfWork(mysql_engine) as first, SqlUnitOfWork(mysql_engine) as second:
        taken = await first.messages.claim_unknown(cutoff, 1, [])
        others = await asyncio.wait_for(second.messages.claim_unknown(cutoff, 10, []), 30)
    ids = {m.id for m in mine}
    assert [m.id for m in taken if m.id in ids] != []
    assert {m.id for m in taken} & {m.id for m in others} == set()
    assert ids <= {m.id for m in taken} | {m.id for m in others}


async def test_many_statuses_written_together_match_one_by_one(uow_factory: UowFactory) -> None:
    """More messages than one statement holds, sizes that are not a power of two, messages
    whose wamid is given or not: each comes out as ``advance`` alone would leave it."""
    async with uow_factory() as uow:
        stored = [
            await uow.messages.add(
                OutgoingMessageFactory.build(
                    status=MessageStatus.ACCEPTED,
                    message_id=f"wamid.bulk-{new_id()}" if i % 3 else None,
                )
            )
            for i in range(133)
        ]
        await uow.commit()
    later = T0 + timedelta(minutes=7)

    def moved(m: OutgoingMessage, status: MessageStatus, wamid: str | None) -> OutgoingMessage:
        return dataclasses.replace(
            m, status=status, message_id=wamid, external_updated_at=later, updated_at=later
        )

    # Every third message had no wamid stored: it is given one; the others are not given
    # theirs (None leaves the stored one as it is).
    given = {m.id: f"wamid.given-{new_id()}" for m in stored[::3]}
    first = [moved(m, MessageStatus.DELIVERED, given.get(m.id)) for m in stored]
    async with uow_factory() as uow:
        assert await uow.messages.advance_many(first) == {m.id for m in stored}
        await uow.commit()
    # Then 131 of them (not a power of two) again, the last one backwards: refused alone.
    second = [moved(m, MessageStatus.READ, None) for m in stored[:130]]
    second.append(moved(stored[130], MessageStatus.SENT, None))
    async with uow_factory() as uow:
        taken = await uow.messages.advance_many(second)
        await uow.commit()
    assert taken == {m.id for m in stored[:130]}
    async with uow_factory() as uow:
        found = await uow.messages.get_many_by_message_ids(
            [given.get(m.id) or m.message_id or "" for m in stored]
        )
    assert len(found) == len(stored)
    for i, m in enumerate(stored):
        row = found[given.get(m.id) or m.message_id or ""]
        assert row.id == m.id
        assert row.status is (MessageStatus.READ if i < 130 else MessageStatus.DELIVERED)
        assert row.external_updated_at == later


async def test_the_status_pass_reads_its_messages_without_their_request_body(
    uow_factory: UowFactory,
) -> None:
    """More wamids than one statement holds (MariaDB reads them 256 at a time), every
    column the pass works with as stored (times aware UTC, errors, a resend, kinds), no
    request body; a wamid of no message is no key."""
    later = T0 + timedelta(minutes=3, microseconds=250)
    async with uow_factory() as uow:
        stored = [
            await uow.messages.add(
                OutgoingMessageFactory.build(
                    message_id=f"wamid.pass-{new_id()}",
                    payload='{"to": "+917891971009", "body": "Reattempt ✅"}',
                    kind=MessageKind.TEMPLATE if i % 2 else MessageKind.TEXT,
                    template_id=7 if i % 2 else None,
                    root_message_id=None if i % 2 else f"wamid.root-{i}",
                    status=MessageStatus.FAILED if i % 5 == 0 else MessageStatus.DELIVERED,
                    error_code=131026 if i % 5 == 0 else None,
                    error_title="Message undeliverable" if i % 5 == 0 else None,
                    external_updated_at=later if i % 3 else None,
                    resent_at=later if i % 7 == 0 else None,
                    updated_at=later,
                )
            )
            for i in range(260)
        ]
        await uow.commit()
    wamids = {m.message_id or "" for m in stored}
    async with uow_factory() as uow:
        found = await uow.messages.get_many_for_statuses([*wamids, "wamid.none"])
        few = await uow.messages.get_many_for_statuses([stored[3].message_id or "", "wamid.x"])
        nothing = await uow.messages.get_many_for_statuses([])
    assert found == {m.message_id: dataclasses.replace(m, payload="") for m in stored}
    assert few == {stored[3].message_id: dataclasses.replace(stored[3], payload="")}
    assert nothing == {}
    assert found[stored[1].message_id or ""].updated_at.tzinfo is not None


def _a_window_of_its_own() -> datetime:
    """A minute in the past no other test stores statuses in (they share the database)."""
    return T0 - timedelta(days=400, minutes=secrets.randbelow(10**7))


async def test_the_sweep_reads_recent_unlinked_statuses_whose_message_is_stored(
    uow_factory: UowFactory,
) -> None:
    """Unlinked, stored in the window, their wamid stored on a message: each wamid once, in
    the order they were stored, at most ``limit`` statuses (docs/sending.md)."""
    since = _a_window_of_its_own()
    until = since + timedelta(minutes=1)
    known = [f"wamid.sweep{new_id()}" for _ in range(3)]
    unknown, linked, late = (f"wamid.sweep{new_id()}" for _ in range(3))

    def status(wamid: str, seconds: float, **changes: object) -> DeliveryReport:
        at = since + timedelta(seconds=seconds)
        return DeliveryReportFactory.build(message_id=wamid, created_at=at, **changes)

    async with uow_factory() as uow:
        for wamid in [*known, linked, late]:
            await uow.messages.add(OutgoingMessageFactory.build(message_id=wamid))
        await uow.delivery_reports.add_many(
            [
                status(known[1], 1, status=MessageStatus.SENT),
                status(known[1], 2),
                status(known[0], 3),
                status(known[2], 4),
                status(unknown, 5),  # no message has its wamid (yet)
                status(linked, 6, wa_outgoing_message_id=new_id()),
                status(late, 60),  # at ``until``: not in the window
                status(late, -1, status=MessageStatus.SENT),  # before it
            ]
        )
        await uow.commit()
    async with uow_factory() as uow:
        found = await uow.delivery_reports.unlinked_with_message(since, until, 100)
        first = await uow.delivery_reports.unlinked_with_message(since, until, 3)
    assert found == [known[1], known[0], known[2]]
    assert first == [known[1], known[0]]  # three statuses, two of them known[1]'s


async def test_the_sweep_claims_messages_as_the_look_locks_them(uow_factory: UowFactory) -> None:
    one = OutgoingMessageFactory.build(message_id=f"wamid.claim{new_id()}")
    async with uow_factory() as uow:
        stored = await uow.messages.add(one)
        await uow.commit()
    async with uow_factory() as uow:
        claimed = await uow.messages.claim_by_message_ids({one.message_id or "", "wamid.none"})
        none = await uow.messages.claim_by_message_ids(set())
    assert (claimed, none) == ({one.message_id: stored}, {})


async def test_a_message_claimed_by_one_sweep_is_skipped_by_another_on_mariadb(
    mysql_engine: AsyncEngine,
) -> None:
    """``FOR UPDATE SKIP LOCKED``: the second sweep does not wait for the first, and does not
    get the message; once the first commits, it is free again."""
    wamids = [f"wamid.claim{new_id()}" for _ in range(2)]
    async with SqlUnitOfWork(mysql_engine) as uow:
        for wamid in wamids:
            await uow.messages.add(OutgoingMessageFactory.build(message_id=wamid))
        await uow.commit()
    async with SqlUnitOfWork(mysql_engine) as first:
        taken = await first.messages.claim_by_message_ids(wamids[:1])
        async with SqlUnitOfWork(mysql_engine) as second:
            others = await asyncio.wait_for(second.messages.claim_by_message_ids(wamids), 30)
    async with SqlUnitOfWork(mysql_engine) as third:
        later = await third.messages.claim_by_message_ids(wamids)
    assert (list(taken), list(others), sorted(later)) == (wamids[:1], wamids[1:], sorted(wamids))
