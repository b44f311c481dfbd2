"""A pass's delivery reports and template changes (docs/webhooks.md, "Isolation").

Delivery reports are recorded a chunk of messages at a time (``by_message``); when a chunk is
refused for good, each message's ticks are tried on their own, so the one that cannot be
stored is found and the others are kept. Template changes are recorded in one call. What may
heal (``UpstreamUnavailable``) makes the bodies concerned wait; anything else is recorded as a
problem of their body. The user ids seen in the reports are remembered.

With ``lanes``, up to ``STATUS_LANES`` chunks are recorded at once, each in a unit of work of
its own: chunks never share a message, so a message's ticks stay in one transaction and in
order, and while one chunk waits for the database or for the timeline's publish the next one
is worked on (docs/webhooks.md, "Stored first, processed after").
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from application.ports.repositories import UnitOfWork
from application.use_cases.inbox.bodies import Body, ProcessedBatch, by_message
from application.use_cases.inbox.user_ids import remember_user_ids
from application.use_cases.record_delivery_reports import RecordDeliveryReports
from application.use_cases.record_template_status import RecordTemplateStatus
from domain.errors import UpstreamUnavailable
from domain.webhook import StatusUpdate

#: Chunks of statuses recorded at once when the caller gives lanes (each a transaction).
STATUS_LANES = 2


class ReportRecorders(Protocol):
    """Each call opens a recorder with a unit of work of its own, so chunks can run at once."""

    def __call__(self) -> AbstractAsyncContextManager[RecordDeliveryReports]: ...


async def record_statuses(
    uow: UnitOfWork,
    reports: RecordDeliveryReports,
    bodies: list[Body],
    batch: ProcessedBatch,
    lanes: ReportRecorders | None = None,
) -> None:
    updates = [(body, s) for body in bodies for s in body.parsed.statuses]
    chunks = list(by_message(updates))
    if lanes is None:
        await _record_chunks(reports, iter(chunks), batch)
    else:
        shared = iter(chunks)

        async def lane() -> None:
            async with lanes() as recorder:
                await _record_chunks(recorder, shared, batch)

        # The lanes share one iterator: each takes the next chunk when done with its own (no
        # more lanes than chunks: a lane opens a unit of work).
        await asyncio.gather(*(lane() for _ in range(min(STATUS_LANES, len(chunks)))))
    await remember_user_ids(uow, [s for _, s in updates if s.recipient_user_id])


async def _record_chunks(
    reports: RecordDeliveryReports,
    chunks: Iterator[list[tuple[Body, StatusUpdate]]],
    batch: ProcessedBatch,
) -> None:
    for chunk in chunks:
        try:
            # Awaited before the sum: ``batch`` is shared with the other lanes.
            fresh = await reports([s for _, s in chunk])
            batch.statuses += fresh
        except UpstreamUnavailable as exc:
            for body, _ in chunk:
                body.waits(exc)
        except Exception:
            # Something in the chunk is refused for good: each message's ticks on their
            # own, so the one that cannot be stored is found and the others are kept.
            for group in by_message(chunk, size=1):
                try:
                    fresh = await reports([s for _, s in group])
                    batch.statuses += fresh
                except UpstreamUnavailable as exc:
                    for body, _ in group:
                        body.waits(exc)
                except Exception as exc:
                    for body, status in group:
                        body.failed(status.element, exc)


async def record_template_changes(
    templates: RecordTemplateStatus, bodies: list[Body], batch: ProcessedBatch
) -> None:
    with_changes = [b for b in bodies if b.parsed.template_changes]
    if not with_changes:
        return
    changes = [c for b in with_changes for c in b.parsed.template_changes]
    try:
        await templates(changes)
        batch.template_changes = len(changes)
    except UpstreamUnavailable as exc:
        for body in with_changes:
            body.waits(exc)
    except Exception as exc:
        for body in with_changes:
            body.failed("message_template_status_update", exc)
