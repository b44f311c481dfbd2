"""A failed delivery becomes exactly one WhatsApp template message (or a recorded reason why not).

At-least-once delivery of events is made exactly-once sending by the conversation's unique key
(shipment, attempt) and by recording the message *before* it is sent: a redelivered event
finds the record and either stops (sent, failed, unknown) or sends what certainly never
left (``queued``, ``retrying``). The rules are written down in docs/sending.md.

Rules: one conversation per attempt (its unique key); whether to notify is
``domain.planning`` (off, unknown reason, stale, superseded, bad phone, no template, monthly
cap, template of another account); a template that does not fit fails its conversation
(``Conversation.template_failed``); the send is the one step of ``application.sending``.
"""

from __future__ import annotations

from collections.abc import Sequence

from application.ports.clock import Clock, IdGenerator
from application.ports.collaborators import ActivityPublisher
from application.ports.repositories import UnitOfWork
from application.sending import SendStep
from application.services import NotificationOptions, ReasonBook, SenderResolver, SettingsReader
from application.use_cases.held_sends import HeldSends
from application.use_cases.notify.batch import BatchNotify, Handled, NotifiedBatch, Planned
from application.use_cases.notify.batch_outcomes import OutcomePhase
from application.use_cases.notify.batch_plan import PlanPhase
from application.use_cases.notify.batch_record import RecordPhase
from application.use_cases.notify.batch_send import SendPhase
from application.use_cases.notify.planning import NotificationPlanner, recheck_caps, render
from application.use_cases.notify.recording import OutcomeRecorder
from application.use_cases.notify.results import (
    Disposition,
    Notified,
    attempt_event_key,
    event_key,
)
from application.use_cases.notify.resuming import Resume
from application.use_cases.notify.rows import new_conversation, new_template_message
from application.use_cases.notify.template_send import TemplateSend
from domain.activity import Outcome, SkipReason
from domain.errors import NotFound, TemplateMismatch, UpstreamRejected
from domain.failed_delivery import FailedDelivery
from domain.planning import Plan, Skip, verified_elsewhere

__all__ = [
    "Disposition",
    "Handled",
    "Notified",
    "NotifiedBatch",
    "NotifyFailedDelivery",
    "Planned",
    "attempt_event_key",
    "event_key",
]


class NotifyFailedDelivery:
    def __init__(
        self,
        uow: UnitOfWork,
        settings: SettingsReader,
        rules: ReasonBook,
        senders: SenderResolver,
        step: SendStep,
        activity: ActivityPublisher,
        clock: Clock,
        refs: IdGenerator,
        options: NotificationOptions,
        held: HeldSends,
    ) -> None:
        self._uow = uow
        self._held = held
        self._senders = senders
        self._clock = clock
        self._refs = refs
        self._options = options
        self._planner = NotificationPlanner(settings, rules, clock, options)
        self._recorder = OutcomeRecorder(uow, activity, clock)
        self._send = TemplateSend(step, options, self._recorder)
        self._resume = Resume(uow, senders, clock, options, self._recorder, self._send)
        self._batch = BatchNotify(
            uow,
            PlanPhase(uow, self._planner, self._recorder, senders, held),
            RecordPhase(uow, self._recorder, clock, refs, options),
            SendPhase(uow, step, clock, options),
            OutcomePhase(uow, self._recorder, options, clock),
        )

    async def many(self, fdrs: Sequence[FailedDelivery]) -> list[Handled]:
        """The events of one pull, planned and written together (``notify.batch``), each
        with the outcome it would have alone; an event's error is returned as its outcome
        (the event is to be delivered again), never raised for the batch."""
        return (await self.batch(fdrs)).results

    async def plan(self, fdrs: Sequence[FailedDelivery]) -> Planned | None:
        """The batch's plan, read ahead of ``batch`` (nothing written); None when it could not
        be read."""
        return await self._batch.plan(fdrs)

    async def batch(
        self, fdrs: Sequence[FailedDelivery], planned: Planned | None = None
    ) -> NotifiedBatch:
        """``many``, and which of the events' shipments had no conversation before the batch
        (read by the batch's plan with their conversations: no read of its own).
        ``planned``: these events' plan read ahead (``plan``), else read now."""
        results, later, unmessaged = await self._batch(fdrs, planned)
        for index in later:  # seen before, raced, or a shipment's second event: one by one
            try:
                results[index] = await self(fdrs[index])
            except Exception as exc:
                results[index] = exc
        return NotifiedBatch([results[index] for index in range(len(fdrs))], unmessaged)

    async def __call__(self, fdr: FailedDelivery, *, released: bool = False) -> Notified:
        """``released``: the scheduler sends an event held through quiet hours (held_sends)."""
        async with self._uow as uow:
            existing = await uow.conversations.get_by_attempt(fdr.shipment_id, fdr.status_log_id)
            if existing is None:
                prior = await uow.fdr_events.get(event_key(fdr))
                if prior is not None and (
                    prior.outcome is Outcome.SKIPPED
                    or (prior.outcome is Outcome.HELD and not released)
                ):
                    return Notified(
                        disposition=Disposition.ACK,
                        outcome=prior.outcome,
                        detail=prior.detail,
                        duplicate=True,
                    )
                plan = await self._planner.plan(uow, fdr)
        if existing is not None:
            return await self._resume(fdr, existing)
        if isinstance(plan, Skip):
            return await self._recorder.skip(fdr, plan.reason, plan.why, plan.detail)
        if not released and (
            held := await self._held.hold(fdr, plan.setting, plan.reason, event_key(fdr))
        ):
            return Notified(disposition=Disposition.ACK, outcome=Outcome.HELD, detail=held)
        return await self._start(fdr, plan)

    async def _start(self, fdr: FailedDelivery, plan: Plan) -> Notified:
        try:
            sender = await self._senders.for_setting(plan.setting)
        except (NotFound, UpstreamRejected) as exc:
            return await self._recorder.skip(fdr, plan.reason, SkipReason.NO_SENDER, str(exc))
        if skip := verified_elsewhere(plan.reason, plan.template, sender.waba_id):
            return await self._recorder.skip(fdr, skip.reason, skip.why, skip.detail)
        now = self._clock.now()
        async with self._uow as uow:
            # The cap checked again where the conversation is recorded (docs/cost.md): beyond
            # it nothing is written, and leaving the transaction frees the workspace's lock.
            [over_cap] = await recheck_caps(uow, [plan], now)
            if over_cap is None:
                conversation = await uow.conversations.add(
                    new_conversation(fdr, plan, sender, self._refs.new_ref(), now)
                )
                if conversation is None:  # another worker took this attempt a moment ago
                    await uow.rollback()
                    raced = await uow.conversations.get_by_attempt(
                        fdr.shipment_id, fdr.status_log_id
                    )
                else:
                    try:
                        content = render(fdr, plan.template, conversation, self._options)
                    except TemplateMismatch as exc:
                        mismatch = str(exc)
                        conversation.template_failed()
                        await uow.conversations.update(conversation)
                        content = None
                    assert conversation.id is not None
                    if content is None:
                        message = None
                    else:
                        ref = self._refs.new_ref()
                        message = await uow.messages.add(
                            new_template_message(conversation, plan, sender, content, ref, now)
                        )
                    await uow.commit()
        if over_cap is not None:
            return await self._recorder.skip(fdr, over_cap.reason, over_cap.why, over_cap.detail)
        if conversation is None:
            assert raced is not None
            return await self._resume(fdr, raced)
        if content is None or message is None:
            return await self._recorder.skip(
                fdr, plan.reason, SkipReason.TEMPLATE_MISMATCH, mismatch, conversation.id
            )
        return await self._send(fdr, conversation, message, sender, content)
