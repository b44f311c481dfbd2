"""The one way in for a shipment event, shared by the pull worker and the push endpoint: decoded,
then handed to the use case it is for (a failed delivery, an outcome, a poison event). The
worker's triage of a pulled batch, before it, is ``intake_triage``."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from application.isolation import isolated
from application.ports.shipment_events import (
    DecodedEvent,
    IntakeMetrics,
    Malformed,
    NotFailedDelivery,
    ShipmentEventDecoder,
)
from application.use_cases.notify_failed_delivery import (
    Disposition,
    Notified,
    NotifyFailedDelivery,
    Planned,
)
from application.use_cases.record_poison_event import RecordPoisonEvent
from application.use_cases.record_shipment_outcome import Recorded, RecordShipmentOutcome
from domain.failed_delivery import FailedDelivery
from domain.outcomes import ShipmentEvent, ShipmentEventKind

_log = structlog.get_logger("intake")


@dataclass(frozen=True, slots=True)
class IntakeResult:
    disposition: Disposition
    outcome: str
    retry_after: int | None = None


class ShipmentEventIntake:
    def __init__(
        self,
        notify: NotifyFailedDelivery,
        poison: RecordPoisonEvent,
        outcomes: RecordShipmentOutcome,
        decoder: ShipmentEventDecoder,
        metrics: IntakeMetrics,
    ) -> None:
        self._notify = notify
        self._poison = poison
        self._outcomes = outcomes
        self._decoder = decoder
        self._metrics = metrics

    async def __call__(self, data: bytes, message_id: str) -> IntakeResult:
        started = time.perf_counter()
        decoded = self._decoder.decode(data)
        if isinstance(decoded, FailedDelivery):
            result = await self._notified(decoded, await self._notify(decoded))
        else:
            result = await self._other(decoded, data, message_id)
        self._metrics.handled(result.outcome)
        self._metrics.took(time.perf_counter() - started)
        return result

    async def plan(self, decoded: Sequence[DecodedEvent]) -> Planned | None:
        """The plan of the failed deliveries among these events, read ahead of ``many``
        (``NotifyFailedDelivery.plan``: nothing written); None when there are none or it
        could not be read."""
        fdrs = [event for event in decoded if isinstance(event, FailedDelivery)]
        return await self._notify.plan(fdrs) if fdrs else None

    async def many(
        self,
        events: Sequence[tuple[bytes, str]],
        decoded: Sequence[DecodedEvent] | None = None,
        planned: Planned | None = None,
    ) -> list[IntakeResult | Exception]:
        """The events of one pull (data, message id): the failed deliveries together
        (``NotifyFailedDelivery.many``), the others one by one. Per event, its result or the
        error that makes it one to deliver again (one event's error is never the batch's).
        ``decoded``: the events as the triage decoded them, not decoded again; ``planned``:
        their failed deliveries' plan read ahead (``plan``), else read now."""
        started = time.perf_counter()
        if decoded is None:
            decoded = [self._decoder.decode(data) for data, _ in events]
        results: list[IntakeResult | Exception] = []
        fdrs: list[tuple[int, FailedDelivery]] = []
        for index, ((data, message_id), event) in enumerate(zip(events, decoded, strict=True)):
            results.append(_NOT_YET)
            if isinstance(event, FailedDelivery):
                fdrs.append((index, event))
            else:
                results[index] = await isolated(self._other(event, data, message_id))
        if fdrs:
            try:
                batch = await self._notify.batch([fdr for _, fdr in fdrs], planned)
                notified, unmessaged = batch.results, batch.unmessaged
            except Exception as exc:
                notified, unmessaged = [exc] * len(fdrs), set()
            firsts = _first_attempts([fdr for _, fdr in fdrs], unmessaged)
            # Another failed attempt is also the outcome of the attempt notified before it:
            # recorded for the batch's such events together (``RecordShipmentOutcome.many``).
            later = [
                (index, fdr)
                for (index, fdr), outcome in zip(fdrs, notified, strict=True)
                if not isinstance(outcome, Exception) and fdr.shipment_id not in firsts
            ]
            earlier = await self._earlier_outcomes([fdr for _, fdr in later])
            failed = {
                index: problem
                for (index, _), problem in zip(later, earlier, strict=True)
                if isinstance(problem, Exception)
            }
            for (index, fdr), outcome in zip(fdrs, notified, strict=True):
                if isinstance(outcome, Exception):
                    results[index] = outcome
                elif (problem := failed.get(index)) is not None:
                    results[index] = problem
                else:
                    results[index] = self._told(fdr, outcome)
        seconds = time.perf_counter() - started
        for result in results:
            if isinstance(result, IntakeResult):
                self._metrics.handled(result.outcome)
                self._metrics.took(seconds)
        return results

    async def _other(
        self, decoded: NotFailedDelivery | ShipmentEvent | Malformed, data: bytes, message_id: str
    ) -> IntakeResult:
        if isinstance(decoded, NotFailedDelivery):
            self._metrics.unmapped(decoded)
            return IntakeResult(Disposition.ACK, "not_fdr")
        if isinstance(decoded, ShipmentEvent):
            # What followed a failed attempt (docs/outcomes.md); mostly shipments never messaged.
            recorded = await self._outcomes(decoded)
            return IntakeResult(Disposition.ACK, f"outcome_{recorded.value}")
        await self._poison(
            message_id,
            decoded.problem,
            data,
            account_id=decoded.account_id,
            shipment_id=decoded.shipment_id,
            status_log_id=decoded.status_log_id,
        )
        return IntakeResult(Disposition.ACK, "malformed")

    async def _earlier_outcomes(self, fdrs: list[FailedDelivery]) -> list[Recorded | Exception]:
        """Each failed attempt recorded as the outcome of the attempt before it, if any."""
        if not fdrs:
            return []
        # ``many`` returns each event's error, never raises (RecordShipmentOutcome.many).
        return await self._outcomes.many([_as_shipment_event(fdr) for fdr in fdrs])

    async def _notified(self, fdr: FailedDelivery, notified: Notified) -> IntakeResult:
        # Another failed attempt is also the outcome of the attempt notified before it.
        await self._outcomes(_as_shipment_event(fdr))
        return self._told(fdr, notified)

    def _told(self, fdr: FailedDelivery, notified: Notified) -> IntakeResult:
        """The event's result, logged."""
        outcome = "duplicate" if notified.duplicate else notified.outcome.value
        if notified.disposition is Disposition.RETRY:
            outcome = "retry"
        result = IntakeResult(notified.disposition, outcome, notified.retry_after)
        _log.info(
            "fdr event",
            outcome=outcome,
            account_id=fdr.account_id,
            shipment_id=fdr.shipment_id,
            detail=notified.detail[:200],
        )
        return result


def _first_attempts(fdrs: list[FailedDelivery], unmessaged: set[int]) -> set[int]:
    """The shipments of the batch never messaged before it, with one event in it: no attempt
    notified before theirs, so their events are no attempt's outcome. Never messaged is what
    the batch's plan read with their conversations (``NotifiedBatch.unmessaged``: no read of
    its own; none known when the plan failed, and each event then reads its own)."""
    once = Counter(fdr.shipment_id for fdr in fdrs)
    return {shipment for shipment, count in once.items() if count == 1} & unmessaged


#: A place in ``ShipmentEventIntake.many``'s results, filled before they are returned.
_NOT_YET = IntakeResult(Disposition.RETRY, "not_handled")


def _as_shipment_event(fdr: FailedDelivery) -> ShipmentEvent:
    return ShipmentEvent(
        account_id=fdr.account_id,
        shipment_id=fdr.shipment_id,
        status_log_id=fdr.status_log_id,
        kind=ShipmentEventKind.FAILED_ATTEMPT,
        happened_at=fdr.failed_at,
    )
