"""The outcomes of a shipment's conversations, derived again from all its stored events.

Shared by the shipment event (``RecordShipmentOutcome``) and a settled NDR action (an
answer's action settled after the courier's events came in): each holds the shipment's lock
(``outcomes.attempts(lock=True)``) as its first read, so the two never derive at once
(docs/outcomes.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import structlog

from application.ports.clock import Clock
from application.ports.collaborators import ActivityPublisher
from application.ports.repositories import Attempt, UnitOfWork
from domain.activity import ActivityEvent, ActivityKind, Outcome
from domain.conversation import Conversation
from domain.outcomes import ShipmentEvent, ShipmentOutcome, Verdict, judge, window

_log = structlog.get_logger("outcomes")

_ACTIVITY = {
    ShipmentOutcome.DELIVERED: Outcome.SHIPMENT_DELIVERED,
    ShipmentOutcome.FAILED_AGAIN: Outcome.SHIPMENT_FAILED_AGAIN,
    ShipmentOutcome.RTO: Outcome.SHIPMENT_RTO,
    ShipmentOutcome.CANCELLED: Outcome.SHIPMENT_CANCELLED,
}


@dataclass(frozen=True, slots=True)
class _Change:
    attempt: Attempt
    verdict: Verdict


class OutcomeJudge:
    def __init__(self, uow: UnitOfWork, activity: ActivityPublisher, clock: Clock) -> None:
        self._uow = uow
        self._activity = activity
        self._clock = clock

    async def after_action(self, conversation: Conversation) -> None:
        """An NDR action of the conversation was settled (done or refused), perhaps long after
        the shopper's answer (the ESB was down and the action was tried again): when the
        courier's events are already in, the outcomes are judged again with it."""
        try:
            await self._judge_again(conversation)
        except Exception as exc:  # settled anyway: the shipment's next event judges again
            _log.error("outcome not judged again", error=str(exc)[:200])

    async def _judge_again(self, conversation: Conversation) -> None:
        async with self._uow as uow:
            # The lock first, as for an event: an event handled at this moment either
            # committed before (and is read below) or reads the settled action after us.
            attempts = await uow.outcomes.attempts(conversation.shipment_id, lock=True)
            events = await uow.outcomes.events(conversation.shipment_id)
            if any(e.status_log_id > conversation.status_log_id for e in events):
                now = self._clock.now()
                await self.derive(uow, conversation.shipment_id, attempts, now, events)

    async def derive(
        self,
        uow: UnitOfWork,
        shipment_id: int,
        attempts: list[Attempt],
        now: datetime,
        events: list[ShipmentEvent] | None = None,
    ) -> None:
        """Every conversation's outcome of the shipment derived again from all its stored
        events (the shipment's rows locked by ``attempts``), stored, told, then committed."""
        events = events if events is not None else await uow.outcomes.events(shipment_id)
        stored = await uow.outcomes.verdicts([a.conversation_id for a in attempts])
        changes: list[_Change] = []
        for index, attempt in enumerate(attempts):
            following = attempts[index + 1] if index + 1 < len(attempts) else None
            mine = window(
                attempt.status_log_id, following.status_log_id if following else None, events
            )
            if not mine:
                continue
            actions = await uow.ndr_actions.for_conversation(attempt.conversation_id)
            verdict = judge(mine, actions)
            before = stored.get(attempt.conversation_id)
            if before == verdict:
                continue
            await uow.outcomes.save(attempt, shipment_id, verdict, now)
            # The timeline hears of a new outcome or judgement, not of a late event that only
            # moved the outcome to an earlier event of the same kind.
            if before is None or before.summary != verdict.summary:
                changes.append(_Change(attempt, verdict))
        # Told while the shipment is still locked: two events of one shipment handled at once
        # reach the timeline in the order their outcomes were derived. Should the commit then
        # fail, the event comes back and tells the same again (a duplicate on the timeline,
        # never a wrong order).
        for change in changes:
            await self._publish(shipment_id, change)
        await uow.commit()

    async def _publish(self, shipment_id: int, change: _Change) -> None:
        verdict = change.verdict
        if verdict.outcome is None:
            return
        honoured = {True: "yes", False: "no", None: "n/a"}[verdict.honoured]
        next_event = verdict.next_event.value if verdict.next_event else "none"
        # Never raises: the activity port is best effort (docs/adr/0007-best-effort-activity.md).
        await self._activity.publish(
            ActivityEvent(
                account_id=change.attempt.account_id,
                shipment_id=shipment_id,
                reason=change.attempt.reason or None,
                outcome=_ACTIVITY[verdict.outcome],
                kind=ActivityKind.OUTCOME,
                conversation_id=change.attempt.conversation_id,
                detail=f"answer={verdict.answer}; courier_next={next_event}; honoured={honoured}",
                occurred_at=self._clock.now(),
            )
        )
