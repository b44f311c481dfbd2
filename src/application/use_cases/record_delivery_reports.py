"""Status webhooks. Rules: each (message, status) stored once (``uq_dlr_message_status``); a
status moves its message only forward (compare-and-set); a timed-out send is linked by its
``client_ref``, a tick naming no known message kept and linked later; the reminder never moves
its conversation; a failure for a number without WhatsApp signals ``whatsapp_unreachable``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from application.ports.clock import Clock
from application.ports.collaborators import ActivityPublisher
from application.ports.repositories import UnitOfWork
from application.reachability import signal_failed_sends
from application.sending import settle_conversation
from domain.activity import ActivityEvent, ActivityKind, Outcome
from domain.conversation import Conversation
from domain.messages import DeliveryReport, MessageKind, OutgoingMessage
from domain.status import MessageStatus
from domain.webhook import StatusUpdate

_OUTCOME = {
    MessageStatus.SENT: Outcome.SENT,
    MessageStatus.DELIVERED: Outcome.DELIVERED,
    MessageStatus.READ: Outcome.READ,
    MessageStatus.FAILED: Outcome.FAILED,
}


class RecordDeliveryReports:
    def __init__(self, uow: UnitOfWork, activity: ActivityPublisher, clock: Clock) -> None:
        self._uow = uow
        self._activity = activity
        self._clock = clock

    async def __call__(self, updates: Sequence[StatusUpdate]) -> int:
        """Stores the updates in one transaction; returns how many were new."""
        if not updates:
            return 0
        now = self._clock.now()
        async with self._uow as uow:
            known = await uow.messages.get_many_by_message_ids({u.message_id for u in updates})
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
            moved: list[DeliveryReport] = []
            # Equal seconds are broken by rank: read after delivered after sent.
            for report in sorted(fresh, key=lambda r: (r.external_timestamp, r.status.rank)):
                message = known.get(report.message_id)
                if message is None:
                    continue  # kept with no message: linked when the send response lands
                if not message.apply(report, now):
                    continue  # late or repeated: kept as a report, the status stays
                changed[report.message_id] = message
                moved.append(report)
            conversations = await uow.conversations.get_many(
                {m.conversation_id for m in changed.values()}
            )
            # A compare-and-set per message, all in one statement when all of them match: a
            # writer that stored a later status first (the worker recording Meta's answer,
            # another pass) keeps it (docs/sending.md).
            advanced = await uow.messages.advance_many(list(changed.values()))
            for message_id, message in changed.items():
                if message.id not in advanced:
                    moved = [r for r in moved if r.message_id != message_id]
                    continue
                conversation = conversations.get(message.conversation_id)
                if (
                    message.kind is MessageKind.TEMPLATE
                    and not message.is_reminder  # the reminder never moves its conversation
                    and _unsettled(conversation, message)
                ):
                    # Roots the conversation too when this reconciles a send that timed out.
                    await settle_conversation(uow, message, now)
            await uow.commit()
        events = _activity_events(moved, changed, conversations)
        if events:  # best effort: the composition root wraps the publisher (docs/adr/0007)
            await self._activity.publish_many(events)
        # 131026 and the like: the SMS fallback's cue (docs/opt-out.md)
        failed = [changed[r.message_id] for r in moved if r.status is MessageStatus.FAILED]
        await signal_failed_sends(self._uow, self._activity, conversations, failed, now)
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


def _unsettled(conversation: Conversation | None, message: OutgoingMessage) -> bool:
    """Whether the template's status may still change its conversation: a root is never unset
    and no state goes back to ``pending``, so most ticks need no compare-and-set."""
    if conversation is None:
        return True
    rooting = conversation.root_message_id is None and message.message_id is not None
    return rooting or conversation.follows_template(message.status)


def _activity_events(
    moved: list[DeliveryReport],
    changed: dict[str, OutgoingMessage],
    conversations: Mapping[int, Conversation],
) -> list[ActivityEvent]:
    """One timeline event per status that moved a message (``sent`` ... ``failed``)."""
    events: list[ActivityEvent] = []
    for report in moved:
        message = changed[report.message_id]
        outcome = _OUTCOME.get(report.status)
        if outcome is None:
            continue
        conversation = conversations.get(message.conversation_id)
        events.append(
            ActivityEvent(
                account_id=conversation.account_id if conversation else None,
                shipment_id=conversation.shipment_id if conversation else None,
                reason=conversation.reason.value if conversation else None,
                outcome=outcome,
                kind=ActivityKind.STATUS,
                message_id=report.message_id,
                conversation_id=message.conversation_id,
                error_code=report.error_code,
                error_title=report.error_title,
                occurred_at=report.external_timestamp,
            )
        )
    return events
