"""How far behind the webhook pump is: what waits in the inbox, and for how long."""

from __future__ import annotations

from dataclasses import dataclass

from application.ports.clock import Clock
from application.ports.repositories import UnitOfWork


@dataclass(frozen=True, slots=True)
class WebhookBacklog:
    pending: int  # stored bodies not processed yet
    oldest_seconds: float  # how long the oldest of them has waited; 0 when none


class MeasureWebhookBacklog:
    def __init__(self, uow: UnitOfWork, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def __call__(self) -> WebhookBacklog:
        async with self._uow as uow:
            backlog = await uow.inbox.backlog()
        oldest = backlog.oldest_received_at
        waited = (self._clock.now() - oldest).total_seconds() if oldest is not None else 0.0
        return WebhookBacklog(pending=backlog.pending, oldest_seconds=max(waited, 0.0))
