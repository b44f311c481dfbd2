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
from collections.abc import Awaitable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import Protocol

import structlog

from application.opt_outs import RecordPreferences, record_preferences
from application.ports.clock import Clock
from application.ports.collaborators import ActivityPublisher
from application.ports.repositories import UnitOfWork
from application.ports.webhooks import WebhookDecoder
from application.timeline import Timeline
from application.use_cases.handle_customer_reply import (
    Begun,
    HandleCustomerReply,
    ReplyHandled,
)
from application.use_cases.inbox.bodies import (
    STATUSES_PER_TRANSACTION,
    Body,
    ProcessedBatch,
)
from application.use_cases.inbox.closing import CloseBodies
from application.use_cases.inbox.reports import (
    ReportRecorders,
    StatusLanes,
    record_template_changes,
)
from application.use_cases.inbox.user_ids import remember_user_ids
from application.use_cases.record_template_status import RecordTemplateStatus
from application.use_cases.reply.closing import CloseReplies
from application.use_cases.reply.reading import NO_READS, ReadAhead
from application.use_cases.reply.starting import StartTogether
from domain.errors import MalformedPayload, UpstreamUnavailable, describe
from domain.records import WebhookDelivery
from domain.webhook import InboundMessage

__all__ = [
    "STATUSES_PER_TRANSACTION",
    "ProcessWebhooks",
    "ProcessedBatch",
    "ReplyHandlers",
    "ReportRecorders",
    "sends_at_once",
]

_log = structlog.get_logger("webhooks")

#: Bodies read per pass, in bytes (Meta's largest are about 3 MB): a backlog pass of 500 of
#: them would hold gigabytes, raw and decoded.
PASS_BYTES = 8 * 1024 * 1024


#: Shoppers whose answers are handled side by side (one shopper's answers stay in order).
REPLY_CONCURRENCY = 16
#: Answers begun together (``StartTogether``) sent side by side: they hold no connection of
#: their own while they wait for Meta, and close together (``CloseReplies``). At least this
#: many, more for a faster sender (``sends_at_once``).
SENDS_AT_ONCE = 64


def sends_at_once(throughput: int) -> int:
    """Answers begun together and not yet sent, at most: 64, or a quarter of a second of the
    sender's limit when that is more (docs/webhooks.md, "Begun together"). A follow-up
    recorded in flight waits at most that long for its turn at the limiter, as at 64 with the
    default 80 messages/s; a process that dies meanwhile leaves it "Meta may have it"."""
    return max(SENDS_AT_ONCE, throughput // 4)


#: How long the bodies of a pass are this process's (docs/webhooks.md, "Several serve
#: processes"): other pumps skip them meanwhile. A pass outlasting it only lets another pump
#: do the same bodies again, which the keys make harmless; a crashed process's bodies are
#: taken by the others once it has passed.
CLAIM = timedelta(seconds=60)


class ReplyHandlers(Protocol):
    """Each call opens a handler with a unit of work of its own, so answers can run at once."""

    def __call__(self) -> AbstractAsyncContextManager[HandleCustomerReply]: ...


class ProcessWebhooks:
    def __init__(
        self,
        uow: UnitOfWork,
        decoder: WebhookDecoder,
        report_lanes: ReportRecorders,
        replies: ReplyHandlers,
        templates: RecordTemplateStatus,
        clock: Clock,
        activity: ActivityPublisher,
        reply_concurrency: int = REPLY_CONCURRENCY,
        preferences: RecordPreferences | None = None,
        sends: int = SENDS_AT_ONCE,
    ) -> None:
        """``report_lanes``: chunks of statuses recorded at once, each in a unit of work of
        its own (``inbox.reports``); their events go to ``activity`` (``Timeline``).
        ``sends``: answers begun together and not yet sent, at most (``sends_at_once``)."""
        self._sends = sends
        self._preferences = preferences
        self._report_lanes = report_lanes
        self._uow = uow
        self._decoder = decoder
        self._activity = activity
        self._replies = replies
        self._templates = templates
        self._clock = clock
        self._reply_concurrency = reply_concurrency
        self._close = CloseBodies(uow, clock)

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
        pending = await self._claim(limit, min_age, max_bytes, retry_early, now)
        batch = ProcessedBatch()
        bodies: list[Body] = []
        # The statuses of each body are recorded while the next ones are decoded, their
        # events published while the lanes go on (docs/webhooks.md, "Lanes").
        timeline = Timeline(self._activity)
        async with StatusLanes(self._report_lanes, timeline, batch) as lanes:
            budget = max_bytes
            while pending:
                batch.taken += len(pending)
                batch.retried += sum(1 for d in pending if d.error is not None)
                budget -= sum(len(d.body) for d in pending)
                for delivery in pending:
                    body = await self._decode(delivery, batch)
                    if body is not None:
                        bodies.append(body)
                        lanes.add(body)
                    await asyncio.sleep(0)  # a large body takes milliseconds: let the rest in
                # While the lanes have statuses waiting, the bodies that came meanwhile join
                # this pass (docs/webhooks.md, "A pass claims again while it writes"). A
                # drain takes every body at once; its claims would not keep it from its own.
                full = batch.taken >= limit or budget < max_bytes // 2
                if retry_early or full or not lanes.busy:
                    break
                pending = await self._claim_more(limit - batch.taken, min_age, budget)
        await remember_user_ids(self._uow, lanes.user_ids)
        await record_template_changes(self._templates, bodies, batch)
        await record_preferences(self._preferences, bodies)
        await self._handle_replies(bodies, batch)
        await self._close(bodies, batch, now)
        return batch

    async def _claim(
        self,
        limit: int,
        min_age: timedelta | None,
        max_bytes: int,
        retry_early: bool,
        now: datetime,
    ) -> list[WebhookDelivery]:
        """Bodies for this pass, claimed (docs/webhooks.md, "Several serve processes")."""
        async with self._uow as uow:
            pending = await uow.inbox.pending(
                limit,
                now - min_age if min_age else None,
                max_bytes,
                None if retry_early else now,
                claim_until=now + CLAIM,
            )
            await uow.commit()
        return pending

    async def _claim_more(
        self, limit: int, min_age: timedelta | None, max_bytes: int
    ) -> list[WebhookDelivery]:
        """More bodies for a pass under way; none when the database fails now (the pass
        ends with those it has; the next pass claims again)."""
        try:
            return await self._claim(limit, min_age, max_bytes, False, self._clock.now())
        except Exception as exc:
            _log.warning("no more bodies claimed for this pass", error=describe(exc))
            return []

    async def _decode(self, delivery: WebhookDelivery, batch: ProcessedBatch) -> Body | None:
        try:
            parsed = self._decoder.decode(delivery.body)
        except MalformedPayload as exc:
            # Signed by Meta yet unreadable: keep it, never ask Meta to retry, alert.
            _log.error("ALERT unreadable webhook stored", delivery_id=delivery.id, error=str(exc))
            await self._mark(delivery, f"malformed: {exc}")
            batch.malformed += 1
            return None
        return Body(delivery, parsed, list(parsed.problems))

    async def _handle_replies(self, bodies: list[Body], batch: ProcessedBatch) -> None:
        """Answers of different shoppers at once, each shopper's in order; a body waits when
        one of its answers must (Meta or the ESB unavailable). A shopper's only answer in the
        pass may begin together with others (``StartTogether``); the rest go alone. An answer
        begun together that asks the ESB goes on among those alone (``REPLY_CONCURRENCY``)."""
        by_shopper = _by_shopper(bodies)
        if not by_shopper:
            return
        gate = asyncio.Semaphore(self._reply_concurrency)
        sends = asyncio.Semaphore(self._sends)
        closer = CloseReplies(self._uow, self._clock)  # the answers' last writes, shared
        ahead = await self._read_ahead(by_shopper.values())

        async def begin(messages: Sequence[InboundMessage]) -> dict[str, Begun]:
            async with self._replies() as handle:
                return await handle.begin_together(messages, ahead)

        starts = StartTogether(begin)

        async def act_then_finish(started: Begun, sender: HandleCustomerReply) -> ReplyHandled:
            """The ESB asked, then a transaction of its own: it holds a connection as an
            answer alone does, so it takes a place among those; the timeline told of the
            answer before and of the action after, and its follow-up, recorded in flight, sent
            as the others' are, in no place (they hold no connection)."""
            told = await sender.tell(started)
            async with gate, self._replies() as handle:
                acted = await handle.act(told)
            return await sender.finish(acted, closer)

        async def one(body: Body, message: InboundMessage, n: int) -> UpstreamUnavailable | None:
            """One answer alone; what it must wait for, if anything."""
            # Read ahead for a shopper's first answer only: the next ones must see what it
            # wrote (``ReadAhead``).
            reads = ahead if n == 0 and not body.again else NO_READS

            async def alone() -> ReplyHandled:
                async with self._replies() as handle:
                    return await handle(message, again=body.again, closer=closer, reads=reads)

            return await self._count(alone(), body, message, batch)

        async def one_shopper(
            answers: list[tuple[Body, InboundMessage]], sender: HandleCustomerReply
        ) -> None:
            (body, message), *_ = answers
            if len(answers) == 1 and message.context_message_id and not body.again:
                async with sends:
                    started = await starts(message)
                    if started is not None and not started.acts:
                        await self._count(sender.finish(started, closer), body, message, batch)
                        return
                if started is not None:
                    await self._count(act_then_finish(started, sender), body, message, batch)
                    return
            blocked: UpstreamUnavailable | None = None
            async with gate:
                for n, (body, message) in enumerate(answers):
                    if blocked is not None:
                        # A shopper's answers are acted on in order: the rest wait too.
                        body.waits(blocked)
                        continue
                    blocked = await one(body, message, n)

        # One handler sends the follow-ups of all the answers begun together (``finish``: no
        # transaction of its own), rather than a scope for each.
        async with self._replies() as sender:
            await asyncio.gather(*(one_shopper(a, sender) for a in by_shopper.values()))

    @staticmethod
    async def _count(
        handling: Awaitable[ReplyHandled],
        body: Body,
        message: InboundMessage,
        batch: ProcessedBatch,
    ) -> UpstreamUnavailable | None:
        """An answer handled and counted; what it must wait for, if anything (its body waits
        too); an error is a problem of its body."""
        try:
            handled = await handling
        except UpstreamUnavailable as exc:
            body.waits(exc)
            return exc
        except Exception as exc:
            body.failed(message.element, exc)
            return None
        batch.replies += 1
        batch.refused += handled.refused
        batch.unmatched += handled.conversation_id is None and not handled.refused
        return None

    async def _read_ahead(
        self, by_shopper: Iterable[list[tuple[Body, InboundMessage]]]
    ) -> ReadAhead:
        """The reads of each shopper's first answer, for all in one go (a body taken again
        reads in its own transaction: its answers were most likely stored before)."""
        wamids = [
            wamid
            for (body, first), *_ in by_shopper
            if (wamid := first.context_message_id) and not body.again
        ]
        if len(wamids) < 2:
            return NO_READS  # nothing to share
        try:
            async with self._uow as uow:
                ahead = await ReadAhead.of(uow, wamids)
                await uow.commit()
        except Exception as exc:  # each answer reads for itself, and meets the trouble there
            _log.warning("answers not read ahead", error=describe(exc))
            return NO_READS
        return ahead

    async def _mark(self, delivery: WebhookDelivery, error: str) -> None:
        assert delivery.id is not None
        async with self._uow as uow:
            await uow.inbox.mark_processed(delivery.id, self._clock.now(), error[:2000])
            await uow.commit()


def _by_shopper(bodies: list[Body]) -> dict[str, list[tuple[Body, InboundMessage]]]:
    """The answers of the bodies, by shopper, in the order of the bodies and their messages."""
    by_shopper: dict[str, list[tuple[Body, InboundMessage]]] = {}
    for body in bodies:
        for message in body.parsed.messages:
            signed = dataclasses.replace(message, connection_id=body.delivery.connection_id)
            by_shopper.setdefault(message.shopper, []).append((body, signed))
    return by_shopper
