"""Stored webhook bodies become delivery reports and handled answers; each body exactly once.

A body is marked processed only when everything in it is done; anything that must wait
(Meta or the ESB unavailable) leaves it pending for the next sweep. Every step is keyed, so
processing a body again changes nothing that was already done.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

import structlog

from application.ports.clock import Clock
from application.ports.repositories import UnitOfWork
from application.ports.webhooks import WebhookDecoder
from application.use_cases.handle_customer_reply import HandleCustomerReply
from application.use_cases.record_delivery_reports import RecordDeliveryReports
from application.use_cases.record_template_status import RecordTemplateStatus
from domain.errors import MalformedPayload, UpstreamUnavailable
from domain.records import WebhookDelivery
from domain.webhook import InboundMessage, ParsedWebhook, StatusUpdate

_log = structlog.get_logger("webhooks")

#: Meta itself gives up after 7 days; a body still failing then is set aside.
GIVE_UP_AFTER = timedelta(days=7)
#: Statuses recorded per transaction. Meta batches up to 1000 per POST, so a pass of 500
#: bodies could hold half a million rows, parameters and events in memory at once.
STATUSES_PER_TRANSACTION = 2000
#: Bodies read per pass, in bytes (Meta's largest are about 3 MB): a backlog pass of 500 of
#: them would hold gigabytes, raw and decoded.
PASS_BYTES = 8 * 1024 * 1024


#: Shoppers whose answers are handled side by side (one shopper's answers stay in order).
REPLY_CONCURRENCY = 16


class ReplyHandlers(Protocol):
    """Each call opens a handler with a unit of work of its own, so answers can run at once."""

    def __call__(self) -> AbstractAsyncContextManager[HandleCustomerReply]: ...


@dataclass(slots=True)
class ProcessedBatch:
    taken: int = 0
    retried: int = 0  # taken bodies that were waiting already (they come after every fresh one)
    processed: int = 0
    statuses: int = 0
    replies: int = 0
    template_changes: int = 0
    malformed: int = 0
    waiting: list[int] = field(default_factory=list)

    @property
    def more_may_wait(self) -> bool:
        """Another pass now could find fresh bodies: this one made progress and did not reach
        the bodies waiting for a retry (which are taken only after every fresh one)."""
        return self.taken > len(self.waiting) and self.retried == 0


class ProcessWebhooks:
    def __init__(
        self,
        uow: UnitOfWork,
        decoder: WebhookDecoder,
        reports: RecordDeliveryReports,
        replies: ReplyHandlers,
        templates: RecordTemplateStatus,
        clock: Clock,
        reply_concurrency: int = REPLY_CONCURRENCY,
    ) -> None:
        self._uow = uow
        self._decoder = decoder
        self._reports = reports
        self._replies = replies
        self._templates = templates
        self._clock = clock
        self._reply_concurrency = reply_concurrency

    async def __call__(
        self, limit: int = 200, min_age: timedelta | None = None, max_bytes: int = PASS_BYTES
    ) -> ProcessedBatch:
        now = self._clock.now()
        async with self._uow as uow:
            pending = await uow.inbox.pending(limit, now - min_age if min_age else None, max_bytes)
        batch = ProcessedBatch(
            taken=len(pending), retried=sum(1 for d in pending if d.error is not None)
        )
        readable: list[tuple[WebhookDelivery, ParsedWebhook]] = []
        for delivery in pending:
            try:
                readable.append((delivery, self._decoder.decode(delivery.body)))
            except MalformedPayload as exc:
                # Signed by Meta yet unreadable: keep it, never ask Meta to retry, alert.
                _log.error(
                    "ALERT unreadable webhook stored", delivery_id=delivery.id, error=str(exc)
                )
                await self._mark(delivery, f"malformed: {exc}")
                batch.malformed += 1
        for chunk in _by_message([s for _, p in readable for s in p.statuses]):
            batch.statuses += await self._reports(chunk)
        template_changes = [c for _, p in readable for c in p.template_changes]
        if template_changes:
            await self._templates(template_changes)
            batch.template_changes = len(template_changes)
        waits = await self._handle_replies(readable, batch)
        done: list[int] = []
        for delivery, parsed in readable:
            assert delivery.id is not None
            if parsed.other_fields:
                _log.info("webhook fields not handled", fields=list(parsed.other_fields))
            why = waits.get(delivery.id)
            if why is not None:
                if now - delivery.received_at > GIVE_UP_AFTER:
                    _log.error("ALERT webhook given up", delivery_id=delivery.id, error=str(why))
                    await self._mark(delivery, f"given up: {why}")
                else:
                    _log.warning(
                        "webhook waits for a retry", delivery_id=delivery.id, error=str(why)
                    )
                    async with self._uow as uow:
                        await uow.inbox.mark_waiting(delivery.id, f"waiting: {why}"[:2000])
                        await uow.commit()
                    batch.waiting.append(delivery.id)
                continue
            done.append(delivery.id)
        if done:
            async with self._uow as uow:
                await uow.inbox.mark_many_processed(done, self._clock.now())
                await uow.commit()
        batch.processed = len(done) + batch.malformed
        return batch

    async def _handle_replies(
        self, readable: list[tuple[WebhookDelivery, ParsedWebhook]], batch: ProcessedBatch
    ) -> dict[int, UpstreamUnavailable]:
        """Answers of different shoppers at once, each shopper's in order; returns the bodies
        that must wait (Meta or the ESB unavailable) and why."""
        by_shopper: dict[str, list[tuple[int, InboundMessage]]] = {}
        for delivery, parsed in readable:
            assert delivery.id is not None
            for message in parsed.messages:
                by_shopper.setdefault(message.from_phone, []).append((delivery.id, message))
        waits: dict[int, UpstreamUnavailable] = {}
        gate = asyncio.Semaphore(self._reply_concurrency)

        async def one_shopper(answers: list[tuple[int, InboundMessage]]) -> None:
            blocked: UpstreamUnavailable | None = None
            async with gate:
                for delivery_id, message in answers:
                    if blocked is not None:
                        # A shopper's answers are acted on in order: the rest wait too.
                        waits.setdefault(delivery_id, blocked)
                        continue
                    try:
                        async with self._replies() as handle:
                            await handle(message)
                        batch.replies += 1
                    except UpstreamUnavailable as exc:
                        blocked = exc
                        waits.setdefault(delivery_id, exc)

        await asyncio.gather(*(one_shopper(a) for a in by_shopper.values()))
        return waits

    async def _mark(self, delivery: WebhookDelivery, error: str) -> None:
        assert delivery.id is not None
        async with self._uow as uow:
            await uow.inbox.mark_processed(delivery.id, self._clock.now(), error[:2000])
            await uow.commit()


def _by_message(
    statuses: Sequence[StatusUpdate], size: int = STATUSES_PER_TRANSACTION
) -> Iterator[list[StatusUpdate]]:
    """Chunks of about ``size`` statuses, every status of one message in the same chunk (the
    order of a message's ticks is settled within one call)."""
    by_message: dict[str, list[StatusUpdate]] = {}
    for status in statuses:
        by_message.setdefault(status.message_id, []).append(status)
    chunk: list[StatusUpdate] = []
    for group in by_message.values():
        if chunk and len(chunk) + len(group) > size:
            yield chunk
            chunk = []
        chunk.extend(group)
    if chunk:
        yield chunk
