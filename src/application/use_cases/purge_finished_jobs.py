"""A scheduled job that is done or cancelled has nothing left to do: its row only says when it
ran. Old finished rows are deleted in small transactions, like the processed webhook bodies
(docs/scheduler.md).

Rules: only ``done`` and ``cancelled`` jobs finished (and last due) before the cut-off;
never a pending job (waiting, due or claimed by a worker), never a ``failed`` one (kept for a
human); at most ``batch`` rows per transaction.
"""

from __future__ import annotations

from datetime import timedelta

import structlog

from application.ports.clock import Clock
from application.ports.repositories import UnitOfWork
from application.use_cases.purge_webhook_bodies import (
    PURGE_BATCH,
    cutoff_before,
    delete_in_batches,
)

_log = structlog.get_logger("maintenance")


class PurgeFinishedJobs:
    def __init__(self, uow: UnitOfWork, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def __call__(self, keep: timedelta, batch: int = PURGE_BATCH) -> int:
        """Deletes jobs finished longer than ``keep`` ago; how many."""
        cutoff = cutoff_before(self._clock, keep)

        async def one_batch(uow: UnitOfWork) -> int:
            return await uow.jobs.purge_finished(cutoff, batch)

        total = await delete_in_batches(self._uow, one_batch, batch)
        _log.info("finished scheduled jobs purged", deleted=total, before=cutoff.isoformat())
        return total
