"""Operators' view of stored webhook bodies: what became of one, and re-driving them after a
fix (``fdr-whatsapp webhooks show|retry``; docs/webhooks.md, "When a body fails")."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from application.ports.repositories import UnitOfWork
from domain.errors import NotFound
from domain.records import WebhookDelivery, WebhookProblem

#: ``retry --errors`` re-drives at most this many bodies per run.
RETRY_LIMIT = 10_000


@dataclass(frozen=True, slots=True)
class WebhookFate:
    delivery: WebhookDelivery
    problems: list[WebhookProblem]

    @property
    def state(self) -> str:
        if self.delivery.processed_at is None:
            return "waiting" if self.delivery.error else "pending"
        return "processed with errors" if self.delivery.error else "processed"


class ShowWebhookBody:
    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def __call__(self, delivery_id: int) -> WebhookFate:
        async with self._uow as uow:
            delivery = await uow.inbox.get(delivery_id)
            if delivery is None:
                raise NotFound("webhook body", delivery_id)
            return WebhookFate(delivery, await uow.inbox.problems(delivery_id))


class RequeueWebhookBodies:
    """Makes kept bodies pending again; every step of processing is keyed, so what was
    already applied is not applied twice."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def __call__(self, delivery_ids: Sequence[int] = (), *, with_errors: bool = False) -> int:
        async with self._uow as uow:
            ids = list(delivery_ids)
            if with_errors:
                ids += await uow.inbox.with_errors(RETRY_LIMIT)
            found = await uow.inbox.requeue(sorted(set(ids)))
            await uow.commit()
        return found
