"""FDR event outcomes, the webhook inbox, NDR actions and link clicks."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta

from domain.activity import Outcome
from domain.ndr import NdrActionKind, NdrActionState
from domain.records import FdrEventRecord, LinkClick, WebhookDelivery, WebhookProblem
from tests.conftest import UowFactory, new_id
from tests.support.factories import T0, NdrActionFactory


async def test_an_event_key_is_recorded_once(uow_factory: UowFactory) -> None:
    key = f"shipment:{new_id()}"
    record = FdrEventRecord(
        event_key=key, outcome=Outcome.SKIPPED, detail="disabled", received_at=T0
    )
    async with uow_factory() as uow:
        assert await uow.fdr_events.add(record) is not None
        assert await uow.fdr_events.add(dataclasses.replace(record, detail="again")) is None
        await uow.commit()
    async with uow_factory() as uow:
        found = await uow.fdr_events.get(key)
        assert found is not None
        assert found.detail == "disabled"
        await uow.fdr_events.update(dataclasses.replace(found, outcome=Outcome.SENT, detail=""))
        await uow.commit()
    async with uow_factory() as uow:
        updated = await uow.fdr_events.get(key)
    assert updated is not None
    assert updated.outcome is Outcome.SENT


async def test_the_inbox_keeps_exact_bytes_until_processed(uow_factory: UowFactory) -> None:
    body = b'{"text":{"body":"caf\\u00e9"}}\xff\x00'  # any bytes, kept as received
    async with uow_factory() as uow:
        stored = await uow.inbox.add(WebhookDelivery(connection_id=None, body=body, received_at=T0))
        await uow.commit()
    assert stored.id is not None
    async with uow_factory() as uow:
        pending = await uow.inbox.pending(1000)
        assert body in [d.body for d in pending]
        await uow.inbox.mark_processed(stored.id, T0 + timedelta(seconds=1))
        await uow.commit()
    async with uow_factory() as uow:
        assert stored.id not in [d.id for d in await uow.inbox.pending(1000)]


async def test_bodies_stored_together_keep_their_order_and_bytes(uow_factory: UowFactory) -> None:
    bodies = [f'{{"n":{n},"id":{new_id()}}}'.encode() + b"\xff" * n for n in range(7)]
    async with uow_factory() as uow:
        stored = await uow.inbox.add_many(
            [
                WebhookDelivery(connection_id=n % 2 or None, body=b, received_at=T0)
                for n, b in enumerate(bodies)
            ]
        )
        await uow.commit()
    assert [d.body for d in stored] == bodies
    ids = [d.id or 0 for d in stored]
    assert 0 not in ids
    assert ids == sorted(ids)
    async with uow_factory() as uow:
        found = [await uow.inbox.get(i) for i in ids]
    assert [(d.body, d.connection_id) if d else None for d in found] == [
        (b, n % 2 or None) for n, b in enumerate(bodies)
    ]


async def test_one_ndr_action_per_conversation_and_kind(uow_factory: UowFactory) -> None:
    action = NdrActionFactory.build(
        kind=NdrActionKind.RESCHEDULE, delivery_date=date(2026, 11, 27), disputed_fake_attempt=False
    )
    async with uow_factory() as uow:
        stored = await uow.ndr_actions.add(action)
        assert await uow.ndr_actions.add(dataclasses.replace(action, reply_message_id="x")) is None
        cancel = await uow.ndr_actions.add(dataclasses.replace(action, kind=NdrActionKind.CANCEL))
        await uow.commit()
    assert stored is not None
    assert cancel is not None
    async with uow_factory() as uow:
        stored.state = NdrActionState.DONE
        stored.attempts = 1
        stored.result = "ESB-123"
        await uow.ndr_actions.update(stored)
        await uow.commit()
    async with uow_factory() as uow:
        found = await uow.ndr_actions.get_for(action.conversation_id, NdrActionKind.RESCHEDULE)
        all_actions = await uow.ndr_actions.for_conversation(action.conversation_id)
    assert found is not None
    assert (found.state, found.result, found.delivery_date) == (
        NdrActionState.DONE,
        "ESB-123",
        date(2026, 11, 27),
    )
    assert [a.kind for a in all_actions] == [NdrActionKind.RESCHEDULE, NdrActionKind.CANCEL]


async def test_the_address_of_an_action_is_kept_whole(uow_factory: UowFactory) -> None:
    # 500 characters, the most the tracking page takes, not all of them ASCII.
    address = ("मकान 12, गली 4, " + "Sector 21, Gurugram 122016, " * 20)[:500]
    assert len(address) == 500
    action = NdrActionFactory.build(kind=NdrActionKind.UPDATE_ADDRESS, address=address)
    async with uow_factory() as uow:
        stored = await uow.ndr_actions.add(action)
        other = await uow.ndr_actions.add(
            dataclasses.replace(action, kind=NdrActionKind.CANCEL, address=None)
        )
        await uow.commit()
    assert stored is not None
    assert other is not None
    async with uow_factory() as uow:
        found = await uow.ndr_actions.get_for(action.conversation_id, NdrActionKind.UPDATE_ADDRESS)
        assert found is not None
        assert found.address == address
        found.state, found.attempts, found.result = NdrActionState.DONE, 1, "ESB-9"
        await uow.ndr_actions.update(found)
        await uow.commit()
    async with uow_factory() as uow:
        kept = await uow.ndr_actions.for_conversation(action.conversation_id)
    assert [(a.kind, a.address, a.state) for a in kept] == [
        (NdrActionKind.UPDATE_ADDRESS, address, NdrActionState.DONE),
        (NdrActionKind.CANCEL, None, NdrActionState.PENDING),
    ]


async def test_link_clicks_are_kept_per_shipment(uow_factory: UowFactory) -> None:
    shipment = new_id()
    async with uow_factory() as uow:
        await uow.link_clicks.add(
            LinkClick(shipment_id=shipment, user_agent="WhatsApp/2.23", clicked_at=T0)
        )
        await uow.link_clicks.add(
            LinkClick(shipment_id=shipment, clicked_at=T0 + timedelta(minutes=1))
        )
        await uow.commit()
    async with uow_factory() as uow:
        clicks = await uow.link_clicks.for_shipment(shipment)
    assert [c.user_agent for c in clicks] == ["WhatsApp/2.23", ""]


async def test_bodies_waiting_for_a_retry_do_not_starve_fresh_ones(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        waiting = await uow.inbox.add(
            WebhookDelivery(connection_id=None, body=b"old", received_at=T0)
        )
        fresh = await uow.inbox.add(
            WebhookDelivery(connection_id=None, body=b"new", received_at=T0 + timedelta(seconds=1))
        )
        assert waiting.id is not None
        await uow.inbox.mark_waiting(waiting.id, "waiting: ESB unavailable", T0)
        await uow.commit()
    async with uow_factory() as uow:
        ours = [d for d in await uow.inbox.pending(10_000) if d.id in (waiting.id, fresh.id)]
        old = await uow.inbox.pending(10_000, received_before=T0 + timedelta(seconds=1))
        for delivery in ours:
            assert delivery.id is not None
            await uow.inbox.mark_processed(delivery.id, T0)
        await uow.commit()
    assert [d.body for d in ours] == [b"new", b"old"]
    assert ours[1].error == "waiting: ESB unavailable"
    assert b"new" not in [d.body for d in old]


async def test_a_pass_takes_only_the_bodies_that_fit_its_bytes_at_least_one(
    uow_factory: UowFactory,
) -> None:
    # Received in 1980: no other test's bodies are that old, so ``received_before`` isolates.
    then = datetime(1980, 1, 1, tzinfo=UTC)
    sizes = (400, 300, 200, 100)
    async with uow_factory() as uow:
        stored = [
            await uow.inbox.add(
                WebhookDelivery(connection_id=None, body=b"x" * size, received_at=then)
            )
            for size in sizes
        ]
        await uow.commit()
    before = then + timedelta(days=1)
    async with uow_factory() as uow:
        everything = await uow.inbox.pending(100, received_before=before)
        fits = await uow.inbox.pending(100, received_before=before, max_bytes=900)
        too_big = await uow.inbox.pending(100, received_before=before, max_bytes=10)
        counted = await uow.inbox.pending(2, received_before=before, max_bytes=10_000)
        await uow.inbox.mark_many_processed([d.id for d in stored if d.id is not None], then)
        await uow.commit()
    assert [len(d.body) for d in everything] == [400, 300, 200, 100]
    assert [len(d.body) for d in fits] == [400, 300, 200]  # 100 more would be 1000 bytes
    assert [len(d.body) for d in too_big] == [400]  # alone, however big
    assert [len(d.body) for d in counted] == [400, 300]


async def test_processed_bodies_are_purged_in_batches_errors_and_pending_kept(
    uow_factory: UowFactory,
) -> None:
    then = datetime(1975, 1, 1, tzinfo=UTC)  # older than any other test's bodies
    cutoff = then + timedelta(days=1)
    async with uow_factory() as uow:

        async def body(text: bytes, processed_at: datetime | None, error: str | None = None) -> int:
            stored = await uow.inbox.add(
                WebhookDelivery(connection_id=None, body=text, received_at=then)
            )
            assert stored.id is not None
            if processed_at is not None:
                await uow.inbox.mark_processed(stored.id, processed_at, error)
            return stored.id

        for n in range(3):
            await body(b"old %d" % n, then)
        await body(b"malformed", then, "malformed: not JSON")
        await body(b"recent", cutoff + timedelta(hours=1))
        pending = await body(b"pending", None)
        await uow.commit()
    async with uow_factory() as uow:
        first = await uow.inbox.purge_processed(cutoff, limit=2)
        second = await uow.inbox.purge_processed(cutoff, limit=2)
        third = await uow.inbox.purge_processed(cutoff, limit=2)
        left = {d.id for d in await uow.inbox.pending(10_000, received_before=cutoff)}
        await uow.inbox.mark_many_processed([pending], cutoff)
        await uow.commit()
    assert (first, second, third) == (2, 1, 0)  # the three old ones, two at a time
    assert pending in left
    async with uow_factory() as uow:
        # A day later: the recent one and the one just processed; never the failed one.
        later = await uow.inbox.purge_processed(cutoff + timedelta(days=1), limit=100)
        never = await uow.inbox.purge_processed(cutoff + timedelta(days=1000), limit=100)
        await uow.commit()
    assert later == 2
    assert never == 0


async def test_the_backlog_counts_pending_bodies_and_the_oldest(uow_factory: UowFactory) -> None:
    async with uow_factory() as uow:
        before = await uow.inbox.backlog()
        oldest = datetime(1970, 6, 1, tzinfo=UTC)  # older than any other test's body
        first = await uow.inbox.add(
            WebhookDelivery(connection_id=None, body=b"a", received_at=oldest)
        )
        await uow.inbox.add(WebhookDelivery(connection_id=None, body=b"b", received_at=T0))
        await uow.commit()
    async with uow_factory() as uow:
        during = await uow.inbox.backlog()
        assert first.id is not None
        await uow.inbox.mark_processed(first.id, T0)
        await uow.commit()
    async with uow_factory() as uow:
        after = await uow.inbox.backlog()
    assert during.pending == before.pending + 2
    assert during.oldest_received_at == oldest
    assert after.pending == before.pending + 1
    assert after.oldest_received_at is not None
    assert after.oldest_received_at > oldest


async def test_a_body_that_waited_then_succeeded_is_done_without_error(
    uow_factory: UowFactory,
) -> None:
    then = datetime(1972, 3, 1, tzinfo=UTC)  # older than any other test's body
    async with uow_factory() as uow:
        stored = await uow.inbox.add(
            WebhookDelivery(connection_id=None, body=b"answer", received_at=then)
        )
        assert stored.id is not None
        await uow.inbox.mark_waiting(stored.id, "waiting: ESB unavailable", then)
        await uow.commit()
    async with uow_factory() as uow:
        await uow.inbox.mark_many_processed([stored.id], then)
        await uow.commit()
    async with uow_factory() as uow:
        # Processed without error: purged like any other done body (one processed with an
        # error would be kept).
        purged = await uow.inbox.purge_processed(then + timedelta(seconds=1), limit=100)
        await uow.commit()
    assert purged == 1


async def test_a_waiting_body_is_not_taken_again_before_its_retry_time(
    uow_factory: UowFactory,
) -> None:
    # Received in 1975: no other test's bodies are that old, so ``received_before`` isolates.
    then = datetime(1975, 1, 1, tzinfo=UTC)
    retry_at = then + timedelta(minutes=5)
    async with uow_factory() as uow:
        stored = await uow.inbox.add(
            WebhookDelivery(connection_id=None, body=b"waits", received_at=then)
        )
        assert stored.id is not None
        await uow.inbox.mark_waiting(stored.id, "waiting: ESB unavailable", retry_at)
        await uow.inbox.mark_waiting(stored.id, "waiting: ESB unavailable", retry_at)
        await uow.commit()
    before = then + timedelta(minutes=1)
    async with uow_factory() as uow:
        early = await uow.inbox.pending(10, received_before=before, now=retry_at - timedelta(1))
        due = await uow.inbox.pending(10, received_before=before, now=retry_at)
        anyway = await uow.inbox.pending(10, received_before=before)  # a drain takes it
        await uow.inbox.mark_processed(stored.id, retry_at)
        await uow.commit()
    assert early == []
    assert [(d.body, d.attempts) for d in due] == [(b"waits", 2)]
    assert [d.body for d in anyway] == [b"waits"]


async def test_element_problems_are_kept_once_and_forgotten_when_requeued(
    uow_factory: UowFactory,
) -> None:
    async with uow_factory() as uow:
        stored = await uow.inbox.add(WebhookDelivery(connection_id=None, body=b"b", received_at=T0))
        assert stored.id is not None
        problem = WebhookProblem(
            inbox_id=stored.id,
            element="entry[0].changes[0].value.statuses[3]",
            kind="unreadable",
            detail="timestamp 'x' is not unix seconds",
            created_at=T0,
        )
        assert await uow.inbox.add_problems([problem]) == 1
        assert await uow.inbox.add_problems([problem]) == 0  # processed again: no second alert
        await uow.inbox.mark_processed(stored.id, T0, "1 element(s) not applied")
        await uow.commit()
    async with uow_factory() as uow:
        kept = await uow.inbox.problems(stored.id)
        with_errors = await uow.inbox.with_errors(1_000_000)
        assert await uow.inbox.requeue([stored.id, 10**15]) == 1
        await uow.commit()
    async with uow_factory() as uow:
        again = await uow.inbox.get(stored.id)
        forgotten = await uow.inbox.problems(stored.id)
        await uow.inbox.mark_processed(stored.id, T0)
        await uow.commit()
    assert kept == [problem]
    assert stored.id in with_errors
    assert again is not None
    assert (again.processed_at, again.error, again.attempts) == (None, None, 0)
    assert forgotten == []


async def test_a_claimed_body_is_skipped_by_other_pumps_until_its_claim_ends(
    uow_factory: UowFactory,
) -> None:
    async with uow_factory() as uow:
        body = await uow.inbox.add(
            WebhookDelivery(connection_id=None, body=b"claimed", received_at=T0)
        )
        await uow.commit()
    now = datetime.now(UTC)
    until = now + timedelta(seconds=60)

    async def claim(at: datetime) -> list[int | None]:
        async with uow_factory() as uow:
            taken = await uow.inbox.pending(10_000, now=at, claim_until=at + timedelta(seconds=60))
            await uow.commit()
        return [d.id for d in taken]

    assert body.id in await claim(now)  # the first pump's
    assert body.id not in await claim(now + timedelta(seconds=1))  # another pump skips it
    async with uow_factory() as uow:  # a drain (no ``now``) takes every pending body
        assert body.id in [d.id for d in await uow.inbox.pending(10_000)]
    assert body.id in await claim(until + timedelta(seconds=1))  # its pump gave up on it
    async with uow_factory() as uow:
        assert body.id is not None
        await uow.inbox.mark_processed(body.id, now)
        await uow.commit()
