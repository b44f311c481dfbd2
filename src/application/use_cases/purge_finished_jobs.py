"""A scheduled job that is done or cancelled has nothing left to do: its row only says when it
ran. Old finished rows are deleted in small transactions, like the processed webhook bodies
(docs/scheduler.md).

Rules: only ``done`` and ``cancelled`` jobs finished (and last due) before the cut-off;
never a pending job (waiting, due or claimed by a worker), never a ``failed`` one (kept for a
human); at most ``batch`` rows per transaction.
"""

from __future__ import annotations

from datetime import datetime

from application.ports.repositories import UnitOfWork
from application.use_cases.purge_webhook_bodies import PurgeOld


class PurgeFinishedJobs(PurgeOld):
    """Jobs done or cancelled (and last due) before the cut-off."""

    purged = "finished scheduled jobs purged"

    async def _delete(self, uow: UnitOfWork, cutoff: datetime, batch: int) -> int:
        return await uow.jobs.purge_finished(cutoff, batch)
