"""Group commit of webhook bodies: concurrent POSTs share writes, each learns its own outcome
(on SQLite, a copy per test; the gate scripts when a write commits and whether it fails)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from application.inbox_writer import InboxWriter
from application.ports.repositories import UnitOfWork
from domain.errors import UpstreamUnavailable
from domain.records import WebhookDelivery
from infrastructure.db.uow import SqlUnitOfWork
from tests.conftest import UowFactory
from tests.support.factories import T0


class Gate:
    """Holds every write until opened, and can make them fail."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.opened = asyncio.Event()
        self.fail = False
        self.written: list[int] = []  # bodies per committed write
        self.begun = 0  # writes begun so far

    @asynccontextmanager
    async def open_uow(self) -> AsyncIterator[UnitOfWork]:
        gate = self
        self.begun += 1

        class Held(SqlUnitOfWork):
            async def commit(self) -> None:
                await gate.opened.wait()
                if gate.fail:
                    raise UpstreamUnavailable("the database did not answer")
                gate.written.append(len(await self.inbox.pending(10_000)) - sum(gate.written))
                await super().commit()

        yield Held(self.engine)


def _body(n: int) -> WebhookDelivery:
    return WebhookDelivery(connection_id=None, body=f'{{"n":{n}}}'.encode(), received_at=T0)


async def _pending(new_uow: UowFactory) -> list[bytes]:
    async with new_uow() as uow:
        return [d.body for d in await uow.inbox.pending(10_000)]


async def test_bodies_posted_together_are_all_stored_in_fewer_writes_than_posts(
    sqlite_db: AsyncEngine, new_uow: UowFactory
) -> None:
    gate = Gate(sqlite_db)
    writer = InboxWriter(gate.open_uow, max_writes=1)
    first = asyncio.create_task(writer.store(_body(0)))
    await asyncio.sleep(0.01)  # the first write is under way (held at its commit)
    rest = [asyncio.create_task(writer.store(_body(n))) for n in range(1, 40)]
    await asyncio.sleep(0.01)
    assert not any(t.done() for t in [first, *rest])  # nobody is answered before the commit
    gate.opened.set()
    stored = await asyncio.gather(first, *rest)
    assert [d.body for d in stored] == [_body(n).body for n in range(40)]
    assert len({d.id for d in stored}) == 40
    assert sorted(await _pending(new_uow)) == sorted(d.body for d in stored)
    assert gate.written == [1, 39]  # the first alone, the 39 that queued behind it together


async def test_a_failed_write_answers_every_body_in_it_with_the_error(
    sqlite_db: AsyncEngine, new_uow: UowFactory
) -> None:
    gate = Gate(sqlite_db)
    gate.fail = True
    writer = InboxWriter(gate.open_uow)
    tasks = [asyncio.create_task(writer.store(_body(n))) for n in range(12)]
    await asyncio.sleep(0.01)
    gate.opened.set()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(o, UpstreamUnavailable) for o in outcomes)
    assert await _pending(new_uow) == []
    # The next POST gets a write of its own once the database answers again.
    gate.fail = False
    stored = await writer.store(_body(99))
    assert await _pending(new_uow) == [stored.body]


@pytest.mark.parametrize(
    ("bound", "posts", "written"),
    [(10, 25, [5, 10, 10]), (0, 2, [1, 1])],  # a bound of none: still one body a write
)
async def test_one_write_takes_at_most_its_bound_of_bodies_but_always_one(
    bound: int, posts: int, written: list[int], sqlite_db: AsyncEngine
) -> None:
    gate = Gate(sqlite_db)
    gate.opened.set()
    writer = InboxWriter(gate.open_uow, max_bodies=bound)
    async with asyncio.timeout(10):
        stored = await asyncio.gather(*(writer.store(_body(n)) for n in range(posts)))
    assert len({d.id for d in stored}) == posts
    assert sorted(gate.written) == written


@pytest.mark.parametrize("size", [3, 50])
async def test_a_write_takes_no_more_bytes_than_its_bound_but_always_one_body(
    size: int, sqlite_db: AsyncEngine
) -> None:
    gate = Gate(sqlite_db)
    gate.opened.set()
    writer = InboxWriter(gate.open_uow, max_bytes=size)
    big = WebhookDelivery(connection_id=None, body=b"x" * 20, received_at=T0)
    await asyncio.gather(*(writer.store(big) for _ in range(4)))
    assert gate.written == ([1, 1, 1, 1] if size == 3 else [2, 2])


async def test_posts_behind_a_slow_commit_start_another_write(
    sqlite_db: AsyncEngine, new_uow: UowFactory
) -> None:
    """With one write at a time, every POST waited for the write in flight to commit; up to
    ``max_writes`` go at once, and the POSTs beyond them still share writes."""
    gate = Gate(sqlite_db)
    writer = InboxWriter(gate.open_uow, max_writes=2)
    first = asyncio.create_task(writer.store(_body(0)))
    await asyncio.sleep(0.01)  # the first write is under way (held at its commit)
    second = asyncio.create_task(writer.store(_body(1)))
    await asyncio.sleep(0.01)
    assert gate.begun == 2  # the second body did not wait for the first commit to begin
    rest = [asyncio.create_task(writer.store(_body(n))) for n in range(2, 40)]
    await asyncio.sleep(0.01)
    assert gate.begun == 2  # both writes are in flight: the others queue for the next one
    assert not any(t.done() for t in [first, second, *rest])
    gate.opened.set()
    stored = await asyncio.gather(first, second, *rest)
    assert len({d.id for d in stored}) == 40
    assert sorted(await _pending(new_uow)) == sorted(d.body for d in stored)
    assert sorted(gate.written) == [1, 1, 38]


async def test_a_body_handed_over_as_the_last_write_ends_is_stored_without_another_post(
    sqlite_db: AsyncEngine, new_uow: UowFactory
) -> None:
    """The writers all ending (the queue empty), a POST that comes right then starts a write
    of its own: it is not left waiting until another POST comes."""
    gate = Gate(sqlite_db)
    gate.opened.set()
    writer = InboxWriter(gate.open_uow, max_writes=1)

    async def one_after_the_other() -> WebhookDelivery:
        await writer.store(_body(0))
        return await writer.store(_body(1))  # the first write's writer is still ending

    async with asyncio.timeout(10):
        stored = await one_after_the_other()
    assert sorted(await _pending(new_uow)) == sorted([_body(0).body, stored.body])


async def test_a_write_cancelled_before_it_began_leaves_room_for_the_next_post(
    sqlite_db: AsyncEngine, new_uow: UowFactory
) -> None:
    """A write cancelled before it ever ran (its task's first step not taken yet) is no longer
    one of the writes in flight: the next POST starts a write of its own and is stored, with
    the body the cancelled one left queued."""
    gate = Gate(sqlite_db)
    gate.opened.set()
    writer = InboxWriter(gate.open_uow, max_writes=1)
    first = asyncio.create_task(writer.store(_body(0)))
    await asyncio.sleep(0)  # the POST has handed its body over and started a write, not run yet
    (write,) = [t for t in asyncio.all_tasks() if t.get_name().endswith("group-commit")]
    write.cancel()
    await asyncio.sleep(0.01)
    async with asyncio.timeout(10):
        stored = await writer.store(_body(1))
        assert (await first).body == _body(0).body
    assert sorted(await _pending(new_uow)) == sorted([_body(0).body, stored.body])
