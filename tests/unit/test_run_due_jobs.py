"""The scheduler's pass on SQLite (a copy per test): done once, retried after a failure, taken
over after a lost worker's lease; finished jobs purged once old enough."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from application.use_cases.purge_finished_jobs import PurgeFinishedJobs
from application.use_cases.run_due_jobs import JobHandlers, RunDueJobs
from domain.errors import UpstreamUnavailable
from domain.scheduling import JobState, NotYet, ScheduledJob
from tests.conftest import UowFactory
from tests.support.doubles import FixedClock
from tests.support.factories import T0


@dataclass
class Recording:
    kind: str = "note"
    ran: list[str] = field(default_factory=list)
    fail_next: list[Exception] = field(default_factory=list)

    async def __call__(self, job: ScheduledJob) -> None:
        self.ran.append(job.key)
        if self.fail_next:
            raise self.fail_next.pop(0)


async def _schedule(new_uow: UowFactory, *keys: str, due_in: float = 60.0) -> None:
    async with new_uow() as uow:
        for key in keys:
            await uow.jobs.schedule(
                ScheduledJob(
                    kind="note",
                    key=key,
                    account_id=1,
                    due_at=T0 + timedelta(seconds=due_in),
                    created_at=T0,
                )
            )
        await uow.commit()


async def _state(new_uow: UowFactory, key: str) -> JobState:
    async with new_uow() as uow:
        job = await uow.jobs.get("note", key)
    assert job is not None
    return job.state


async def test_a_job_runs_once_when_due(new_uow: UowFactory) -> None:
    clock, handler = FixedClock(T0), Recording()
    run = RunDueJobs(new_uow(), clock, JobHandlers([handler]))
    await _schedule(new_uow, "a", "b")
    assert (await run()).claimed == 0  # not due yet
    clock.advance(60)
    ran = await run()
    clock.advance(3600)
    await run()
    assert handler.ran == ["a", "b"]
    assert ran.done == {"note": 2}
    assert await _state(new_uow, "a") is JobState.DONE


async def test_a_failed_job_runs_again_after_a_backoff(new_uow: UowFactory) -> None:
    clock = FixedClock(T0 + timedelta(seconds=60))
    handler = Recording(fail_next=[UpstreamUnavailable("ESB down")])
    run = RunDueJobs(new_uow(), clock, JobHandlers([handler]))
    await _schedule(new_uow, "a")
    assert (await run()).retried == {"note": 1}
    assert (await run()).claimed == 0
    clock.advance(30)
    assert (await run()).done == {"note": 1}
    assert handler.ran == ["a", "a"]


async def test_the_job_of_a_worker_killed_mid_way_is_taken_over_after_the_lease(
    new_uow: UowFactory,
) -> None:
    clock, handler = FixedClock(T0 + timedelta(seconds=60)), Recording()
    await _schedule(new_uow, "a")
    async with new_uow() as uow:  # a worker claims, then dies
        await uow.jobs.claim_due(clock.now(), RunDueJobs.lease, 10, {"note"})
        await uow.commit()
    run = RunDueJobs(new_uow(), clock, JobHandlers([handler]))
    assert (await run()).claimed == 0
    clock.advance(RunDueJobs.lease.total_seconds())
    assert (await run()).done == {"note": 1}
    assert handler.ran == ["a"]


async def test_a_job_that_may_not_run_yet_waits_until_then_and_is_no_failure(
    new_uow: UowFactory,
) -> None:
    # A reminder due at 23:00 in the shopper's quiet hours goes at their end.
    clock = FixedClock(T0 + timedelta(seconds=60))
    morning = T0 + timedelta(hours=10)
    handler = Recording(fail_next=[NotYet(morning, "quiet hours")])
    run = RunDueJobs(new_uow(), clock, JobHandlers([handler]))
    await _schedule(new_uow, "a")

    first = await run()
    assert (first.done, first.retried, first.failed) == ({}, {}, {})
    assert await _state(new_uow, "a") is JobState.PENDING
    clock.advance(timedelta(hours=9).total_seconds())
    assert (await run()).claimed == 0  # still night
    clock.advance(timedelta(hours=1).total_seconds())
    assert (await run()).done == {"note": 1}
    assert handler.ran == ["a", "a"]


async def test_the_purge_deletes_jobs_done_long_enough_ago_batch_after_batch(
    new_uow: UowFactory,
) -> None:
    clock, handler = FixedClock(T0), Recording()
    run = RunDueJobs(new_uow(), clock, JobHandlers([handler]))
    await _schedule(new_uow, "a", "b", "c", "d", "e")
    await _schedule(new_uow, "later", due_in=20 * 86400)
    clock.advance(60)
    await run()  # a to e done
    purge = PurgeFinishedJobs(new_uow(), clock)

    assert await purge(timedelta(days=14), batch=2) == 0  # done just now: kept
    clock.advance(15 * 86400)
    assert await purge(timedelta(days=14), batch=2) == 5  # three transactions
    async with new_uow() as uow:
        left = [await uow.jobs.get("note", key) for key in ("a", "e", "later")]
    assert [j.key for j in left if j is not None] == ["later"]  # still to run
