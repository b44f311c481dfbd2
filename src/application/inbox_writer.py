"""Webhook bodies stored with group commit: the bodies of concurrent POSTs in one transaction.

Each POST must be answered only once its body is durable. Storing each body in a transaction of
its own costs a connection check-out, an INSERT and a COMMIT (a log flush) per POST; under load
that, not the work, is the limit. Here a POST hands its body over and waits: the first body
starts a write at once (no timer, no added wait when the service is quiet); bodies arriving
while a write is in flight queue up and go together in the next one, one multi-row INSERT and
one COMMIT. Every waiting POST learns the outcome of the write its body was in: its stored row,
or the write's error (each of them then answers as a single POST would have, e.g. 503).

A few writes may be in flight at once (``max_writes``): one write at a time left the process
waiting for each COMMIT's log flush with nothing else to do, so a ``serve`` answered no more
POSTs per second than one connection could commit batches (docs/webhooks.md, "Group commit").
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

from application.ports.repositories import UnitOfWork
from domain.records import WebhookDelivery

OpenUnitOfWork = Callable[[], AbstractAsyncContextManager[UnitOfWork]]
"""Opens a unit of work of its own (not yet begun), for one write."""

MAX_BODIES = 500
MAX_BYTES = 8 * 1024 * 1024  # one statement stays well under MariaDB's max_allowed_packet
MAX_WRITES = 4  # writes in flight at once, each on a pooled connection of its own


@dataclass(slots=True)
class _Waiting:
    delivery: WebhookDelivery
    stored: asyncio.Future[WebhookDelivery]


class InboxWriter:
    """One per process; ``store`` is called by each POST, concurrently."""

    def __init__(
        self,
        open_uow: OpenUnitOfWork,
        *,
        max_bodies: int = MAX_BODIES,
        max_bytes: int = MAX_BYTES,
        max_writes: int = MAX_WRITES,
    ) -> None:
        self._open_uow = open_uow
        self._max_bodies = max_bodies
        self._max_bytes = max_bytes
        self._max_writes = max_writes
        self._queue: list[_Waiting] = []
        self._writers: set[asyncio.Task[None]] = set()
        self.writes = 0  # transactions so far (for tests and metrics: bodies per write)

    async def store(self, delivery: WebhookDelivery) -> WebhookDelivery:
        """``delivery`` with its id once committed; the write's error if it failed."""
        waiting = _Waiting(delivery, asyncio.get_running_loop().create_future())
        self._queue.append(waiting)
        # A writer takes what has queued up each time its write ends; more start only while
        # fewer than ``max_writes`` are at work (the queue is then their next batch).
        if len(self._writers) < self._max_writes:
            writer = asyncio.create_task(self._write_all(), name="inbox-group-commit")
            self._writers.add(writer)
            writer.add_done_callback(self._writers.discard)
        # A POST whose client went away stops waiting; its body is still written (Meta sends
        # it again, and processing a body twice changes nothing).
        return await waiting.stored

    async def _write_all(self) -> None:
        # One turn of the loop: requests already running hand their bodies over first.
        await asyncio.sleep(0)
        while self._queue:
            batch = self._take()
            try:
                async with self._open_uow() as uow_, uow_ as uow:
                    stored = await uow.inbox.add_many([w.delivery for w in batch])
                    await uow.commit()
            except asyncio.CancelledError:  # shutting down: nobody is left to answer
                for waiting in [*batch, *self._queue]:
                    waiting.stored.cancel()
                self._queue = []
                raise
            except Exception as exc:
                for waiting in batch:
                    if not waiting.stored.done():
                        waiting.stored.set_exception(exc)
            else:
                for waiting, row in zip(batch, stored, strict=True):
                    if not waiting.stored.done():
                        waiting.stored.set_result(row)
            finally:
                self.writes += 1

    def _take(self) -> list[_Waiting]:
        """The oldest bodies that fit one write (at least one)."""
        size = 0
        count = 0
        for waiting in self._queue:
            size += len(waiting.delivery.body)
            if count and (count >= self._max_bodies or size > self._max_bytes):
                break
            count += 1
        batch, self._queue = self._queue[:count], self._queue[count:]
        return batch
