"""The durable scheduler: how fast 4 worker processes claim and finish due jobs on MariaDB,
and that none is done twice (docs/scheduler.md).

``jobs`` rows of one kind, all due, are inserted; 4 processes (each what a worker's scheduler
loop runs: ``RunDueJobs`` with batches of 100, on a unit of work of its own) start at the same
moment and run until nothing is due. The handler only notes the job's id: the numbers are the
claim and the bookkeeping, not a send. Reported: rows done per second (first claim to last
done, all processes), the rows each process did, and how many ids more than one process ran.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select

from application.use_cases.run_due_jobs import JobHandlers, RunDueJobs
from bench import env
from domain.scheduling import ScheduledJob
from infrastructure.clock import SystemClock
from infrastructure.db.engine import create_engine
from infrastructure.db.tables import scheduled_jobs
from infrastructure.db.uow import SqlUnitOfWork

KIND = "bench"
PROCESSES = 4
BATCH = 100


class _Noting:
    kind = KIND

    def __init__(self) -> None:
        self.ids: list[int] = []

    async def __call__(self, job: ScheduledJob) -> None:
        assert job.id is not None
        self.ids.append(job.id)


async def _drain(url: str, start_at: float) -> tuple[list[int], float, float]:
    engine = create_engine(url, pool_size=2)
    handler = _Noting()
    run = RunDueJobs(SqlUnitOfWork(engine), SystemClock(), JobHandlers([handler]))
    try:
        await run(limit=1)  # connect and warm up before the start (nothing is due yet)
        await asyncio.sleep(max(0.0, start_at - time.time()))
        started = time.time()
        while (await run(limit=BATCH)).claimed:
            pass
        return handler.ids, started, time.time()
    finally:
        await engine.dispose()


def _process(url: str, start_at: float) -> tuple[list[int], float, float]:
    return asyncio.run(_drain(url, start_at))


async def _insert(url: str, count: int, due: datetime) -> None:
    engine = create_engine(url, pool_size=1)
    rows = [
        {
            "kind": KIND,
            "job_key": f"job:{n}",
            "account_id": 1,
            "conversation_id": n,
            "due_at": due,
            "run_after": due,
            "payload": "{}",
            "state": "pending",
            "attempts": 0,
            "last_error": "",
            "created_at": due,
            "updated_at": due,
        }
        for n in range(count)
    ]
    try:
        async with engine.begin() as conn:
            for first in range(0, count, 5_000):
                await conn.execute(insert(scheduled_jobs), rows[first : first + 5_000])
    finally:
        await engine.dispose()


async def _done(url: str) -> int:
    engine = create_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            stmt = select(func.count()).where(
                scheduled_jobs.c.kind == KIND, scheduled_jobs.c.state == "done"
            )
            return int((await conn.execute(stmt)).scalar() or 0)
    finally:
        await engine.dispose()


async def run_scheduler(quick: bool, processes: int = PROCESSES) -> dict[str, Any]:
    count = 4_000 if quick else 40_000
    async with env.bench_database() as url:
        await _insert(url, count, datetime.now(UTC) - timedelta(seconds=1))
        start_at = time.time() + 5.0  # every process connected and warm by then
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(processes, mp_context=context) as pool:
            loop = asyncio.get_running_loop()
            results = await asyncio.gather(
                *(loop.run_in_executor(pool, _process, url, start_at) for _ in range(processes))
            )
        done_rows = await _done(url)
    ids = [i for ran, _, _ in results for i in ran]
    seconds = max(end for _, _, end in results) - min(start for _, start, _ in results)
    return {
        "jobs": count,
        "processes": processes,
        "batch": BATCH,
        "seconds": round(seconds, 2),
        "rows_per_s": round(count / seconds, 1),
        "rows_per_process": [len(ran) for ran, _, _ in results],
        "ran_twice": len(ids) - len(set(ids)),
        "ran": len(ids),
        "rows_done": done_rows,
    }
