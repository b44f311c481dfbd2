"""Stored webhook bodies become delivery reports and handled answers; each body exactly once.

Each body, and each element in it, stands on its own (docs/webhooks.md, "Isolation"): an
element that cannot be read, stored or decided is recorded as a problem of its body and the
rest is applied; only what may heal (the database, Meta or the ESB unavailable) makes a body
wait, with backoff, behind the fresh ones. Every step is keyed, so processing a body again
changes nothing that was already done.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol, TypeVar

import structlog

from application.opt_outs import RecordPreferences, record_preferences
from application.ports.clock import Clock
from application.ports.repositories import UnitOfWork
from application.ports.webhooks import WebhookDecoder
from application.use_cases.handle_customer_reply import HandleCustomerReply
from application.use_cases.record_delivery_reports import RecordDeliveryReports
from application.use_cases.record_template_status import RecordTemplateStatus
from domain.errors import MalformedPayload, UpstreamUnavailable
from domain.records import WebhookDelivery, WebhookProblem
from domain.webhook import (
    ElementProblem,
    ElementProblemKind,
    InboundMessage,
    ParsedWebhook,
    StatusUpdate,
)

_log = structlog.get_logger("webhooks")
T = TypeVar("T")

#: Meta itself gives up after 7 days; a body still failing then is set aside.
GIVE_UP_AFTER = timedelta(days=7)
#: A waiting body is tried again after 5 s, 10 s, 20 s ... at most every 15 minutes.
FIRST_RETRY = timedelta(seconds=5)
LONGEST_RETRY = timedelta(minutes=15)
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
    refused: int = 0  # answers that named a conversation they are not bound to
    unmatched: int = 0  # messages that answer no conversation (e.g. to a number we don't know)
    template_changes: int = 0
    malformed: int = 0
    problems: dict[str, int] = field(default_factory=dict)  # new element problems, by kind
    waiting: list[int] = field(default_factory=list)

    @property
    def more_may_wait(self) -> bool:
        """Another pass now could find fresh bodies: this one made progress and did not reach
        the bodies waiting for a retry (which are taken only after every fresh one)."""
        return self.taken > len(self.waiting) and self.retried == 0


@dataclass(slots=True)
class _Body:
    delivery: WebhookDelivery
    parsed: ParsedWebhook
    problems: list[ElementProblem] = field(default_factory=list)
    wait: UpstreamUnavailable | None = None

    @property
    def id(self) -> int:
        assert self.delivery.id is not None
        return self.delivery.id

    def failed(self, element: str, exc: Exception) -> None:
        self.problems.append(
            ElementProblem(
                element=element, kind=ElementProblemKind.NOT_STORED, detail=describe(exc)
            )
        )

    def waits(self, exc: UpstreamUnavailable) -> None:
        if self.wait is None:
            self.wait = exc


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
        preferences: RecordPreferences | None = None,
    ) -> None:
        self._uow = uow
        self._decoder = decoder
        self._reports = reports
        self._replies = replies
        self._templates = templates
        self._clock = clock
        self._reply_concurrency = reply_concurrency
        self._preferences = preferences

    async def __call__(
        self,
        limit: int = 200,
        min_age: timedelta | None = None,
        max_bytes: int = PASS_BYTES,
        *,
        retry_early: bool = False,
    ) -> ProcessedBatch:
        """One pass; ``retry_early`` takes waiting bodies before their backoff has passed
        (a drain at shutdown, or an operator's re-drive)."""
        now = self._clock.now()
        async with self._uow as uow:
            pending = await uow.inbox.pending(
                limit, now - min_age if min_age else None, max_bytes, None if retry_early else now
            )
        batch = ProcessedBatch(
            taken=len(pending), retried=sum(1 for d in pending if d.error is not None)
        )
        bodies: list[_Body] = []
        for delivery in pending:
            try:
                parsed = self._decoder.decode(delivery.body)
            except MalformedPayload as exc:
                # Signed by Meta yet unreadable: keep it, never ask Meta to retry, alert.
                _log.error(
                    "ALERT unreadable webhook stored", delivery_id=delivery.id, error=str(exc)
                )
                await self._mark(delivery, f"malformed: {exc}")
                batch.malformed += 1
                continue
            bodies.append(_Body(delivery, parsed, list(parsed.problems)))
        await self._record_statuses(bodies, batch)
        await self._record_template_changes(bodies, batch)
        await record_preferences(self._preferences, bodies)
        await self._handle_replies(bodies, batch)
        await self._finish(bodies, batch, now)
        return batch

    async def _record_statuses(self, bodies: list[_Body], batch: ProcessedBatch) -> None:
        updates = [(body, s) for body in bodies for s in body.parsed.statuses]
        for chunk in _by_message(updates):
            try:
                batch.statuses += await self._reports([s for _, s in chunk])
            except UpstreamUnavailable as exc:
                for body, _ in chunk:
                    body.waits(exc)
            except Exception:
                # Something in the chunk is refused for good: each message's ticks on their
                # own, so the one that cannot be stored is found and the others are kept.
                for group in _by_message(chunk, size=1):
                    try:
                        batch.statuses += await self._reports([s for _, s in group])
                    except UpstreamUnavailable as exc:
                        for body, _ in group:
                            body.waits(exc)
                    except Exception as exc:
                        for body, status in group:
                            body.failed(status.element, exc)
        await self._remember_user_ids([s for _, s in updates if s.recipient_user_id])

    async def _remember_user_ids(self, statuses: Sequence[StatusUpdate]) -> None:
        """Statuses name a username-only shopper by user id: kept with their conversation, so
        the shopper's answers without a number find it (docs/webhooks.md)."""
        if not statuses:
            return
        try:
            async with self._uow as uow:
                ours = await uow.messages.get_many_by_message_ids({s.message_id for s in statuses})
                for status in statuses:
                    message = ours.get(status.message_id)
                    if message is not None and status.recipient_user_id:
                        await uow.conversations.remember_user_id(
                            message.conversation_id, status.recipient_user_id
                        )
                await uow.commit()
        except Exception as exc:  # the statuses are recorded; the next status tries again
            _log.warning("shopper user ids not kept", error=describe(exc))

    async def _record_template_changes(self, bodies: list[_Body], batch: ProcessedBatch) -> None:
        with_changes = [b for b in bodies if b.parsed.template_changes]
        if not with_changes:
            return
        changes = [c for b in with_changes for c in b.parsed.template_changes]
        try:
            await self._templates(changes)
            batch.template_changes = len(changes)
        except UpstreamUnavailable as exc:
            for body in with_changes:
                body.waits(exc)
        except Exception as exc:
            for body in with_changes:
                body.failed("message_template_status_update", exc)

    async def _handle_replies(self, bodies: list[_Body], batch: ProcessedBatch) -> None:
        """Answers of different shoppers at once, each shopper's in order; a body waits when
        one of its answers must (Meta or the ESB unavailable)."""
        by_shopper: dict[str, list[tuple[_Body, InboundMessage]]] = {}
        for body in bodies:
            for message in body.parsed.messages:
                signed = dataclasses.replace(message, connection_id=body.delivery.connection_id)
                by_shopper.setdefault(message.shopper, []).append((body, signed))
        gate = asyncio.Semaphore(self._reply_concurrency)

        async def one_shopper(answers: list[tuple[_Body, InboundMessage]]) -> None:
            blocked: UpstreamUnavailable | None = None
            async with gate:
                for body, message in answers:
                    if blocked is not None:
                        # A shopper's answers are acted on in order: the rest wait too.
                        body.waits(blocked)
                        continue
                    try:
                        async with self._replies() as handle:
                            handled = await handle(message)
                    except UpstreamUnavailable as exc:
                        blocked = exc
                        body.waits(exc)
                        continue
                    except Exception as exc:
                        body.failed(message.element, exc)
                        continue
                    batch.replies += 1
                    batch.refused += handled.refused
                    batch.unmatched += handled.conversation_id is None and not handled.refused

        await asyncio.gather(*(one_shopper(a) for a in by_shopper.values()))

    async def _finish(self, bodies: list[_Body], batch: ProcessedBatch, now: datetime) -> None:
        """Problems recorded, then each body marked done or waiting, in one transaction."""
        done: list[int] = []
        async with self._uow as uow:
            for body in bodies:
                if body.parsed.other_fields:
                    _log.info("webhook fields not handled", fields=list(body.parsed.other_fields))
                if body.problems:
                    await self._record_problems(uow, body, batch, now)
                if body.wait is not None:
                    await self._wait(uow, body, batch, now)
                elif body.problems:
                    count = len(body.problems)
                    await uow.inbox.mark_processed(
                        body.id, self._clock.now(), f"{count} element(s) not applied"
                    )
                else:
                    done.append(body.id)
            if done:
                await uow.inbox.mark_many_processed(done, self._clock.now())
            await uow.commit()
        batch.processed = (
            len(done) + batch.malformed + sum(1 for b in bodies if b.problems and b.wait is None)
        )

    async def _record_problems(
        self, uow: UnitOfWork, body: _Body, batch: ProcessedBatch, now: datetime
    ) -> None:
        new = await uow.inbox.add_problems(
            [
                WebhookProblem(
                    inbox_id=body.id,
                    element=p.element,
                    kind=p.kind.value,
                    detail=p.detail,
                    code=p.code,
                    created_at=now,
                )
                for p in body.problems
            ]
        )
        if not new:
            return  # recorded and alerted on an earlier pass
        for problem in body.problems:
            batch.problems[problem.kind.value] = batch.problems.get(problem.kind.value, 0) + 1
        first = body.problems[0]
        _log.error(
            "ALERT webhook elements not applied",
            delivery_id=body.id,
            count=len(body.problems),
            kinds=sorted({p.kind.value for p in body.problems}),
            element=first.element,
            error=first.detail,
            code=first.code,
        )

    async def _wait(
        self, uow: UnitOfWork, body: _Body, batch: ProcessedBatch, now: datetime
    ) -> None:
        why = body.wait
        delivery = body.delivery
        if now - delivery.received_at > GIVE_UP_AFTER:
            _log.error("ALERT webhook given up", delivery_id=body.id, error=str(why))
            await uow.inbox.mark_processed(body.id, now, f"given up: {why}"[:2000])
            return
        delay = min(FIRST_RETRY * 2 ** min(delivery.attempts, 16), LONGEST_RETRY)
        _log.warning(
            "webhook waits for a retry",
            delivery_id=body.id,
            error=str(why),
            retry_in_seconds=int(delay.total_seconds()),
        )
        await uow.inbox.mark_waiting(body.id, f"waiting: {why}"[:2000], now + delay)
        batch.waiting.append(body.id)

    async def _mark(self, delivery: WebhookDelivery, error: str) -> None:
        assert delivery.id is not None
        async with self._uow as uow:
            await uow.inbox.mark_processed(delivery.id, self._clock.now(), error[:2000])
            await uow.commit()


_LONG_NUMBER = re.compile(r"\d{5,}(\d{4})")


def describe(exc: BaseException) -> str:
    """One line for the record and the log: the error's first line (a database driver adds
    the statement and its parameters after it), long numbers masked (they may be phones)."""
    first = (str(exc).strip().splitlines() or [""])[0]
    text = f"{type(exc).__name__}: {first}" if first else type(exc).__name__
    return _LONG_NUMBER.sub(lambda m: "*" * (len(m.group(0)) - 4) + m.group(1), text)[:500]


def _by_message(
    items: Sequence[tuple[T, StatusUpdate]], size: int = STATUSES_PER_TRANSACTION
) -> Iterator[list[tuple[T, StatusUpdate]]]:
    """Chunks of about ``size`` statuses, every status of one message in the same chunk (the
    order of a message's ticks is settled within one call)."""
    by_message: dict[str, list[tuple[T, StatusUpdate]]] = {}
    for item in items:
        by_message.setdefault(item[1].message_id, []).append(item)
    chunk: list[tuple[T, StatusUpdate]] = []
    for group in by_message.values():
        if chunk and len(chunk) + len(group) > size:
            yield chunk
            chunk = []
        chunk.extend(group)
    if chunk:
        yield chunk
