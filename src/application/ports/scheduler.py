"""The durable scheduler's storage (docs/scheduler.md): rows with a due time, claimed with
row locks that skip what another worker holds."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from domain.scheduling import JobCounts, ScheduledJob


class ScheduledJobRepository(Protocol):
    async def schedule(self, job: ScheduledJob) -> bool:
        """Stores the job; False (and nothing changes) when its kind and key exist already."""

    async def schedule_many(self, jobs: Sequence[ScheduledJob]) -> list[bool]:
        """``schedule`` of each, in their order, in as few statements as the database allows;
        False for a job whose kind and key exist already, and only for that one."""

    async def get(self, kind: str, key: str) -> ScheduledJob | None: ...

    async def claim_due(
        self, now: datetime, lease: timedelta, limit: int, kinds: Collection[str] | None = None
    ) -> list[ScheduledJob]:
        """Up to ``limit`` pending jobs whose time has come (due, or a lost worker's lease
        ran out), none held by another transaction; each is moved one lease ahead, its
        ``attempts`` (the claim's token) counted, before this transaction commits."""

    async def finish(self, jobs: Sequence[ScheduledJob], now: datetime) -> int:
        """Marks done those jobs still held by this claim (same ``attempts``); how many."""

    async def retry(
        self, job: ScheduledJob, error: str, run_after: datetime | None, now: datetime
    ) -> bool:
        """The claim failed: again at ``run_after``, or given up (``failed``) when None."""

    async def cancel(self, kind: str, key: str, now: datetime) -> bool:
        """A pending job will not run; False when there is none (done, or never scheduled)."""

    async def cancel_all(self, kinds: Collection[str], key: str, now: datetime) -> int:
        """``cancel`` for each of ``kinds`` at once (one statement); how many were pending."""

    async def cancel_all_many(
        self, kinds: Collection[str], keys: Collection[str], now: datetime
    ) -> int:
        """``cancel_all`` for each of ``keys`` (one statement); how many were pending."""

    async def counts(self, now: datetime, overdue_after: timedelta) -> list[JobCounts]:
        """Pending jobs per kind, due and overdue (for the gauges)."""

    async def purge_finished(self, finished_before: datetime, limit: int) -> int:
        """Deletes up to ``limit`` done or cancelled jobs finished, and last due, before
        ``finished_before``; how many. Pending jobs (due, waiting or claimed) and failed
        ones are never deleted."""
