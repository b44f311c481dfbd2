"""The monthly template cap holds exactly with two workers at once (docs/cost.md, "The monthly
cap"), on MariaDB: two units of work record one capped workspace's conversations at the same
moment, the first held inside its records' transaction while the second plans and comes to
record its own. Exactly the cap's templates reach Meta; the others are budget skips. A
workspace without a cap takes no lock."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Self

import pytest
from sqlalchemy import Insert, Update, bindparam, text
from sqlalchemy.ext.asyncio import AsyncEngine

from application.use_cases.notify_failed_delivery import Disposition, Handled, Notified
from domain.activity import Outcome
from domain.conversation import Conversation
from domain.failed_delivery import FailedDelivery
from domain.settings import ChannelSetting
from infrastructure.db.repositories.templates import SqlChannelSettingRepository
from infrastructure.db.uow import SqlUnitOfWork
from tests.conftest import new_id
from tests.integration.test_send_path import World, _world
from tests.support.stack import leave_no_unknown_send
from tests.unit.test_notify_failed_delivery import seed_fdr


@dataclass
class Pause:
    """Holds the first worker where it inserts its conversations (once), inside the
    transaction that records them; knows each worker's connection, to see it wait."""

    armed: bool = True
    reached: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)


class Watched(SqlUnitOfWork):
    """A unit of work noting its connection's id at each transaction (``thread``), held by
    ``pause`` (when given) before its first insert of conversations."""

    def __init__(self, engine: AsyncEngine, pause: Pause | None) -> None:
        super().__init__(engine)
        self._pause = pause
        self.thread = 0

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        assert self._conn is not None
        found = await self._conn.execute(text("SELECT CONNECTION_ID()"))
        self.thread = int(found.scalar_one())
        pause, add, add_many = self._pause, self.conversations.add, self.conversations.add_many
        if pause is None:
            return self

        async def held() -> None:
            if pause.armed:
                pause.armed = False
                pause.reached.set()
                await pause.release.wait()

        async def add_held(conversation: Conversation) -> Conversation | None:
            await held()
            return await add(conversation)

        async def add_many_held(
            conversations: list[Conversation],
        ) -> list[Conversation | None]:
            await held()
            return await add_many(conversations)

        self.conversations.add = add_held  # type: ignore[method-assign]
        self.conversations.add_many = add_many_held  # type: ignore[method-assign,assignment]
        return self


@dataclass
class Workers:
    engine: AsyncEngine
    world: World
    pause: Pause = field(default_factory=Pause)
    second: list[Watched] = field(default_factory=list)

    def first_worker(self) -> World:
        return dataclasses.replace(self.world, uow=lambda: Watched(self.engine, self.pause))

    def second_worker(self) -> World:
        def uow() -> Watched:
            self.second.append(Watched(self.engine, None))
            return self.second[-1]

        return dataclasses.replace(self.world, uow=uow)

    async def second_waits(self) -> bool:
        """A transaction of the second worker waits for a lock."""
        return await _lock_waits(self.engine, [w.thread for w in self.second if w.thread])

    async def at_once(
        self,
        first: Awaitable[Sequence[Handled]],
        second: Callable[[], Awaitable[Sequence[Handled]]],
    ) -> list[Notified]:
        """``first`` held in its records' transaction while ``second`` runs up to its end or
        to a lock it waits for; then both to their end: their results, first's then second's."""
        held = asyncio.ensure_future(first)
        await asyncio.wait_for(self.pause.reached.wait(), 30)
        running = asyncio.ensure_future(second())
        for _ in range(600):
            if running.done() or await self.second_waits():
                break
            await asyncio.sleep(0.05)
        self.pause.release.set()
        ones, twos = await asyncio.wait_for(asyncio.gather(held, running), 60)
        return _notified([*ones, *twos])


@pytest.fixture
async def workers(mysql_engine: AsyncEngine) -> AsyncIterator[Workers]:
    yield Workers(mysql_engine, _world(lambda: SqlUnitOfWork(mysql_engine)))
    await leave_no_unknown_send(mysql_engine)


def _events(account: int, count: int) -> list[FailedDelivery]:
    return [
        seed_fdr(account_id=account, shipment_id=new_id(), status_log_id=new_id())
        for _ in range(count)
    ]


def _notified(results: Sequence[Handled]) -> list[Notified]:
    assert all(isinstance(r, Notified) for r in results), results
    return [r for r in results if isinstance(r, Notified)]


async def _started(world: World, account: int, cap: int, used: int) -> None:
    """The workspace with its cap, ``used`` templates of it sent this month already."""
    await world.enable(account, monthly_template_cap=cap)
    for fdr in _events(account, used):
        assert (await world.notify()(fdr)).outcome is Outcome.SENT
    world.meta.sent.clear()


@pytest.mark.parametrize(
    ("cap", "used", "first", "second"),
    [(3, 0, 2, 3), (4, 2, 1, 2)],
    ids=["fresh-month", "cap-partly-used"],
)
async def test_two_batches_of_one_capped_workspace_at_once_send_exactly_the_cap(
    workers: Workers, cap: int, used: int, first: int, second: int
) -> None:
    world, account = workers.world, new_id()
    await _started(world, account, cap, used)
    ones, twos = _events(account, first), _events(account, second)

    results = await workers.at_once(
        workers.first_worker().notify().many(ones),
        lambda: workers.second_worker().notify().many(twos),
    )

    room = cap - used
    assert len(world.meta.sent) == room  # exactly the cap, never past it
    assert all(r.disposition is Disposition.ACK for r in results)
    outcomes = [r.outcome for r in results]
    assert outcomes == [Outcome.SENT] * room + [Outcome.SKIPPED] * (first + second - room)
    for fdr, outcome in zip([*ones, *twos], outcomes, strict=True):
        record = await world.record(fdr)
        assert record is not None
        assert record.outcome is outcome
        if outcome is Outcome.SKIPPED:
            assert (record.skip_reason, record.detail) == (
                "budget",
                f"budget: monthly cap of {cap} templates reached",
            )
    skipped = [e for e in world.activity.events if e.outcome is Outcome.SKIPPED]
    assert {e.shipment_id for e in skipped} == {f.shipment_id for f in twos[room - first :]}


async def test_two_events_of_one_capped_workspace_at_once_send_exactly_the_cap(
    workers: Workers,
) -> None:
    """The same for two events each handled alone (the one-event way)."""
    world, account = workers.world, new_id()
    await _started(world, account, cap=2, used=1)
    [one], [two] = _events(account, 1), _events(account, 1)

    async def alone(notified: Awaitable[Notified]) -> list[Notified]:
        return [await notified]

    results = await workers.at_once(
        alone(workers.first_worker().notify()(one)),
        lambda: alone(workers.second_worker().notify()(two)),
    )

    assert len(world.meta.sent) == 1
    assert [(r.outcome, r.detail) for r in results] == [
        (Outcome.SENT, ""),
        (Outcome.SKIPPED, "budget: monthly cap of 2 templates reached"),
    ]


async def test_a_workspace_without_a_cap_takes_no_lock(workers: Workers) -> None:
    """Its settings row held FOR UPDATE by another transaction, its events are still sent."""
    world, account = workers.world, new_id()
    await world.enable(account)
    async with workers.engine.connect() as holder:
        await holder.execute(
            text("SELECT id FROM poe_channel_settings WHERE account_id = :a FOR UPDATE"),
            {"a": account},
        )
        batch = await asyncio.wait_for(world.notify().many(_events(account, 2)), 30)
        [alone] = _events(account, 1)
        one = await asyncio.wait_for(world.notify()(alone), 30)
        await holder.rollback()

    assert [r.outcome for r in _notified(batch)] == [Outcome.SENT] * 2
    assert one.outcome is Outcome.SENT
    assert len(world.meta.sent) == 3


class _HeldAfterFirstWrite:
    """A connection that stops after its first write of ``poe_channel_settings`` (done or
    refused) until ``go`` is set (``come`` set when it got there); all else passes through."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self.come, self.go = asyncio.Event(), asyncio.Event()

    async def execute(self, statement: Any, *args: Any, **kwargs: Any) -> Any:
        table = getattr(getattr(statement, "table", None), "name", "")
        if not isinstance(statement, Insert | Update) or table != "poe_channel_settings":
            return await self._conn.execute(statement, *args, **kwargs)
        try:
            return await self._conn.execute(statement, *args, **kwargs)
        finally:
            if not self.come.is_set():
                self.come.set()
                await self.go.wait()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


async def test_a_settings_save_and_records_waiting_for_the_workspace_lock_both_finish(
    mysql_engine: AsyncEngine,
) -> None:
    """The portal saves a capped workspace's settings while a records' transaction of the
    workspace comes for its lock (``lock_cap``): the records wait for the save, then read
    the new cap; neither is chosen as a deadlock's victim (the save must not hold a shared
    lock on the row, taken by an insert the row refused, and then ask for it exclusively)."""
    account = new_id()
    async with SqlUnitOfWork(mysql_engine) as uow:
        await uow.settings.save(ChannelSetting(account_id=account, monthly_template_cap=3))
        await uow.commit()

    async def records(threads: list[int]) -> int | None:
        async with SqlUnitOfWork(mysql_engine) as uow:
            threads.append(await _thread(uow))
            return await uow.settings.lock_cap(account)

    threads: list[int] = []
    async with SqlUnitOfWork(mysql_engine) as portal:
        settings = portal.settings
        assert isinstance(settings, SqlChannelSettingRepository)
        held = _HeldAfterFirstWrite(settings._conn)
        settings._conn = held  # type: ignore[assignment]
        saving = asyncio.ensure_future(
            settings.save(ChannelSetting(account_id=account, monthly_template_cap=5))
        )
        await asyncio.wait_for(held.come.wait(), 30)
        waiting = asyncio.ensure_future(records(threads))
        for _ in range(600):  # until the records wait for the row (or are done: no lock)
            if waiting.done() or await _lock_waits(mysql_engine, threads):
                break
            await asyncio.sleep(0.05)
        held.go.set()
        await asyncio.wait_for(saving, 60)
        await portal.commit()
    assert await asyncio.wait_for(waiting, 60) == 5


async def _thread(uow: SqlUnitOfWork) -> int:
    assert uow._conn is not None
    found = await uow._conn.execute(text("SELECT CONNECTION_ID()"))
    return int(found.scalar_one())


async def _lock_waits(engine: AsyncEngine, threads: list[int]) -> bool:
    """A transaction of one of these connections waits for a lock: shown waiting by InnoDB,
    or running a locking read. The second, because MariaDB waits for the row of a lookup by
    a unique key (``lock_cap``) while it optimises the statement ("Statistics"), where
    ``INNODB_TRX`` may never show the transaction waiting."""
    if not threads:
        return False
    async with engine.connect() as conn:
        found = await conn.execute(
            text(
                "SELECT (SELECT COUNT(*) FROM information_schema.INNODB_TRX"
                " WHERE trx_state = 'LOCK WAIT' AND trx_mysql_thread_id IN :threads)"
                " + (SELECT COUNT(*) FROM information_schema.PROCESSLIST"
                " WHERE ID IN :threads AND INFO LIKE '%FOR UPDATE%')"
            ).bindparams(bindparam("threads", tuple(threads), expanding=True)),
        )
        return bool(found.scalar_one())
