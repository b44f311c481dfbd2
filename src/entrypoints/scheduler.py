"""The scheduler loop of the worker process: runs due jobs, sweeps statuses stored ahead of
their message, measures what waits.

Nothing is kept in memory between passes: the due work is rows in ``wa_scheduled_jobs`` and
``wa_dlr_messages``, so a restart (or ``kill -9``) forgets nothing (docs/scheduler.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import structlog
from dishka import AsyncContainer

from application.use_cases.link_early_statuses import LinkEarlyStatuses
from application.use_cases.run_due_jobs import RunDueJobs
from domain.errors import UpstreamUnavailable
from infrastructure.logging import FailureLog
from infrastructure.metrics import EARLY_STATUSES_LINKED, JOBS_DONE, JOBS_DUE, JOBS_OVERDUE

_log = structlog.get_logger("scheduler")


class SchedulerLoop:
    def __init__(
        self,
        container: AsyncContainer,
        *,
        poll_seconds: float = 5.0,
        batch_size: int = 100,
        measure_seconds: float = 30.0,
        sweep_seconds: float = 60.0,
    ) -> None:
        self._container = container
        self._poll = poll_seconds
        self._batch = batch_size
        self._measure_every = measure_seconds
        self._measured_at = -measure_seconds
        self._sweep_every = sweep_seconds
        self._swept_at = -sweep_seconds
        self._failures = FailureLog(_log, expected=(UpstreamUnavailable,))
        self.done = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop`` is set: a full batch is followed at once by the next one."""
        while not stop.is_set():
            full = await self.run_once()
            await self._sweep()
            await self._measure()
            if not full:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self._poll)

    async def run_once(self) -> bool:
        """One pass; whether it found a full batch (more may be due)."""
        try:
            async with self._container() as request:
                ran = await (await request.get(RunDueJobs))(self._batch)
        except Exception as exc:  # the database is down: the next pass tries again
            self._failures.failed("due jobs not run", exc)
            return False
        outcomes = {"done": ran.done, "retried": ran.retried, "failed": ran.failed}
        for outcome, counts in outcomes.items():
            for kind, count in counts.items():
                JOBS_DONE.labels(kind=kind, outcome=outcome).inc(count)
        self.done += sum(ran.done.values())
        return ran.claimed >= self._batch

    async def _sweep(self) -> None:
        now = time.monotonic()
        if now - self._swept_at < self._sweep_every:
            return
        self._swept_at = now
        await self.sweep_once()

    async def sweep_once(self) -> int:
        """Links statuses stored ahead of their message that nobody linked (docs/sending.md,
        "Statuses ahead of Meta's answer"); how many it linked."""
        try:
            async with self._container() as request:
                swept = await (await request.get(LinkEarlyStatuses))()
        except Exception as exc:  # the database is down: the next sweep tries again
            self._failures.failed("statuses stored ahead of their message not swept", exc)
            return 0
        EARLY_STATUSES_LINKED.inc(swept.statuses)
        return swept.statuses

    async def _measure(self) -> None:
        now = time.monotonic()
        if now - self._measured_at < self._measure_every:
            return
        self._measured_at = now
        try:
            async with self._container() as request:
                counts = await (await request.get(RunDueJobs)).counts()
        except Exception as exc:
            self._failures.failed("scheduled jobs not measured", exc)
            return
        JOBS_DUE.clear()
        JOBS_OVERDUE.clear()
        for c in counts:
            JOBS_DUE.labels(kind=c.kind).set(c.due)
            JOBS_OVERDUE.labels(kind=c.kind).set(c.overdue)
