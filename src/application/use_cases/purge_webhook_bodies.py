"""Raw webhook bodies are a buffer and an audit trail, not the record: once processed, the
delivery reports and answers hold what they said (each with its own JSON). Old processed
bodies are deleted in small transactions; those processed with an error stay for a human."""

from __future__ import annotations

from datetime import timedelta

import structlog

from application.ports.clock import Clock
from application.ports.repositories import UnitOfWork

_log = structlog.get_logger("maintenance")

#: Rows per transaction: short locks, small undo logs, the live pump barely notices.
PURGE_BATCH = 2000


class PurgeWebhookBodies:
    def __init__(self, uow: UnitOfWork, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def __call__(self, keep: timedelta, batch: int = PURGE_BATCH) -> int:
        """Deletes bodies processed (without error) longer than ``keep`` ago; how many."""
        if keep < timedelta(0):
            raise ValueError("keep must not be negative")
        cutoff = self._clock.now() - keep
        total = 0
        while True:
            async with self._uow as uow:
                deleted = await uow.inbox.purge_processed(cutoff, batch)
                await uow.commit()
            total += deleted
            if deleted < batch:
                break
        _log.info("processed webhook bodies purged", deleted=total, before=cutoff.isoformat())
        return total
