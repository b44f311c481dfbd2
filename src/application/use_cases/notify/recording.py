"""The event's outcome, written to ``wa_fdr_events`` and told to the workspace's timeline.

Rules: the send's outcome, the message's status and the conversation's state are written in
one transaction; a sent (or unknown) template schedules the reminder and the default action;
a skip records its reason (``skip_reason``) and, when WhatsApp cannot reach the shopper,
signals ``whatsapp_unreachable`` once; the timeline is told after the commit.
"""

from __future__ import annotations

from collections.abc import Sequence

from application.follow_through import schedule_follow_through
from application.ports.clock import Clock
from application.ports.collaborators import ActivityPublisher
from application.ports.repositories import UnitOfWork
from application.reachability import signal_failed_send, signal_skip
from application.sending import settle, settle_conversation
from application.statuses import status_events
from application.use_cases.notify.finished import Finished, finished, outcome_detail
from application.use_cases.notify.results import (
    Disposition,
    Notified,
    fdr_record,
    record_outcome,
)
from domain.activity import ActivityEvent, Outcome, SkipReason
from domain.conversation import Conversation
from domain.errors import SendError
from domain.failed_delivery import FailedDelivery
from domain.messages import DeliveryReport, OutgoingMessage
from domain.reasons import FdrReason


class OutcomeRecorder:
    def __init__(self, uow: UnitOfWork, activity: ActivityPublisher, clock: Clock) -> None:
        self._uow = uow
        self._activity = activity
        self._clock = clock

    async def finish(
        self,
        fdr: FailedDelivery,
        conversation: Conversation,
        message: OutgoingMessage,
        error: SendError | None,
        *,
        answered: bool = True,
    ) -> Notified:
        """Records the send's outcome, the message's status and the conversation's state in
        one transaction; ``answered=False`` completes the record of a send whose status is
        stored already (a worker stopped before recording its outcome)."""
        async with self._uow as uow:
            done = await self.write_finish(
                uow, fdr, conversation, message, error, answered=answered
            )
            await uow.commit()
        await self.announce([done])
        return done.notified

    async def write_finish(
        self,
        uow: UnitOfWork,
        fdr: FailedDelivery,
        conversation: Conversation,
        message: OutgoingMessage,
        error: SendError | None,
        *,
        answered: bool = True,
    ) -> Finished:
        """``finish``'s writes inside ``uow``'s transaction (the caller commits, then
        ``announce``s): a batch writes the outcomes of its sends in one transaction."""
        now = self._clock.now()
        early: tuple[DeliveryReport, ...] = ()
        if answered:
            stored = await settle(uow, message, now)
            message, early = stored.message, stored.early
        else:
            await settle_conversation(uow, message, now)
        outcome, detail = outcome_detail(message, error)
        record = fdr_record(
            fdr,
            conversation.reason,
            outcome,
            detail=detail,
            conversation_id=conversation.id,
            error_code=message.error_code if outcome is Outcome.FAILED else None,
            now=now,
        )
        await record_outcome(uow, record)
        if outcome in (Outcome.SENT, Outcome.UNKNOWN):  # the reminder, the default action
            await schedule_follow_through(uow, conversation, fdr.failed_at, now)
        return finished(fdr, conversation, message, outcome, detail, now, early)

    async def announce(self, finished: Sequence[Finished]) -> None:
        """After the commit: the outcomes to the workspace's timeline (one publish), and the
        shoppers the sends found unreachable."""
        if not finished:
            return
        events: list[ActivityEvent] = []
        for done in finished:  # the outcome, then the statuses joined to its message
            events += [done.event, *status_events(done.conversation, done.message, done.early)]
        await self._activity.publish_many(events)
        for done in finished:
            await signal_failed_send(
                self._uow, self._activity, done.conversation, done.message, done.event.occurred_at
            )

    async def skip(
        self,
        fdr: FailedDelivery,
        reason: FdrReason | None,
        why: SkipReason,
        detail: str,
        conversation_id: int | None = None,
    ) -> Notified:
        text = f"{why.value}: {detail}"[:1000]
        async with self._uow as uow:
            record = fdr_record(
                fdr,
                reason,
                Outcome.SKIPPED,
                detail=text,
                conversation_id=conversation_id,
                skip_reason=why,
                now=self._clock.now(),
            )
            await record_outcome(uow, record)
            known = reason.value if reason else None
            signal = await signal_skip(uow, fdr, known, why, conversation_id, self._clock.now())
            await uow.commit()
        await self._publish(
            ActivityEvent(
                account_id=fdr.account_id,
                shipment_id=fdr.shipment_id,
                reason=reason.value if reason else None,
                outcome=Outcome.SKIPPED,
                conversation_id=conversation_id,
                detail=text,
                occurred_at=self._clock.now(),
            )
        )
        if signal is not None:  # no WhatsApp for this shopper: the SMS fallback's cue
            await self._publish(signal)
        return Notified(
            disposition=Disposition.ACK,
            outcome=Outcome.SKIPPED,
            detail=text,
            conversation_id=conversation_id,
        )

    async def _publish(self, event: ActivityEvent) -> None:
        # Best effort: the composition root wraps the publisher (docs/adr/0007).
        await self._activity.publish(event)
