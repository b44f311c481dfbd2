"""Raw webhook bodies are a buffer and an audit trail, not the record: once processed, the
delivery reports and answers hold what they said (each with its own JSON). Old processed
bodies are deleted in small transactions; those processed with an error stay for a human."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

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
        cutoff = cutoff_before(self._clock, keep)

        async def one_batch(uow: UnitOfWork) -> int:
            return await uow.inbox.purge_processed(cutoff, batch)

        total = await delete_in_batches(self._uow, one_batch, batch)
        _log.info("processed webhook bodies purged", deleted=total, before=cutoff.isoformat())
        return total


def cutoff_before(clock: Clock, keep: timedelta) -> datetime:
    """What is older than ``keep`` is purged."""
    if keep < timedelta(0):
        raise ValueError("keep must not be negative")
    return clock.now() - keep


async def delete_in_batches(
    uow: UnitOfWork, one_batch: Callable[[UnitOfWork], Awaitable[int]], batch: int
) -> int:
    """Runs ``one_batch`` (deleting at most ``batch`` rows) one transaction after the other
    until a batch comes back short; how many rows were deleted in all."""
    total = 0
    while True:
        async with uow as tx:
            deleted = await one_batch(tx)
            await tx.commit()
        total += deleted
        if deleted < batch:
            return total
