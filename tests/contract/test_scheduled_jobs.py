"""Scheduled jobs: the same cases on SQLite and MariaDB; and on MariaDB, two transactions
claiming at once take disjoint jobs."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from domain.scheduling import JobState, ScheduledJob
from infrastructure.db.uow import SqlUnitOfWork
from tests.conftest import UowFactory, new_id
from tests.support.factories import T0

LEASE = timedelta(minutes=5)


def job(kind: str, key: str, *, due_in: float = 0.0, **payload: object) -> ScheduledJob:
    return ScheduledJob(
        kind=kind,
        key=key,
        account_id=379,
        conversation_id=new_id(),
        due_at=T0 + timedelta(seconds=due_in),
        payload=dict(payload),
        created_at=T0,
    )


def kind() -> str:
    """A kind of its own per test: the databases are shared by the session's tests."""
    return f"test-{new_id()}"


async def test_scheduling_the_same_kind_and_key_twice_keeps_the_first(
    uow_factory: UowFactory,
) -> None:
    k = kind()
    async with uow_factory() as uow:
        assert await uow.jobs.schedule(job(k, "c:1", due_in=60, n=1))
        assert not await uow.jobs.schedule(job(k, "c:1", due_in=5, n=2))
        assert await uow.jobs.schedule(job(k, "c:2", due_in=60))
        await uow.commit()
    async with uow_factory() as uow:
        stored = await uow.jobs.get(k, "c:1")
    assert stored is not None
    assert stored.payload == {"n": 1}
    assert stored.due_at == T0 + timedelta(seconds=60)
    assert stored.state is JobState.PENDING


async def test_only_due_jobs_are_claimed_oldest_first_and_held_for_a_lease(
    uow_factory: UowFactory,
) -> None:
    k = kind()
    async with uow_factory() as uow:
        for key, due_in in (("late", 30.0), ("early", 10.0), ("future", 3600.0)):
            await uow.jobs.schedule(job(k, key, due_in=due_in))
        await uow.commit()
    now = T0 + timedelta(seconds=60)
    async with uow_factory() as uow:
        claimed = await uow.jobs.claim_due(now, LEASE, 10, {k})
        await uow.commit()
    assert [j.key for j in claimed] == ["early", "late"]
    assert all(j.attempts == 1 and j.claimed_at == now for j in claimed)
    async with uow_factory() as uow:  # held: not claimed again within the lease
        assert await uow.jobs.claim_due(now + LEASE / 2, LEASE, 10, {k}) == []
        assert await uow.jobs.finish(claimed[:1], now) == 1
        await uow.commit()
    # The worker holding "late" died: after the lease another claims it, with a new token.
    later = now + LEASE + timedelta(seconds=1)
    async with uow_factory() as uow:
        again = await uow.jobs.claim_due(later, LEASE, 10, {k})
        await uow.commit()
    assert [(j.key, j.attempts) for j in again] == [("late", 2)]
    async with uow_factory() as uow:
        assert await uow.jobs.finish(claimed[1:], later) == 0  # the dead claim's token
        assert await uow.jobs.finish(again, later) == 1
        await uow.commit()
    async with uow_factory() as uow:
        done = await uow.jobs.get(k, "late")
        assert await uow.jobs.claim_due(later + LEASE * 3, LEASE, 10, {k}) == []
    assert done is not None
    assert done.state is JobState.DONE
    assert done.done_at == later


async def test_a_cancelled_job_is_never_claimed(uow_factory: UowFactory) -> None:
    k = kind()
    async with uow_factory() as uow:
        await uow.jobs.schedule(job(k, "c:1"))
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.jobs.cancel(k, "c:1", T0)
        assert not await uow.jobs.cancel(k, "c:1", T0)  # cancelled already
        assert not await uow.jobs.cancel(k, "never", T0)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.jobs.claim_due(T0 + timedelta(hours=1), LEASE, 10, {k}) == []
        stored = await uow.jobs.get(k, "c:1")
    assert stored is not None
    assert stored.state is JobState.CANCELLED


async def test_jobs_of_several_kinds_are_cancelled_at_once(uow_factory: UowFactory) -> None:
    first, second, other = kind(), kind(), kind()
    async with uow_factory() as uow:
        for k in (first, second, other):
            await uow.jobs.schedule(job(k, "c:1"))
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.jobs.cancel_all({first, second}, "c:1", T0) == 2
        assert await uow.jobs.cancel_all({first, second}, "c:1", T0) == 0  # cancelled already
        await uow.commit()
    async with uow_factory() as uow:
        states = [await uow.jobs.get(k, "c:1") for k in (first, second, other)]
    assert [s.state if s else None for s in states] == [
        JobState.CANCELLED,
        JobState.CANCELLED,
        JobState.PENDING,
    ]


async def test_a_failed_job_waits_for_its_retry_or_is_given_up(uow_factory: UowFactory) -> None:
    k = kind()
    async with uow_factory() as uow:
        await uow.jobs.schedule(job(k, "c:1"))
        await uow.jobs.schedule(job(k, "c:2"))
        await uow.commit()
    async with uow_factory() as uow:
        first, second = await uow.jobs.claim_due(T0, LEASE, 10, {k})
        assert await uow.jobs.retry(first, "ESB down", T0 + timedelta(seconds=30), T0)
        assert await uow.jobs.retry(second, "bad payload", None, T0)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.jobs.claim_due(T0 + timedelta(seconds=29), LEASE, 10, {k}) == []
        again = await uow.jobs.claim_due(T0 + timedelta(seconds=30), LEASE, 10, {k})
        given_up = await uow.jobs.get(k, "c:2")
    assert [(j.key, j.attempts, j.last_error) for j in again] == [("c:1", 2, "ESB down")]
    assert given_up is not None
    assert given_up.state is JobState.FAILED


async def test_counts_say_what_is_due_and_overdue_per_kind(uow_factory: UowFactory) -> None:
    k = kind()
    async with uow_factory() as uow:
        await uow.jobs.schedule(job(k, "overdue", due_in=0))
        await uow.jobs.schedule(job(k, "due", due_in=100))
        await uow.jobs.schedule(job(k, "later", due_in=1000))
        await uow.commit()
    async with uow_factory() as uow:
        counts = await uow.jobs.counts(T0 + timedelta(seconds=120), timedelta(seconds=60))
    mine = [c for c in counts if c.kind == k]
    assert [(c.due, c.overdue) for c in mine] == [(2, 1)]


async def test_finished_jobs_are_purged_in_batches_pending_and_failed_kept(
    uow_factory: UowFactory,
) -> None:
    k = kind()
    then = datetime(1974, 5, 1, tzinfo=UTC)  # older than any other test's jobs
    cutoff = then + timedelta(days=1)

    def old(key: str, *, due: datetime = then) -> ScheduledJob:
        return dataclasses.replace(job(k, key), due_at=due, run_after=due, created_at=then)

    async with uow_factory() as uow:
        for key in ("done 1", "done 2", "done 3", "claimed", "failed", "cancelled", "waiting"):
            await uow.jobs.schedule(old(key))
        await uow.jobs.schedule(old("cancelled, due later", due=cutoff + timedelta(days=5)))
        await uow.jobs.schedule(old("done after the cut-off"))
        await uow.commit()
    async with uow_factory() as uow:
        claimed = {j.key: j for j in await uow.jobs.claim_due(then, LEASE, 10, {k})}
        done = [claimed[key] for key in ("done 1", "done 2", "done 3")]
        assert await uow.jobs.finish(done, then) == 3
        assert await uow.jobs.retry(claimed["failed"], "bad payload", None, then)
        assert await uow.jobs.retry(claimed["waiting"], "ESB down", then + LEASE, then)
        assert await uow.jobs.finish([claimed["done after the cut-off"]], cutoff) == 1
        assert await uow.jobs.cancel(k, "cancelled", then)
        assert await uow.jobs.cancel(k, "cancelled, due later", then)
        await uow.commit()
    async with uow_factory() as uow:
        batches = [await uow.jobs.purge_finished(cutoff, 2) for _ in range(3)]
        await uow.commit()
    assert batches == [2, 2, 0]  # the three done and the cancelled one, two at a time

    async def left() -> set[str]:
        async with uow_factory() as uow:
            jobs = [await uow.jobs.get(k, key) for key in claimed]
            jobs.append(await uow.jobs.get(k, "cancelled, due later"))
        return {j.key for j in jobs if j is not None}

    # Still held by a worker, waiting for a retry, given up, finished after the cut-off, or
    # cancelled before a due time that is not past the cut-off yet: all kept.
    kept = {"claimed", "waiting", "failed", "done after the cut-off", "cancelled, due later"}
    assert await left() == kept
    async with uow_factory() as uow:
        later = await uow.jobs.purge_finished(cutoff + timedelta(days=10), 100)
        await uow.commit()
    assert later == 2
    assert await left() == {"claimed", "waiting", "failed"}


async def test_two_transactions_claiming_at_once_take_disjoint_jobs(
    mysql_engine: AsyncEngine,
) -> None:
    k = kind()
    async with SqlUnitOfWork(mysql_engine) as uow:
        for n in range(10):
            await uow.jobs.schedule(job(k, f"c:{n}"))
        await uow.commit()
    first, second = SqlUnitOfWork(mysql_engine), SqlUnitOfWork(mysql_engine)
    async with first, second:
        taken = await first.jobs.claim_due(T0, LEASE, 6, {k})
        # The first still holds its rows: the second skips them instead of waiting.
        rest = await second.jobs.claim_due(T0, LEASE, 6, {k})
        await first.commit()
        await second.commit()
    assert len(taken) == 6
    assert len(rest) == 4
    assert not {j.key for j in taken} & {j.key for j in rest}


async def test_the_jobs_of_several_keys_are_cancelled_at_once(uow_factory: UowFactory) -> None:
    first, second = kind(), kind()
    async with uow_factory() as uow:
        for k in (first, second):
            for key in ("c:1", "c:2", "c:3"):
                await uow.jobs.schedule(job(k, key))
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.jobs.cancel_all_many({first, second}, ["c:1", "c:2"], T0) == 4
        assert await uow.jobs.cancel_all_many({first, second}, ["c:1", "c:2"], T0) == 0
        assert await uow.jobs.cancel_all_many({first, second}, [], T0) == 0
        await uow.commit()
    async with uow_factory() as uow:
        states = [await uow.jobs.get(first, key) for key in ("c:1", "c:2", "c:3")]
    assert [s.state if s else None for s in states] == [
        JobState.CANCELLED,
        JobState.CANCELLED,
        JobState.PENDING,
    ]
