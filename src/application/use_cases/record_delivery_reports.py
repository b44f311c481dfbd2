"""Status webhooks. Rules: each (message, status) stored once (``uq_dlr_message_status``); a
status moves its message only forward (compare-and-set); a timed-out send is linked by its
``client_ref``, a tick naming no known message kept and linked later (looked up again after
the commit: ``application.statuses``); the reminder never moves its conversation; a failure
for a number without WhatsApp signals ``whatsapp_unreachable``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from application.ports.clock import Clock
from application.ports.collaborators import ActivityPublisher
from application.ports.repositories import UnitOfWork
from application.statuses import apply_statuses, join_stored, tell
from application.timeline import Timeline
from domain.messages import DeliveryReport, OutgoingMessage
from domain.webhook import StatusUpdate


class RecordDeliveryReports:
    def __init__(self, uow: UnitOfWork, activity: ActivityPublisher, clock: Clock) -> None:
        self._uow = uow
        self._activity = activity
        self._clock = clock

    async def __call__(
        self, updates: Sequence[StatusUpdate], timeline: Timeline | None = None
    ) -> int:
        """Stores the updates in one transaction; returns how many were new. With
        ``timeline``, their events are handed to it after the commit instead of published
        before this returns (``application.timeline``)."""
        if not updates:
            return 0
        now = self._clock.now()
        async with self._uow as uow:
            known = await uow.messages.get_many_for_statuses({u.message_id for u in updates})
            changed: dict[str, OutgoingMessage] = {}
            for update in updates:
                if update.message_id not in known and update.client_ref:
                    # A send that timed out: Meta had it after all; its callback data tells us.
                    found = await uow.messages.get_by_client_ref(update.client_ref)
                    if found is None or found.message_id not in (None, update.message_id):
                        continue
                    # Also when the worker stored the wamid between our two reads: found by
                    # neither, the status would stay unlinked and never move the message.
                    known[update.message_id] = found
                    if found.message_id is None:
                        found.message_id = update.message_id
                        changed[update.message_id] = found
            fresh = await uow.delivery_reports.add_many(
                [_report(u, known.get(u.message_id), now) for u in updates]
            )
            moves = await apply_statuses(uow, fresh, known, changed, now)
            await uow.commit()
        await tell(self._uow, self._activity, moves, now, timeline)
        unlinked = {r.message_id for r in fresh if r.wa_outgoing_message_id is None}
        if unlinked:
            # The worker may have stored their wamid after our look-up, and looked for them
            # before our commit: looked up again now (docs/sending.md, "Statuses ahead of
            # Meta's answer").
            await join_stored(self._uow, self._activity, unlinked, now)
        return len(fresh)


def _report(update: StatusUpdate, message: OutgoingMessage | None, now: datetime) -> DeliveryReport:
    return DeliveryReport(
        wa_outgoing_message_id=message.id if message else None,
        message_id=update.message_id,
        status=update.status,
        client_ref=update.client_ref,
        error_code=update.error_code,
        error_title=(update.error_title or "")[:255] or None,
        payload=update.payload,
        external_timestamp=update.timestamp,
        created_at=now,
        pricing=update.pricing,
    )
