"""A batch's plan (``notify.batch``, step 1): one read transaction for all its new attempts.

The settings, templates and month counts are read once per workspace (``BatchReads``); the
conversations of the batch's shipments, its outcome records, the opt-outs of its numbers and
its shoppers' languages with one read each (``IN`` lists), never one event at a time. An
attempt seen before (a conversation or an outcome recorded), or a second event of the
same shipment in the batch, goes the one-event way after the batch, so it sees what the batch
wrote. Then each plan is screened as one event's is: quiet hours, the sender, and where its
template is verified; a skip or a hold is that event's outcome.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from application.isolation import isolated
from application.ports.repositories import UnitOfWork
from application.services import SenderResolver
from application.use_cases.held_sends import HeldSends
from application.use_cases.notify.batch_event import Handled, Start
from application.use_cases.notify.planning import BatchReads, NotificationPlanner
from application.use_cases.notify.recording import OutcomeRecorder
from application.use_cases.notify.results import Disposition, Notified, event_key
from domain.activity import Outcome, SkipReason
from domain.errors import NotFound, UpstreamRejected
from domain.failed_delivery import FailedDelivery
from domain.planning import Plan, Skip, verified_elsewhere


@dataclass(frozen=True, slots=True)
class Planned:
    """A batch's plan as read (``PlanPhase.read``), nothing of it written yet.

    ``later``: the events left to the one-event way (seen before, or a shipment's second
    event); ``unmessaged``: the batch's shipments that had no conversation when it was read
    (for the intake: ``ShipmentEventIntake.many``); ``plans``: each new attempt's plan or
    skip, by its index in ``fdrs``."""

    fdrs: tuple[FailedDelivery, ...]
    later: list[int]
    unmessaged: set[int]
    plans: list[tuple[int, Plan | Skip]]


def firsts(fdrs: Sequence[FailedDelivery], later: list[int]) -> list[int]:
    """The first event of each shipment; the others wait for the one-event way."""
    shipments: set[int] = set()
    first: list[int] = []
    for index, fdr in enumerate(fdrs):
        if fdr.shipment_id in shipments:
            later.append(index)
        else:
            shipments.add(fdr.shipment_id)
            first.append(index)
    return first


class PlanPhase:
    """What to do about each new attempt of the batch, and who sends it."""

    def __init__(
        self,
        uow: UnitOfWork,
        planner: NotificationPlanner,
        recorder: OutcomeRecorder,
        senders: SenderResolver,
        held: HeldSends,
    ) -> None:
        self._uow = uow
        self._planner = planner
        self._recorder = recorder
        self._senders = senders
        self._held = held

    async def read(self, fdrs: Sequence[FailedDelivery]) -> Planned:
        """One read transaction: what to do about each new attempt. Writes nothing, so it may
        run before the batch is started (the worker plans the next pull's batch while the
        current ones wait on Meta: docs/sending.md)."""
        later: list[int] = []
        first = firsts(fdrs, later)
        reads = BatchReads()
        plans: list[tuple[int, Plan | Skip]] = []
        async with self._uow as uow:
            shipments = {fdrs[index].shipment_id for index in first}
            await reads.read_shipments(uow, shipments)
            recorded = await uow.fdr_events.recorded({event_key(fdrs[i]) for i in first})
            new: list[int] = []
            for index in first:
                fdr = fdrs[index]
                seen = (fdr.shipment_id, fdr.status_log_id) in reads.attempts
                if seen or event_key(fdr) in recorded:
                    later.append(index)  # seen before: resumed (or acknowledged) one by one
                else:
                    new.append(index)
            await reads.read_numbers(uow, (fdrs[index] for index in new))
            for index in new:
                plans.append((index, await self._planner.plan(uow, fdrs[index], reads)))
        return Planned(tuple(fdrs), later, shipments - reads.newest.keys(), plans)

    async def skip(self, planned: Planned, results: dict[int, Handled]) -> list[tuple[int, Plan]]:
        """Each planned skip recorded (that event's outcome); the plans to send."""
        ready: list[tuple[int, Plan]] = []
        for index, plan in planned.plans:
            if isinstance(plan, Skip):
                results[index] = await isolated(
                    self._recorder.skip(planned.fdrs[index], plan.reason, plan.why, plan.detail)
                )
            else:
                ready.append((index, plan))
        return ready

    async def screen(
        self, fdr: FailedDelivery, index: int, plan: Plan, results: dict[int, Handled]
    ) -> Start | None:
        """Quiet hours, the sender and where its template is verified, as one event does."""
        try:
            if held := await self._held.hold(fdr, plan.setting, plan.reason, event_key(fdr)):
                results[index] = Notified(
                    disposition=Disposition.ACK, outcome=Outcome.HELD, detail=held
                )
                return None
            try:
                sender = await self._senders.for_setting(plan.setting)
            except (NotFound, UpstreamRejected) as exc:
                results[index] = await self._recorder.skip(
                    fdr, plan.reason, SkipReason.NO_SENDER, str(exc)
                )
                return None
            if skip := verified_elsewhere(plan.reason, plan.template, sender.waba_id):
                results[index] = await self._recorder.skip(fdr, skip.reason, skip.why, skip.detail)
                return None
        except Exception as exc:
            results[index] = exc
            return None
        return Start(index, fdr, plan, sender)
