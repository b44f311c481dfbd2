"""Quiet hours on the failed-delivery path, with a clock the test moves: an event at night is
held, acknowledged, and sent by the scheduler when quiet hours end, once, through the normal
send path (docs/quiet-hours.md).

Each case runs on one database: MariaDB where claiming the held send is what it shows (row
locks, SKIP LOCKED, a lease), a SQLite database of its own otherwise (the rules of the case do
not depend on the database; the contract tests run the repositories on both)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from application.follow_ups import FollowUpSender
from application.services import SenderResolver
from application.use_cases.handle_customer_reply import HandleCustomerReply
from application.use_cases.held_sends import HeldSends
from application.use_cases.notify_failed_delivery import Disposition, event_key
from application.use_cases.release_held_send import ReleaseHeldSend
from application.use_cases.run_due_jobs import JobHandlers, RunDueJobs
from domain.activity import Outcome
from domain.failed_delivery import FailedDelivery
from domain.notification import button_payload
from domain.quiet_hours import QuietHours
from domain.scheduling import DEFAULT_LEASE, HELD_SEND, JobState
from domain.settings import ChannelSetting
from domain.webhook import InboundMessage
from infrastructure.db.uow import SqlUnitOfWork
from infrastructure.events.held_event import MsgspecFailedDeliveryCodec
from infrastructure.local.collaborators import InMemoryNdrActions
from tests.conftest import UowFactory
from tests.integration.test_send_path import World, _world
from tests.support.doubles import DEFAULT_SENDER, StaticDirectory
from tests.support.stack import leave_no_unknown_send

#: 23:00 in India (UTC+05:30) on 20 November; quiet hours end at 09:00 on the 21st.
NIGHT = datetime(2026, 11, 20, 17, 30, tzinfo=UTC)
MORNING = datetime(2026, 11, 21, 3, 30, tzinfo=UTC)


@pytest.fixture
def world(new_uow: UowFactory) -> World:
    """On a SQLite database of this test's own."""
    return _world(new_uow)


@pytest.fixture
async def mariadb_world(mysql_engine: AsyncEngine) -> AsyncIterator[World]:
    """On the MariaDB the tests share: what this one leaves unsent is failed afterwards."""
    yield _world(lambda: SqlUnitOfWork(mysql_engine))
    await leave_no_unknown_send(mysql_engine)


def scheduler(world: World) -> RunDueJobs:
    """One worker's scheduler pass, over the same database and clock."""
    codec = MsgspecFailedDeliveryCodec()
    release = ReleaseHeldSend(world.notify(), codec)
    return RunDueJobs(world.uow(), world.clock, JobHandlers([release]))


async def sends_of(world: World, fdr: FailedDelivery) -> int:
    """Templates Meta accepted for this event's attempt."""
    async with world.uow() as uow:
        conversation = await uow.conversations.get_by_attempt(fdr.shipment_id, fdr.status_log_id)
        if conversation is None:
            return 0
        thread = await uow.messages.for_conversation(conversation.id or 0)
    return sum(len(world.meta.sends(m)) for m in thread)


async def run_at(world: World, moment: datetime) -> None:
    world.clock.current = moment
    await scheduler(world)()


async def test_an_event_at_23_00_ist_is_sent_at_09_00_ist_not_before(
    mariadb_world: World,
) -> None:
    """On MariaDB: the scheduler claims the held send with SKIP LOCKED, as in production."""
    world = mariadb_world
    world.clock.current = NIGHT
    fdr = await world.fdr(failed_at=NIGHT - timedelta(minutes=10))

    result = await world.notify()(fdr)

    assert (result.disposition, result.outcome) == (Disposition.ACK, Outcome.HELD)
    assert result.detail.startswith("held until 09:00 Asia/Kolkata (2026-11-21T03:30:00Z)")
    record = await world.record(fdr)
    assert record is not None
    assert record.outcome is Outcome.HELD
    assert "held until 09:00" in record.detail
    [held] = [e for e in world.activity.events if e.shipment_id == fdr.shipment_id]
    assert held.outcome is Outcome.HELD
    assert held.detail == result.detail

    for moment in (NIGHT + timedelta(hours=1), MORNING - timedelta(minutes=1)):
        await run_at(world, moment)
        assert await sends_of(world, fdr) == 0, f"sent at {moment:%H:%M} UTC"

    await run_at(world, MORNING)
    assert await sends_of(world, fdr) == 1
    assert await world.outcome(fdr) is Outcome.SENT
    async with world.uow() as uow:
        job = await uow.jobs.get(HELD_SEND, event_key(fdr))
    assert job is not None
    assert job.state is JobState.DONE
    await run_at(world, MORNING + timedelta(hours=2))
    assert await sends_of(world, fdr) == 1


async def test_the_same_event_delivered_twice_while_held_is_sent_once(world: World) -> None:
    """On SQLite: the held send's unique key, which both databases keep."""
    world.clock.current = NIGHT
    fdr = await world.fdr(failed_at=NIGHT - timedelta(minutes=10))
    first = await world.notify()(fdr)
    world.clock.current = NIGHT + timedelta(hours=2)  # Pub/Sub redelivers it later at night
    again = await world.notify()(fdr)

    assert (first.outcome, again.outcome) == (Outcome.HELD, Outcome.HELD)
    assert again.duplicate
    assert again.disposition is Disposition.ACK
    assert again.detail == first.detail  # still due at 09:00

    await run_at(world, MORNING)
    await world.notify()(fdr)  # and once more after it was sent
    await run_at(world, MORNING + timedelta(minutes=10))
    assert await sends_of(world, fdr) == 1


async def test_a_worker_killed_after_claiming_the_held_send_leaves_it_for_after_the_lease(
    mariadb_world: World,
) -> None:
    """On MariaDB: the dead worker's claim and its lease are rows locked and read there."""
    world = mariadb_world
    world.clock.current = NIGHT
    fdr = await world.fdr(failed_at=NIGHT - timedelta(minutes=10))
    await world.notify()(fdr)

    world.clock.current = MORNING
    async with world.uow() as uow:  # a worker claims the job and dies (kill -9)
        claimed = await uow.jobs.claim_due(MORNING, DEFAULT_LEASE, 100, {HELD_SEND})
        await uow.commit()
    assert event_key(fdr) in {job.key for job in claimed}

    await run_at(world, MORNING + DEFAULT_LEASE - timedelta(seconds=1))
    assert await sends_of(world, fdr) == 0  # still the dead worker's
    await run_at(world, MORNING + DEFAULT_LEASE)
    await run_at(world, MORNING + DEFAULT_LEASE * 3)
    assert await sends_of(world, fdr) == 1
    assert await world.outcome(fdr) is Outcome.SENT


async def test_the_workspaces_own_window_and_zone_are_used(world: World) -> None:
    """On SQLite: the window and its zone are the domain's."""
    london = QuietHours(time(22), time(7), "Europe/London")
    world.clock.current = NIGHT  # 17:30 in London: not quiet there
    fdr = await world.fdr(failed_at=NIGHT - timedelta(minutes=10))
    await world.enable(fdr.account_id, quiet_hours=london)
    assert (await world.notify()(fdr)).outcome is Outcome.SENT

    late = NIGHT + timedelta(hours=5)  # 22:30 in London
    world.clock.current = late
    other = await world.fdr(failed_at=late - timedelta(minutes=10))
    await world.enable(other.account_id, quiet_hours=london)
    held = await world.notify()(other)
    assert held.outcome is Outcome.HELD
    assert held.detail.startswith("held until 07:00 Europe/London (2026-11-21T07:00:00Z)")
    await run_at(world, datetime(2026, 11, 21, 6, 59, tzinfo=UTC))
    assert await sends_of(world, other) == 0
    await run_at(world, datetime(2026, 11, 21, 7, 0, tzinfo=UTC))
    assert await sends_of(world, other) == 1

    # Start equal to end: no quiet hours at all.
    world.clock.current = NIGHT
    never = await world.fdr(failed_at=NIGHT - timedelta(minutes=10))
    await world.enable(never.account_id, quiet_hours=QuietHours(time(0), time(0), "UTC"))
    assert (await world.notify()(never)).outcome is Outcome.SENT


async def test_a_held_event_gone_stale_by_morning_is_skipped_not_sent(world: World) -> None:
    """On SQLite: staleness is decided when the held send is released."""
    world.clock.current = NIGHT
    # Failed 40 hours before 23:00: fresh enough now, more than 48 h old at 09:00.
    fdr = await world.fdr(failed_at=NIGHT - timedelta(hours=40))
    assert (await world.notify()(fdr)).outcome is Outcome.HELD

    await run_at(world, MORNING)
    assert await sends_of(world, fdr) == 0
    record = await world.record(fdr)
    assert record is not None
    assert record.outcome is Outcome.SKIPPED
    assert record.detail.startswith("stale:")


async def test_held_sends_use_the_deployments_window_where_the_workspace_chose_none(
    world: World,
) -> None:
    """No database read at all (SQLite, for the world's wiring)."""
    held = HeldSends(
        world.uow(), world.clock, world.activity, world.options, MsgspecFailedDeliveryCodec()
    )
    assert held.window(ChannelSetting(account_id=1)) == world.options.quiet_hours


async def test_a_reply_at_23_00_to_a_shopper_who_wrote_is_sent_at_once(world: World) -> None:
    """On SQLite: answers are not held, whatever stores them."""
    # The template went out in the afternoon (16:00 in India); the shopper taps at 23:00.
    fdr = await world.fdr()
    assert (await world.notify()(fdr)).outcome is Outcome.SENT
    conversation, template = await world.state(fdr)
    assert template.message_id is not None
    world.clock.current = NIGHT
    senders = SenderResolver(StaticDirectory(), DEFAULT_SENDER)
    uow = world.uow()
    replies = HandleCustomerReply(
        world.uow(),
        FollowUpSender(uow, senders, world.step(uow), world.activity, world.clock),
        InMemoryNdrActions(),
        world.activity,
        world.clock,
        world.options,
        senders,
    )
    before = len(world.meta.sent)

    await replies(
        InboundMessage(
            message_id=f"wamid.tap{conversation.id}",
            from_phone=conversation.customer_phone,
            timestamp=NIGHT,
            type="button",
            context_message_id=template.message_id,
            button_payload=button_payload(conversation, "not_cancelled"),
            button_text="I did not cancel",
            business_number_id=DEFAULT_SENDER.phone_number_id,
        )
    )

    assert len(world.meta.sent) > before  # the answer went out at 23:00, not held
    async with world.uow() as uow:
        jobs = await uow.jobs.claim_due(MORNING, DEFAULT_LEASE, 100, {HELD_SEND})
        await uow.rollback()
    assert all(job.account_id != fdr.account_id for job in jobs)


async def test_a_reminder_due_in_quiet_hours_goes_when_they_end(world: World) -> None:
    """On SQLite: the reminder job is put off to the window's end (the scheduler's claim is
    shown on MariaDB above)."""
    # The template goes at 18:00 in India; the reminder, due four hours later, would fall at
    # 22:00, inside quiet hours: it waits for 09:00 and goes once.
    evening = NIGHT - timedelta(hours=5)
    world.clock.current = evening
    fdr = await world.fdr(failed_at=evening - timedelta(minutes=10))
    assert (await world.notify()(fdr)).outcome is Outcome.SENT
    reminders = RunDueJobs(world.uow(), world.clock, JobHandlers([world.reminder()]))
    sent = await sends_of(world, fdr)

    for moment in (evening + timedelta(hours=4), NIGHT, MORNING - timedelta(minutes=1)):
        world.clock.current = moment
        await reminders()
        assert await sends_of(world, fdr) == sent, f"reminded at {moment:%H:%M} UTC"
    world.clock.current = MORNING
    await reminders()
    world.clock.current = MORNING + timedelta(minutes=30)
    await reminders()
    assert await sends_of(world, fdr) == sent + 1
