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

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from application.group_commit import Failure, GroupCommit
from application.ports.repositories import UnitOfWork
from domain.records import WebhookDelivery

OpenUnitOfWork = Callable[[], AbstractAsyncContextManager[UnitOfWork]]
"""Opens a unit of work of its own (not yet begun), for one write."""

MAX_BODIES = 500
MAX_BYTES = 8 * 1024 * 1024  # one statement stays well under MariaDB's max_allowed_packet
MAX_WRITES = 4  # writes in flight at once, each on a pooled connection of its own


class InboxWriter:
    """One per process; ``store`` is called by each POST, concurrently. Its group commit
    (``GroupCommit``): up to ``max_writes`` writes, each in a task of its own, so that a POST
    whose client went away stops waiting and its body is still written (Meta sends it again,
    and processing a body twice changes nothing); one turn of the loop before a write, so that
    the requests already running hand their bodies over first; a failed write's error to each
    POST in it; cancelled (shutting down), nobody is left to answer: every POST waiting is
    cancelled."""

    def __init__(
        self,
        open_uow: OpenUnitOfWork,
        *,
        max_bodies: int = MAX_BODIES,
        max_bytes: int = MAX_BYTES,
        max_writes: int = MAX_WRITES,
    ) -> None:
        self._open_uow = open_uow
        self._group: GroupCommit[WebhookDelivery, WebhookDelivery] = GroupCommit(
            self._write,
            failure=Failure.SHARED,
            gather=True,
            max_items=max_bodies,
            size=lambda delivery: len(delivery.body),
            max_size=max_bytes,
            tasks=max_writes,
        )

    @property
    def writes(self) -> int:
        """Writes begun so far, the one in flight too (for tests and metrics: bodies per
        write)."""
        return self._group.writes

    async def store(self, delivery: WebhookDelivery) -> WebhookDelivery:
        """``delivery`` with its id once committed; the write's error if it failed."""
        return await self._group(delivery)

    async def _write(self, deliveries: list[WebhookDelivery]) -> list[WebhookDelivery]:
        async with self._open_uow() as uow_, uow_ as uow:
            stored = await uow.inbox.add_many(deliveries)
            await uow.commit()
        return stored
