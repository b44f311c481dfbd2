"""The durable scheduler's pass: claim the jobs whose time has come, run each by its kind,
mark it done (docs/scheduler.md).

The claim commits before any job runs, moving each claimed job one lease ahead: a worker
killed while running leaves its jobs to be claimed again once the lease has run out. A job
may therefore run twice after a crash, never twice at the same time; its effect carries an
idempotency key of its own (the reminder's ``client_ref``, the default action's one NDR
action per conversation and kind), so what the world sees happens once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

import structlog

from application.ports.clock import Clock
from application.ports.repositories import UnitOfWork
from domain.errors import UpstreamUnavailable
from domain.scheduling import (
    DEFAULT_LEASE,
    MAX_ATTEMPTS,
    JobCounts,
    NotYet,
    ScheduledJob,
    retry_delay,
)

_log = structlog.get_logger("scheduler")

#: A job still pending this long after its due time counts as overdue (the gauge).
OVERDUE_AFTER = timedelta(minutes=1)


class JobHandler(Protocol):
    """Does one kind of job. Returns normally when the job is done (or has become moot, e.g.
    the shopper answered before the reminder); raises to have it tried again later."""

    kind: str

    async def __call__(self, job: ScheduledJob) -> None: ...


class JobHandlers:
    """The handlers the composition root registers, by kind."""

    def __init__(self, handlers: Iterable[JobHandler]) -> None:
        self._by_kind: dict[str, JobHandler] = {h.kind: h for h in handlers}

    @property
    def kinds(self) -> frozenset[str]:
        return frozenset(self._by_kind)

    def __getitem__(self, kind: str) -> JobHandler:
        return self._by_kind[kind]


@dataclass(frozen=True, slots=True)
class JobsRun:
    claimed: int = 0
    done: Mapping[str, int] = field(default_factory=dict)
    retried: Mapping[str, int] = field(default_factory=dict)
    failed: Mapping[str, int] = field(default_factory=dict)


class RunDueJobs:
    #: How long a claim holds its jobs (in the clock's time) before another worker may.
    lease = DEFAULT_LEASE

    def __init__(self, uow: UnitOfWork, clock: Clock, handlers: JobHandlers) -> None:
        self._uow = uow
        self._clock = clock
        self._handlers = handlers

    async def __call__(self, limit: int = 100) -> JobsRun:
        kinds = self._handlers.kinds
        if not kinds:
            return JobsRun()
        async with self._uow as uow:
            jobs = await uow.jobs.claim_due(self._clock.now(), self.lease, limit, kinds)
            await uow.commit()
        if not jobs:
            return JobsRun()
        finished: list[ScheduledJob] = []
        failures: list[tuple[ScheduledJob, str]] = []
        later: list[tuple[ScheduledJob, NotYet]] = []
        for job in jobs:
            try:
                await self._handlers[job.kind](job)
            except NotYet as not_yet:
                later.append((job, not_yet))
            except Exception as exc:  # tried again after a backoff; the others go on
                if not isinstance(exc, UpstreamUnavailable):
                    _log.warning("job failed", kind=job.kind, key=job.key, error=str(exc))
                failures.append((job, f"{type(exc).__name__}: {exc}"))
            else:
                finished.append(job)
        retried: Counter[str] = Counter()
        failed: Counter[str] = Counter()
        now = self._clock.now()
        async with self._uow as uow:
            await uow.jobs.finish(finished, now)
            for job, wait in later:
                await uow.jobs.retry(job, f"deferred: {wait.why}", wait.until, now)
            for job, error in failures:
                again = now + retry_delay(job.attempts) if job.attempts < MAX_ATTEMPTS else None
                if await uow.jobs.retry(job, error, again, now):
                    (retried if again else failed)[job.kind] += 1
            await uow.commit()
        for kind in failed:
            _log.error("jobs given up", kind=kind, count=failed[kind])
        return JobsRun(
            claimed=len(jobs),
            done=Counter(job.kind for job in finished),
            retried=retried,
            failed=failed,
        )

    async def counts(self) -> list[JobCounts]:
        """Pending jobs per kind, due and overdue (every handled kind, 0 when none)."""
        async with self._uow as uow:
            counted = await uow.jobs.counts(self._clock.now(), OVERDUE_AFTER)
        seen = {c.kind for c in counted}
        return counted + [JobCounts(k, 0, 0) for k in sorted(self._handlers.kinds - seen)]
