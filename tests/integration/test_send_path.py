"""The send path under races, crashes and silence from Meta.

The worker and the status webhook are the real use cases over the same database; a race is
made deterministic by a gate in the fake Graph API (Meta's webhook lands while the worker
still holds Meta's answer), a crash by a fake that raises where the process would die.

Each case runs on one database: MariaDB where the SQL is what it shows (two transactions at
once, row locks, SKIP LOCKED), a SQLite database of its own otherwise (the contract tests run
the repositories on both).
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Self

import pytest
import structlog
import structlog.testing
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from application.content_codec import content_from_json
from application.ports.repositories import UnitOfWork
from application.sending import SendStep
from application.services import NotificationOptions, ReasonBook, SenderResolver, SettingsReader
from application.statuses import Swept
from application.use_cases.held_sends import HeldSends
from application.use_cases.link_early_statuses import GRACE, LinkEarlyStatuses
from application.use_cases.notify_failed_delivery import (
    Disposition,
    Notified,
    NotifyFailedDelivery,
    event_key,
)
from application.use_cases.recheck_unknown_sends import RecheckUnknownSends
from application.use_cases.record_delivery_reports import RecordDeliveryReports
from application.use_cases.send_reminder import SendReminder
from domain.activity import ActivityKind, Outcome
from domain.conversation import Conversation, ConversationState
from domain.errors import SendOutcomeUnknown, UpstreamUnavailable
from domain.failed_delivery import FailedDelivery
from domain.messages import Content, OutgoingMessage, SendReceipt
from domain.records import FdrEventRecord
from domain.settings import ChannelSetting, SenderConnection
from domain.status import MessageStatus
from domain.webhook import StatusUpdate
from infrastructure.cache.memory import InProcessSettingsCache
from infrastructure.db.uow import SqlUnitOfWork
from infrastructure.events.held_event import MsgspecFailedDeliveryCodec
from infrastructure.local.activity import RecordingActivityPublisher
from tests.conftest import UowFactory, new_id
from tests.support.doubles import DEFAULT_SENDER, FixedClock, StaticDirectory
from tests.support.stack import leave_no_unknown_send
from tests.unit.test_notify_failed_delivery import seed_fdr


class Killed(Exception):
    """Where a ``kill -9`` would stop the worker: nothing after this line runs."""


Hook = Callable[[str, str], Awaitable[None]]


@dataclass
class FakeMeta:
    """Accepts every send with a fresh wamid; ``when_accepted`` runs after Meta has the
    message and before the worker sees the answer; ``script`` raises instead of answering."""

    sent: list[tuple[str, Content]] = field(default_factory=list)
    script: list[Exception] = field(default_factory=list)
    when_accepted: Hook | None = None
    die_after_accepting: bool = False

    async def send(
        self,
        sender: SenderConnection,
        to: str,
        content: Content,
        *,
        client_ref: str,
        context_message_id: str | None = None,
    ) -> SendReceipt:
        if self.script:
            raise self.script.pop(0)
        wamid = f"wamid.{uuid.uuid4().hex}"
        self.sent.append((client_ref, content))
        if self.when_accepted is not None:
            await self.when_accepted(wamid, client_ref)
        if self.die_after_accepting:
            raise Killed
        return SendReceipt(message_id=wamid, wa_id=to)

    def sends(self, message: OutgoingMessage) -> list[Content]:
        """What reached Meta for ``message`` (other tests' data share the database)."""
        return [content for ref, content in self.sent if ref == message.client_ref]


@dataclass
class Limiter:
    kill_while_waiting: bool = False
    #: Every send of a batch dies while waiting for its slot (the process is gone).
    kill_batch_while_waiting: bool = False
    #: Every send dies after its slot, before its request leaves.
    kill_before_leaving: bool = False
    #: The batch's slots have not come when it writes its records (they come on waiting).
    slots_later: bool = False

    async def acquire(self, phone_number_id: str) -> None:
        if self.kill_while_waiting:
            self.kill_while_waiting = False
            raise Killed

    async def reserve(self, phone_number_id: str, count: int) -> list[float]:
        return [0.0] * count

    async def wait_for(self, slot: float) -> None:
        if self.kill_batch_while_waiting:
            raise Killed

    def come(self, slot: float) -> bool:
        # Slots to wait for: the process dies then, or they come on waiting.
        return not (self.kill_batch_while_waiting or self.slots_later)

    async def depart(self, phone_number_id: str) -> None:
        if self.kill_before_leaving:
            raise Killed


class Refs:
    def new_ref(self) -> str:
        return uuid.uuid4().hex


@dataclass
class World:
    uow: UowFactory
    meta: FakeMeta
    limiter: Limiter
    clock: FixedClock
    activity: RecordingActivityPublisher
    options: NotificationOptions

    def step(self, uow: UnitOfWork) -> SendStep:
        """The one send step, through this world's Meta and limiter."""
        return SendStep(uow, self.meta, self.limiter, self.clock)

    def notify(self) -> NotifyFailedDelivery:
        uow = self.uow()
        return NotifyFailedDelivery(
            uow=uow,
            settings=SettingsReader(InProcessSettingsCache(ttl=0.0)),
            rules=ReasonBook(),
            senders=SenderResolver(StaticDirectory(), DEFAULT_SENDER),
            step=self.step(uow),
            activity=self.activity,
            clock=self.clock,
            refs=Refs(),
            options=self.options,
            held=HeldSends(
                self.uow(), self.clock, self.activity, self.options, MsgspecFailedDeliveryCodec()
            ),
        )

    def reminder(self) -> SendReminder:
        uow = self.uow()
        return SendReminder(
            uow,
            SettingsReader(InProcessSettingsCache(ttl=0.0)),
            SenderResolver(StaticDirectory(), DEFAULT_SENDER),
            self.step(uow),
            self.activity,
            self.clock,
            self.options,
        )

    def recheck(self) -> RecheckUnknownSends:
        uow = self.uow()
        return RecheckUnknownSends(
            uow=uow,
            settings=SettingsReader(InProcessSettingsCache(ttl=0.0)),
            senders=SenderResolver(StaticDirectory(), DEFAULT_SENDER),
            step=self.step(uow),
            activity=self.activity,
            clock=self.clock,
            options=self.options,
        )

    async def status(self, wamid: str, status: str, client_ref: str | None = None) -> None:
        """Meta's status webhook, as the pump records it."""
        reports = RecordDeliveryReports(self.uow(), self.activity, self.clock)
        update = StatusUpdate(
            message_id=wamid,
            status=MessageStatus(status),
            timestamp=self.clock.now(),
            client_ref=client_ref,
        )
        await reports([update])

    async def enable(self, account_id: int, **changes: object) -> None:
        setting = ChannelSetting(account_id=account_id, whatsapp_enabled=True)
        async with self.uow() as uow:
            await uow.settings.save(dataclasses.replace(setting, **changes))  # type: ignore[arg-type]
            await uow.commit()

    async def fdr(self, **changes: object) -> FailedDelivery:
        account = new_id()
        await self.enable(account)
        fields: dict[str, object] = {
            "account_id": account,
            "shipment_id": new_id(),
            "status_log_id": new_id(),
        }
        fields.update(changes)
        return seed_fdr(**fields)

    async def state(self, fdr: FailedDelivery) -> tuple[Conversation, OutgoingMessage]:
        async with self.uow() as uow:
            conversation = await uow.conversations.get_by_attempt(
                fdr.shipment_id, fdr.status_log_id
            )
            assert conversation is not None
            [template] = await uow.messages.for_conversation(conversation.id or 0)
        return conversation, template

    async def killed_after_meta_accepted(self, fdr: FailedDelivery) -> None:
        """The worker dies once Meta has the template, before it records anything."""
        self.meta.die_after_accepting = True
        with pytest.raises(Killed):
            await self.notify()(fdr)
        self.meta.die_after_accepting = False

    async def outcome(self, fdr: FailedDelivery) -> Outcome | None:
        record = await self.record(fdr)
        return None if record is None else record.outcome

    async def record(self, fdr: FailedDelivery) -> FdrEventRecord | None:
        async with self.uow() as uow:
            return await uow.fdr_events.get(event_key(fdr))


def _world(uow_factory: UowFactory) -> World:
    return World(
        uow=uow_factory,
        meta=FakeMeta(),
        limiter=Limiter(),
        clock=FixedClock(),
        activity=RecordingActivityPublisher(),
        options=NotificationOptions(
            default_account_id=5,
            tracking_base_url="https://wa.example.com",
            support_phone="+91-9876543210",
            support_email="eshopbox@support.com",
        ),
    )


@pytest.fixture
def world(new_uow: UowFactory) -> World:
    """On a SQLite database of this test's own."""
    return _world(new_uow)


@pytest.fixture
async def mariadb_world(mysql_engine: AsyncEngine) -> AsyncIterator[World]:
    """On the MariaDB the tests share: what this test leaves unknown is failed afterwards, or
    a later test's worker would send it again."""
    yield _world(lambda: SqlUnitOfWork(mysql_engine))
    await leave_no_unknown_send(mysql_engine)


# --- 9: the worker never puts back a status the webhook recorded --------------------------


async def test_a_status_recorded_while_the_worker_holds_metas_answer_stands(
    mariadb_world: World,
) -> None:
    """On MariaDB: the webhook's transaction commits while the worker's is open."""
    world = mariadb_world
    fdr = await world.fdr()

    async def webhook_lands_first(wamid: str, client_ref: str) -> None:
        await world.status(wamid, "sent", client_ref)
        await world.status(wamid, "delivered", client_ref)

    world.meta.when_accepted = webhook_lands_first
    result = await world.notify()(fdr)

    assert (result.disposition, result.outcome) == (Disposition.ACK, Outcome.SENT)
    conversation, template = await world.state(fdr)
    assert template.status is MessageStatus.DELIVERED  # not put back to accepted
    assert template.message_id == result.message_id
    assert conversation.state is ConversationState.OPEN
    assert conversation.root_message_id == template.message_id


async def test_a_failure_recorded_while_the_worker_holds_metas_answer_stands(
    mariadb_world: World,
) -> None:
    """On MariaDB: the webhook's transaction commits while the worker's is open."""
    world = mariadb_world
    fdr = await world.fdr()

    async def fails_at_meta(wamid: str, client_ref: str) -> None:
        await world.status(wamid, "failed", client_ref)

    world.meta.when_accepted = fails_at_meta
    result = await world.notify()(fdr)

    assert result.outcome is Outcome.FAILED
    conversation, template = await world.state(fdr)
    assert template.status is MessageStatus.FAILED
    assert conversation.state is ConversationState.FAILED
    record = await world.record(fdr)
    assert record is not None
    assert record.outcome is Outcome.FAILED


async def test_concurrent_status_and_answer_writes_keep_the_furthest_status(
    mariadb_world: World,
) -> None:
    """Both writers in flight at once: on MariaDB the second waits for the first's row lock
    and its compare-and-set then sees what the first committed."""
    world = mariadb_world
    fdr = await world.fdr()
    gate = asyncio.Event()

    async def race(wamid: str, client_ref: str) -> None:
        gate.set()
        webhook = asyncio.create_task(world.status(wamid, "read", client_ref))
        await asyncio.sleep(0)
        world.pending_webhook = webhook  # type: ignore[attr-defined]

    world.meta.when_accepted = race
    await world.notify()(fdr)
    await world.pending_webhook  # type: ignore[attr-defined]

    _, template = await world.state(fdr)
    assert gate.is_set()
    assert template.status is MessageStatus.READ


async def test_a_status_read_across_the_workers_commit_still_moves_the_message_on_mariadb(
    mysql_engine: AsyncEngine,
) -> None:
    """The webhook looks for the wamid before the worker has stored it and for the
    callback data after: the status must still be applied, not stored unlinked."""
    world = _world(lambda: GatedUnitOfWork(mysql_engine, gate))
    gate = Gate()
    fdr = await world.fdr()
    webhook: list[asyncio.Task[None]] = []

    async def webhook_reads_first(wamid: str, client_ref: str) -> None:
        gate.armed = True
        webhook.append(asyncio.create_task(world.status(wamid, "sent", client_ref)))
        await asyncio.wait_for(gate.reached.wait(), 30)  # its read by wamid found nothing

    world.meta.when_accepted = webhook_reads_first
    await world.notify()(fdr)  # the worker stores the wamid and commits
    gate.release.set()
    await asyncio.wait_for(webhook[0], 30)

    _, template = await world.state(fdr)
    assert template.status is MessageStatus.SENT
    await leave_no_unknown_send(mysql_engine)


@dataclass
class Gate:
    armed: bool = False
    reached: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)


class GatedUnitOfWork(SqlUnitOfWork):
    """Holds the status webhook just before it looks a message up by its callback data."""

    def __init__(self, engine: AsyncEngine, gate: Gate) -> None:
        super().__init__(engine)
        self._gate = gate

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        by_ref = self.messages.get_by_client_ref
        gate = self._gate

        async def gated(client_ref: str) -> OutgoingMessage | None:
            if gate.armed:
                gate.armed = False
                gate.reached.set()
                await gate.release.wait()
            return await by_ref(client_ref)

        self.messages.get_by_client_ref = gated  # type: ignore[method-assign]
        return self


# --- 9b: a status naming only the wamid, on either side of the worker's commit --------------
#
# Such a status finds its message by the wamid alone. The status pass may look the wamid up
# before the worker's transaction that stores it commits, and the worker may look for statuses
# stored ahead of it before the pass commits: the worker writes the wamid before its look, and
# the pass looks again after its commit with a locking read, which waits for the worker's
# transaction (docs/sending.md, "Statuses ahead of Meta's answer"). MariaDB only: SQLite runs
# one writing transaction at a time (BEGIN IMMEDIATE), so the two cannot overlap there.


Hook0 = Callable[[], Awaitable[None]]


@dataclass
class Gates:
    """Each hook runs once: when the next unit of work is about to commit, or when the next
    look for unlinked statuses is about to be made."""

    before_commit: list[Hook0] = field(default_factory=list)
    before_unlinked: list[Hook0] = field(default_factory=list)


class GatedSqlUnitOfWork(SqlUnitOfWork):
    def __init__(self, engine: AsyncEngine, gates: Gates) -> None:
        super().__init__(engine)
        self._gates = gates

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        unlinked, gates = self.delivery_reports.unlinked, self._gates

        async def gated(message_ids: Collection[str]) -> set[str]:
            if gates.before_unlinked:
                await gates.before_unlinked.pop(0)()
            return await unlinked(message_ids)

        self.delivery_reports.unlinked = gated  # type: ignore[method-assign]
        return self

    async def commit(self) -> None:
        if self._gates.before_commit:
            await self._gates.before_commit.pop(0)()
        await super().commit()


@dataclass
class Race:
    world: World
    gates: Gates
    engine: AsyncEngine
    passes: list[asyncio.Task[int]] = field(default_factory=list)

    def start(self, wamids: Sequence[str], *statuses: str) -> asyncio.Task[int]:
        """One status pass of ``statuses`` for each of ``wamids`` (no callback data)."""
        updates = [
            StatusUpdate(
                message_id=wamid,
                status=MessageStatus(status),
                timestamp=self.world.clock.now() + timedelta(seconds=rank),
            )
            for wamid in wamids
            for rank, status in enumerate(statuses)
        ]
        reports = RecordDeliveryReports(self.world.uow(), self.world.activity, self.world.clock)
        task = asyncio.create_task(reports(updates))
        self.passes.append(task)
        return task

    def status_pass(self, wamids: Sequence[str], *statuses: str) -> Hook0:
        """A hook that starts the pass and returns once it has committed and waits for a
        row lock (the worker's), or has ended."""

        async def start() -> None:
            await self._until_waiting_for_a_lock(self.start(wamids, *statuses))

        return start

    async def passes_done(self) -> None:
        await asyncio.wait_for(asyncio.gather(*self.passes), 60)

    async def _until_waiting_for_a_lock(self, task: asyncio.Task[int]) -> None:
        database = self.engine.url.database
        async with self.engine.connect() as conn:
            for _ in range(1200):  # 60 s at most
                waiting = await conn.scalar(_LOCKING_READS, {"db": database})
                if waiting or task.done():
                    return
                await asyncio.sleep(0.05)
        raise AssertionError("the status pass neither waited for a lock nor ended")


# The pass's look in progress: blocked on the worker's row (it shows as "Statistics" while
# the optimizer reads the one row by its unique key, then as a lock wait).
_LOCKING_READS = text(
    "SELECT COUNT(*) FROM information_schema.PROCESSLIST"
    " WHERE DB = :db AND INFO LIKE 'SELECT%FOR UPDATE'"
)


@pytest.fixture
async def race(mysql_engine: AsyncEngine) -> AsyncIterator[Race]:
    gates = Gates()
    world = _world(lambda: GatedSqlUnitOfWork(mysql_engine, gates))
    yield Race(world, gates, mysql_engine)
    await leave_no_unknown_send(mysql_engine)


async def _linked(world: World, template: OutgoingMessage) -> set[int | None]:
    assert template.message_id is not None
    async with world.uow() as uow:
        reports = await uow.delivery_reports.for_message(template.message_id)
    return {r.wa_outgoing_message_id for r in reports}


async def _read_and_linked(world: World, fdr: FailedDelivery, result: Notified) -> OutgoingMessage:
    """The event sent, its template ``read`` (not left accepted), the statuses linked to it."""
    assert result.outcome is Outcome.SENT
    _, template = await world.state(fdr)
    assert template.status is MessageStatus.READ
    assert await _linked(world, template) == {template.id}
    return template


def _ticks(world: World, template: OutgoingMessage) -> list[Outcome]:
    """The statuses the timeline was told of, for this message."""
    told = [e for e in world.activity.events if e.message_id == template.message_id]
    return [e.outcome for e in told if e.kind is ActivityKind.STATUS]


async def test_a_wamid_only_status_committed_inside_the_workers_commit_moves_the_message(
    race: Race,
) -> None:
    """The pass finds no message (the worker's record is not committed) and commits its
    statuses after the worker looked for some: its look after its commit waits for the
    worker's transaction and finds the message."""
    world = race.world
    fdr = await world.fdr()

    async def accepted(wamid: str, client_ref: str) -> None:
        # The worker's next commit stores the wamid; the pass runs just before it.
        race.gates.before_commit.append(race.status_pass([wamid], "sent", "delivered", "read"))

    world.meta.when_accepted = accepted
    result = await world.notify()(fdr)
    await race.passes_done()

    assert result.outcome is Outcome.SENT
    conversation, template = await world.state(fdr)
    assert template.status is MessageStatus.READ  # not left accepted
    assert await _linked(world, template) == {template.id}
    assert conversation.state is ConversationState.OPEN
    assert _ticks(world, template) == [Outcome.SENT, Outcome.DELIVERED, Outcome.READ]


async def test_a_wamid_only_status_committed_after_the_workers_commit_moves_the_message(
    race: Race,
) -> None:
    """The pass finds no message before the worker's commit and commits after it: its look
    after its commit finds the message."""
    world = race.world
    fdr = await world.fdr()
    reached, release = asyncio.Event(), asyncio.Event()

    async def held() -> None:
        reached.set()
        await release.wait()

    async def pass_held_at_its_commit() -> None:
        race.gates.before_commit.append(held)  # the pass's commit, while the worker's waits
        race.start(wamids, "delivered", "read")
        await asyncio.wait_for(reached.wait(), 30)

    wamids: list[str] = []

    async def accepted(wamid: str, client_ref: str) -> None:
        wamids.append(wamid)
        race.gates.before_commit.append(pass_held_at_its_commit)

    world.meta.when_accepted = accepted
    result = await world.notify()(fdr)  # committed: its look found nothing
    release.set()
    await race.passes_done()

    await _read_and_linked(world, fdr, result)


async def test_when_both_sides_find_the_wamid_only_statuses_they_are_applied_once(
    race: Race,
) -> None:
    """The pass commits between the worker's write of the wamid and its look: the worker
    finds the statuses, and the pass's look, waiting for the worker's commit, finds the
    message with them linked already: applied once."""
    world = race.world
    fdr = await world.fdr()

    async def accepted(wamid: str, client_ref: str) -> None:
        race.gates.before_unlinked.append(race.status_pass([wamid], "delivered", "read"))

    world.meta.when_accepted = accepted
    result = await world.notify()(fdr)
    await race.passes_done()

    template = await _read_and_linked(world, fdr, result)
    # Joined by the worker and told by it, as the pass tells the statuses it applies; not
    # applied, nor told, again by the pass.
    assert _ticks(world, template) == [Outcome.DELIVERED, Outcome.READ]


async def test_wamid_only_statuses_committed_inside_a_batchs_commit_move_its_messages(
    race: Race,
) -> None:
    """The batch path: the pass's look waits for the batch's commit and finds its sends."""
    world = race.world
    fdrs = [await world.fdr(), await world.fdr()]
    wamids: list[str] = []

    async def accepted(wamid: str, client_ref: str) -> None:
        wamids.append(wamid)
        if len(wamids) == len(fdrs):  # every slot stored: the next commit is the outcomes'
            race.gates.before_commit.append(race.status_pass(wamids, "sent", "delivered"))

    world.meta.when_accepted = accepted
    results = await world.notify().many(fdrs)
    await race.passes_done()

    assert [getattr(r, "outcome", r) for r in results] == [Outcome.SENT, Outcome.SENT]
    for fdr in fdrs:
        _, template = await world.state(fdr)
        assert template.status is MessageStatus.DELIVERED
        assert await _linked(world, template) == {template.id}


@pytest.mark.parametrize("batch", [False, True], ids=["alone", "batch"])
async def test_statuses_joined_by_the_worker_are_told_as_the_pass_tells_them(
    world: World, batch: bool
) -> None:
    """Statuses that reached the pass before the worker stored Meta's answer (stored unlinked,
    the pass's look finding no message yet) are joined by the worker, which tells the
    timeline each status that moved the message, in Meta's order, after the outcome: what
    the pass tells when it applies them itself."""
    fdrs = [await world.fdr() for _ in range(2 if batch else 1)]

    async def accepted(wamid: str, client_ref: str) -> None:
        for status in ("sent", "delivered", "read"):
            await world.status(wamid, status)
            world.clock.advance(1)

    world.meta.when_accepted = accepted
    results = await world.notify().many(fdrs) if batch else [await world.notify()(fdrs[0])]

    for fdr, result in zip(fdrs, results, strict=True):
        assert isinstance(result, Notified)
        template = await _read_and_linked(world, fdr, result)
        assert _ticks(world, template) == [Outcome.SENT, Outcome.DELIVERED, Outcome.READ]
        told = [e for e in world.activity.events if e.message_id == template.message_id]
        assert told[0].kind is ActivityKind.FDR  # the outcome first, then its statuses


class LookDownUnitOfWork(GatedSqlUnitOfWork):
    """The race's gates (none unless given), and the database gone at the status pass's look
    after its commit (the locking read)."""

    async def __aenter__(self) -> Self:
        await super().__aenter__()

        async def down(message_ids: Collection[str]) -> dict[str, OutgoingMessage]:
            raise UpstreamUnavailable("database: lost connection")

        self.messages.lock_many_by_message_ids = down  # type: ignore[method-assign]
        return self


async def test_a_status_pass_whose_look_after_its_commit_fails_keeps_its_statuses(
    mysql_engine: AsyncEngine,
) -> None:
    """The pass's second look is best effort: the database failing there is logged, the pass
    ends normally, and the statuses it stored stay stored, for the worker's own look to link
    when it records the send."""
    world = _world(lambda: LookDownUnitOfWork(mysql_engine, Gates()))
    fdr = await world.fdr()
    passes: list[int] = []

    async def accepted(wamid: str, client_ref: str) -> None:
        # Before the worker stores the wamid: the pass finds no message and stores unlinked.
        updates = [
            StatusUpdate(
                message_id=wamid,
                status=MessageStatus(status),
                timestamp=world.clock.now() + timedelta(seconds=rank),
            )
            for rank, status in enumerate(("sent", "delivered", "read"))
        ]
        reports = RecordDeliveryReports(world.uow(), world.activity, world.clock)
        passes.append(await reports(updates))

    world.meta.when_accepted = accepted
    with structlog.testing.capture_logs() as logs:
        result = await world.notify()(fdr)

    assert passes == [3]
    assert "statuses stored ahead of their message not joined" in [e["event"] for e in logs]
    await _read_and_linked(world, fdr, result)
    await leave_no_unknown_send(mysql_engine)


def _a_day_of_its_own(world: World) -> None:
    """The world's clock on a day no other test stores statuses on (the sweep reads a window
    of hours of the shared database), at the same time of day (not in quiet hours)."""
    world.clock.current += timedelta(days=1 + secrets.randbelow(10_000))


async def _lost_second_look(race: Race) -> tuple[FailedDelivery, Notified]:
    """The pass finds no message (the worker's record is not committed) and commits its
    statuses after the worker looked for some; its look after its commit then fails: the
    statuses stay unlinked, the message ``accepted``."""
    world = race.world
    _a_day_of_its_own(world)
    fdr = await world.fdr(failed_at=world.clock.now() - timedelta(hours=1))

    async def accepted(wamid: str, client_ref: str) -> None:
        race.gates.before_commit.append(race.status_pass([wamid], "sent", "delivered", "read"))

    world.meta.when_accepted = accepted
    with structlog.testing.capture_logs() as logs:
        result = await world.notify()(fdr)
        await race.passes_done()
    assert "statuses stored ahead of their message not joined" in [e["event"] for e in logs]
    _, template = await world.state(fdr)
    assert template.status is MessageStatus.ACCEPTED
    assert await _linked(world, template) == {None}
    return fdr, result


@pytest.fixture
def lost_look(race: Race) -> Race:
    """The race, with every status pass's look after its commit failing."""
    gates, engine = race.gates, race.engine
    race.world.uow = lambda: LookDownUnitOfWork(engine, gates)
    return race


def _sweep(world: World) -> LinkEarlyStatuses:
    return LinkEarlyStatuses(world.uow(), world.activity, world.clock)


async def test_the_sweep_links_statuses_whose_look_after_the_commit_failed(
    lost_look: Race,
) -> None:
    """The lost second look: the sweep, once the statuses are past its grace, links them and
    applies them in Meta's order, tells the timeline as the pass would have, and has nothing
    left to do after."""
    world = lost_look.world
    fdr, result = await _lost_second_look(lost_look)

    assert await _sweep(world)() == Swept()  # too young: left to the worker and the pass
    world.clock.advance(GRACE.total_seconds() + 1)
    with structlog.testing.capture_logs() as logs:
        swept = await _sweep(world)()

    template = await _read_and_linked(world, fdr, result)
    assert swept == Swept(statuses=3, messages=(template.id or 0,))
    linked = [e for e in logs if e["event"].endswith("linked by the sweep")]
    assert [(e["statuses"], e["messages"]) for e in linked] == [(3, [template.id])]
    assert _ticks(world, template) == [Outcome.SENT, Outcome.DELIVERED, Outcome.READ]
    conversation, _ = await world.state(fdr)
    assert conversation.state is ConversationState.OPEN
    assert await _sweep(world)() == Swept()


async def test_two_sweeps_at_once_apply_the_statuses_once(lost_look: Race) -> None:
    """The second sweep runs while the first holds the message it claimed, uncommitted: it
    skips it without waiting (``SKIP LOCKED``) and links nothing; the statuses are applied,
    and told, once."""
    world = lost_look.world
    fdr, result = await _lost_second_look(lost_look)
    world.clock.advance(GRACE.total_seconds() + 1)
    second: list[Swept] = []

    async def the_other_sweep() -> None:
        second.append(await asyncio.wait_for(_sweep(world)(), 30))

    lost_look.gates.before_commit.append(the_other_sweep)  # the first sweep's commit
    first = await _sweep(world)()

    template = await _read_and_linked(world, fdr, result)
    assert (first.statuses, second) == (3, [Swept()])
    assert _ticks(world, template) == [Outcome.SENT, Outcome.DELIVERED, Outcome.READ]


# --- 10: every acknowledged event has its outcome row --------------------------------------


async def test_a_redelivered_event_completes_the_record_meta_had_answered(
    world: World,
) -> None:
    fdr = await world.fdr()
    await world.killed_after_meta_accepted(fdr)
    [(client_ref, _)] = world.meta.sent
    await world.status("wamid.seen-by-webhook-" + client_ref[:8], "sent", client_ref)

    world.clock.advance(1)
    again = await world.notify()(fdr)

    assert (again.disposition, again.outcome) == (Disposition.ACK, Outcome.SENT)
    assert len(world.meta.sent) == 1
    assert await world.outcome(fdr) is Outcome.SENT
    conversation, template = await world.state(fdr)
    assert conversation.state is ConversationState.OPEN  # not pending for ever
    assert conversation.root_message_id == template.message_id
    assert [e.outcome for e in world.activity.events if e.kind.value == "fdr"] == [Outcome.SENT]


async def test_a_worker_killed_mid_send_leaves_a_recorded_unknown_on_redelivery(
    world: World,
) -> None:
    fdr = await world.fdr()
    await world.killed_after_meta_accepted(fdr)

    world.clock.advance(world.options.in_flight_grace_seconds + 1)
    again = await world.notify()(fdr)

    assert (again.disposition, again.outcome) == (Disposition.ACK, Outcome.UNKNOWN)
    assert len(world.meta.sent) == 1
    assert await world.outcome(fdr) is Outcome.UNKNOWN
    conversation, _ = await world.state(fdr)
    assert conversation.state is ConversationState.OPEN


# --- 11: in flight only once the request leaves ----------------------------------------------


async def test_killed_while_waiting_for_the_limiter_the_event_is_sent_on_redelivery(
    world: World,
) -> None:
    fdr = await world.fdr()
    world.limiter.kill_while_waiting = True
    with pytest.raises(Killed):
        await world.notify()(fdr)
    _, waiting = await world.state(fdr)
    assert waiting.status is MessageStatus.QUEUED

    world.clock.advance(world.options.in_flight_grace_seconds + 1)
    again = await world.notify()(fdr)

    assert (again.disposition, again.outcome) == (Disposition.ACK, Outcome.SENT)
    [(client_ref, _)] = world.meta.sent
    assert client_ref == waiting.client_ref


async def _a_batch_killed(
    world: World, kill: str
) -> tuple[list[FailedDelivery], list[OutgoingMessage]]:
    """Two events handled as a batch by a worker killed where ``Limiter``'s flag ``kill``
    says; the events, and their messages as the worker left them."""
    events = [await world.fdr(), await world.fdr()]
    setattr(world.limiter, kill, True)
    killed = await world.notify().many(events)
    assert all(isinstance(result, Killed) for result in killed)
    setattr(world.limiter, kill, False)
    return events, [(await world.state(fdr))[1] for fdr in events]


async def _redelivered_after_the_grace(
    world: World, events: list[FailedDelivery]
) -> list[tuple[Disposition, Outcome]]:
    world.clock.advance(world.options.in_flight_grace_seconds + 1)
    again = await world.notify().many(events)
    return [(a.disposition, a.outcome) for a in again if isinstance(a, Notified)]


async def test_a_batch_killed_while_waiting_for_its_slots_sends_each_once_on_redelivery(
    world: World,
) -> None:
    """The slots of a batch's sends are booked together; none is in flight until its own
    slot has come, so a worker killed meanwhile leaves them all queued, sent on redelivery."""
    events, waiting = await _a_batch_killed(world, "kill_batch_while_waiting")
    assert [m.status for m in waiting] == [MessageStatus.QUEUED] * 2
    assert world.meta.sent == []

    again = await _redelivered_after_the_grace(world, events)

    assert again == [(Disposition.ACK, Outcome.SENT)] * 2
    assert sorted(ref for ref, _ in world.meta.sent) == sorted(m.client_ref for m in waiting)


async def test_a_batch_whose_slots_come_later_waits_queued_then_sends_each_once(
    world: World,
) -> None:
    """Slots that have not come when a batch writes its records: the messages are written
    ``queued``, each waits for its slot, is written in flight on its own, then sent; each
    is sent once and accepted, and a redelivery sends nothing more."""
    events = [await world.fdr(), await world.fdr()]
    world.limiter.slots_later = True
    results = await world.notify().many(events)
    assert [(r.disposition, r.outcome) for r in results if isinstance(r, Notified)] == [
        (Disposition.ACK, Outcome.SENT)
    ] * 2
    sent = [(await world.state(fdr))[1] for fdr in events]
    assert [m.status for m in sent] == [MessageStatus.ACCEPTED] * 2
    assert sorted(ref for ref, _ in world.meta.sent) == sorted(m.client_ref for m in sent)

    again = await world.notify().many(events)

    assert [a.disposition for a in again if isinstance(a, Notified)] == [Disposition.ACK] * 2
    assert len(world.meta.sent) == 2


async def test_a_batch_whose_slots_had_come_is_written_in_flight_and_never_sent_twice(
    world: World,
) -> None:
    """Slots that have come when a batch writes its records: the messages are written in
    flight with them (no write of their own before the send). A worker killed before the
    requests leave leaves them ``pending``: on redelivery, after the in-flight grace, each is
    recorded ``unknown`` and nothing is sent again (docs/sending.md)."""
    events, in_flight = await _a_batch_killed(world, "kill_before_leaving")
    assert [m.status for m in in_flight] == [MessageStatus.PENDING] * 2
    assert world.meta.sent == []

    again = await _redelivered_after_the_grace(world, events)

    assert again == [(Disposition.ACK, Outcome.UNKNOWN)] * 2
    assert world.meta.sent == []


# --- 5: the root after a reconciled timeout ----------------------------------------------------


async def test_a_reconciled_timeout_roots_the_conversation(world: World) -> None:
    fdr = await world.fdr()

    async def then_times_out(wamid: str, client_ref: str) -> None:
        world.meta.accepted = (wamid, client_ref)  # type: ignore[attr-defined]
        raise SendOutcomeUnknown(None, "read timeout")

    world.meta.when_accepted = then_times_out
    result = await world.notify()(fdr)
    assert result.outcome is Outcome.UNKNOWN
    conversation, _ = await world.state(fdr)
    assert conversation.root_message_id is None

    wamid, client_ref = world.meta.accepted  # type: ignore[attr-defined]
    await world.status(wamid, "delivered", client_ref)

    conversation, template = await world.state(fdr)
    assert template.message_id == wamid
    assert template.status is MessageStatus.DELIVERED
    assert conversation.root_message_id == wamid
    assert conversation.state is ConversationState.OPEN


# --- 2: unknown sends are resolved -------------------------------------------------------------


async def _timed_out(world: World, **changes: object) -> FailedDelivery:
    fdr = await world.fdr(**changes)
    world.meta.script.append(SendOutcomeUnknown(None, "read timeout"))
    result = await world.notify()(fdr)
    assert result.outcome is Outcome.UNKNOWN
    return fdr


async def test_an_unknown_send_is_sent_again_once_with_the_same_callback_data(
    mariadb_world: World,
) -> None:
    """On MariaDB: the recheck claims unknown sends with SKIP LOCKED, as in production."""
    world = mariadb_world
    fdr = await _timed_out(world)
    _, unknown = await world.state(fdr)

    world.clock.advance(world.options.unknown_recheck_seconds - 5)
    await world.recheck()()
    assert world.meta.sends(unknown) == []  # not due yet: a status may still come
    world.clock.advance(10)
    await world.recheck()()

    [content] = world.meta.sends(unknown)  # the same biz_opaque_callback_data
    assert content == content_from_json(unknown.payload)
    conversation, template = await world.state(fdr)
    assert template.status is MessageStatus.ACCEPTED
    assert conversation.root_message_id == template.message_id
    record = await world.record(fdr)
    assert record is not None
    assert record.outcome is Outcome.SENT
    world.clock.advance(world.options.unknown_recheck_seconds * 3)
    await world.recheck()()
    assert len(world.meta.sends(unknown)) == 1  # once


async def test_an_unknown_send_repeated_without_answer_is_failed_with_why(
    world: World,
) -> None:
    fdr = await _timed_out(world)
    world.meta.script.append(SendOutcomeUnknown(None, "read timeout"))
    world.clock.advance(world.options.unknown_recheck_seconds + 1)
    await world.recheck()()
    _, again = await world.state(fdr)
    assert world.meta.script == []  # sent again, and timed out again
    assert (again.status, again.resent_at) == (MessageStatus.UNKNOWN, world.clock.now())

    world.clock.advance(world.options.unknown_recheck_seconds + 1)
    await world.recheck()()

    assert world.meta.sends(again) == []  # not a third time
    conversation, template = await world.state(fdr)
    assert template.status is MessageStatus.FAILED
    assert "no status from Meta" in (template.error_title or "")
    assert conversation.state is ConversationState.FAILED
    failed = [e for e in world.activity.events if e.conversation_id == conversation.id]
    assert failed[-1].outcome is Outcome.FAILED


async def test_an_unknown_send_the_rules_now_forbid_is_failed_not_sent(world: World) -> None:
    fdr = await _timed_out(world)
    await world.enable(fdr.account_id, whatsapp_enabled=False)

    world.clock.advance(world.options.unknown_recheck_seconds + 1)
    await world.recheck()()

    conversation, template = await world.state(fdr)
    assert world.meta.sends(template) == []
    assert template.status is MessageStatus.FAILED
    assert "WhatsApp is off" in (template.error_title or "")
    record = await world.record(fdr)
    assert record is not None
    assert record.outcome is Outcome.FAILED
    event = [e for e in world.activity.events if e.conversation_id == conversation.id][-1]
    assert event.outcome is Outcome.FAILED
    assert "WhatsApp is off" in (event.detail or "")


async def test_a_status_arriving_after_all_reconciles_the_unknown_send(world: World) -> None:
    fdr = await _timed_out(world)
    _, unknown = await world.state(fdr)
    await world.status(f"wamid.{uuid.uuid4().hex}", "sent", unknown.client_ref)

    world.clock.advance(world.options.unknown_recheck_seconds + 1)
    await world.recheck()()

    _, template = await world.state(fdr)
    assert world.meta.sends(template) == []
    assert template.status is MessageStatus.SENT


async def test_an_unknown_send_the_shopper_answered_is_not_sent_again(world: World) -> None:
    fdr = await _timed_out(world)
    conversation, unknown = await world.state(fdr)
    async with world.uow() as uow:  # the shopper tapped a button of it: Meta had it
        opened = (ConversationState.OPEN,)
        assert await uow.conversations.move(
            conversation.id or 0, ConversationState.RESOLVED, opened, world.clock.now()
        )
        await uow.commit()

    world.clock.advance(world.options.unknown_recheck_seconds + 1)
    await world.recheck()()

    assert world.meta.sends(unknown) == []
    _, template = await world.state(fdr)
    assert template.status is MessageStatus.ACCEPTED
    record = await world.record(fdr)
    assert record is not None
    assert record.outcome is Outcome.SENT


async def test_unknown_sends_are_counted_by_age(world: World) -> None:
    await _timed_out(world)
    world.clock.advance(2 * 3600)
    await _timed_out(world)
    counts = await world.recheck().count_by_age()
    assert counts["<10m"] >= 1
    assert counts["<6h"] >= 1
    assert sum(counts.values()) >= 2


# --- 3: attempt order ------------------------------------------------------------------------


async def test_an_older_attempt_arriving_late_is_superseded(world: World) -> None:
    newer = await world.fdr()
    older = dataclasses.replace(newer, status_log_id=newer.status_log_id - 1)
    await world.notify()(newer)

    late = await world.notify()(older)

    assert (late.disposition, late.outcome) == (Disposition.ACK, Outcome.SKIPPED)
    assert late.detail.startswith("superseded")
    assert len(world.meta.sent) == 1
    async with world.uow() as uow:
        newest = await uow.conversations.latest_for_shipment(newer.shipment_id)
        assert (
            await uow.conversations.get_by_attempt(older.shipment_id, older.status_log_id) is None
        )
    assert newest is not None
    assert newest.status_log_id == newer.status_log_id  # the shopper's taps go to this one


async def test_an_attempt_older_than_the_stale_age_is_skipped(world: World) -> None:
    fdr = await world.fdr(failed_at=world.clock.now() - timedelta(days=30))

    result = await world.notify()(fdr)

    assert (result.disposition, result.outcome) == (Disposition.ACK, Outcome.SKIPPED)
    assert result.detail.startswith("stale")
    assert world.meta.sent == []
    record = await world.record(fdr)
    assert record is not None
    assert record.detail.startswith("stale")
