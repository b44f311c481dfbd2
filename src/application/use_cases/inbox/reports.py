"""A pass's delivery reports and template changes (docs/webhooks.md, "Isolation").

Delivery reports are recorded a chunk of messages at a time (``by_message``); when a chunk is
refused for good, each message's ticks are tried on their own, so the one that cannot be
stored is found and the others are kept. Template changes are recorded in one call. What may
heal (``UpstreamUnavailable``) makes the bodies concerned wait; anything else is recorded as a
problem of their body. The user ids seen in the reports are remembered.
"""

from __future__ import annotations

from application.ports.repositories import UnitOfWork
from application.use_cases.inbox.bodies import Body, ProcessedBatch, by_message
from application.use_cases.inbox.user_ids import remember_user_ids
from application.use_cases.record_delivery_reports import RecordDeliveryReports
from application.use_cases.record_template_status import RecordTemplateStatus
from domain.errors import UpstreamUnavailable


async def record_statuses(
    uow: UnitOfWork, reports: RecordDeliveryReports, bodies: list[Body], batch: ProcessedBatch
) -> None:
    updates = [(body, s) for body in bodies for s in body.parsed.statuses]
    for chunk in by_message(updates):
        try:
            batch.statuses += await reports([s for _, s in chunk])
        except UpstreamUnavailable as exc:
            for body, _ in chunk:
                body.waits(exc)
        except Exception:
            # Something in the chunk is refused for good: each message's ticks on their
            # own, so the one that cannot be stored is found and the others are kept.
            for group in by_message(chunk, size=1):
                try:
                    batch.statuses += await reports([s for _, s in group])
                except UpstreamUnavailable as exc:
                    for body, _ in group:
                        body.waits(exc)
                except Exception as exc:
                    for body, status in group:
                        body.failed(status.element, exc)
    await remember_user_ids(uow, [s for _, s in updates if s.recipient_user_id])


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
