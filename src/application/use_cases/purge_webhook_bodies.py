"""Raw webhook bodies are a buffer and an audit trail, not the record: once processed, the
delivery reports and answers hold what they said (each with its own JSON). Old processed
bodies are deleted in small transactions; those processed with an error stay for a human.

``PurgeOld`` is the batch loop every purge shares (also ``purge_finished_jobs``)."""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog

from application.ports.clock import Clock
from application.ports.repositories import UnitOfWork

_log = structlog.get_logger("maintenance")

#: Rows per transaction: short locks, small undo logs, the live pump barely notices.
PURGE_BATCH = 2000


class PurgeOld:
    """Deletes rows older than a cut-off, at most ``batch`` per transaction, one transaction
    after the other until one comes back short; what is deleted is each subclass's ``_delete``."""

    #: The log line of a finished purge.
    purged = "rows purged"

    def __init__(self, uow: UnitOfWork, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def __call__(self, keep: timedelta, batch: int = PURGE_BATCH) -> int:
        """Deletes what is older than ``keep``; how many rows."""
        if keep < timedelta(0):
            raise ValueError("keep must not be negative")
        cutoff = self._clock.now() - keep
        total = 0
        while True:
            async with self._uow as uow:
                deleted = await self._delete(uow, cutoff, batch)
                await uow.commit()
            total += deleted
            if deleted < batch:
                break
        _log.info(self.purged, deleted=total, before=cutoff.isoformat())
        return total

    async def _delete(self, uow: UnitOfWork, cutoff: datetime, batch: int) -> int:
        raise NotImplementedError


class PurgeWebhookBodies(PurgeOld):
    """Bodies processed (without error) before the cut-off."""

    purged = "processed webhook bodies purged"

    async def _delete(self, uow: UnitOfWork, cutoff: datetime, batch: int) -> int:
        return await uow.inbox.purge_processed(cutoff, batch)
