"""The one way in for a shipment event, shared by the pull worker and the push endpoint: decoded,
then handed to the use case it is for (a failed delivery, an outcome, a poison event); and the
worker's triage of a pulled batch."""

from __future__ import annotations

import time
from dataclasses import dataclass

import structlog

from application.ports.shipment_events import (
    IntakeMetrics,
    Malformed,
    NotFailedDelivery,
    ShipmentEventDecoder,
)
from application.use_cases.notify_failed_delivery import Disposition, NotifyFailedDelivery
from application.use_cases.record_poison_event import RecordPoisonEvent
from application.use_cases.record_shipment_outcome import RecordShipmentOutcome
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
        if isinstance(decoded, NotFailedDelivery):
            self._metrics.unmapped(decoded)
            result = IntakeResult(Disposition.ACK, "not_fdr")
        elif isinstance(decoded, ShipmentEvent):
            # What followed a failed attempt (docs/outcomes.md); mostly shipments never messaged.
            recorded = await self._outcomes(decoded)
            result = IntakeResult(Disposition.ACK, f"outcome_{recorded.value}")
        elif isinstance(decoded, Malformed):
            await self._poison(
                message_id,
                decoded.problem,
                data,
                account_id=decoded.account_id,
                shipment_id=decoded.shipment_id,
                status_log_id=decoded.status_log_id,
            )
            result = IntakeResult(Disposition.ACK, "malformed")
        else:
            notified = await self._notify(decoded)
            outcome = "duplicate" if notified.duplicate else notified.outcome.value
            if notified.disposition is Disposition.RETRY:
                outcome = "retry"
            result = IntakeResult(notified.disposition, outcome, notified.retry_after)
            # Another failed attempt is also the outcome of the attempt notified before it.
            await self._outcomes(_as_shipment_event(decoded))
            _log.info(
                "fdr event",
                outcome=outcome,
                account_id=decoded.account_id,
                shipment_id=decoded.shipment_id,
                detail=notified.detail[:200],
            )
        self._metrics.handled(result.outcome)
        self._metrics.took(time.perf_counter() - started)
        return result


def _as_shipment_event(fdr: FailedDelivery) -> ShipmentEvent:
    return ShipmentEvent(
        account_id=fdr.account_id,
        shipment_id=fdr.shipment_id,
        status_log_id=fdr.status_log_id,
        kind=ShipmentEventKind.FAILED_ATTEMPT,
        happened_at=fdr.failed_at,
    )


class ShipmentEventTriage:
    """Picks out of a pulled batch the events nothing is to be done about: other kinds of
    shipment event, and outcome events of shipments never messaged (most of the traffic),
    with one database read for the whole batch and no write (docs/outcomes.md)."""

    def __init__(
        self,
        outcomes: RecordShipmentOutcome,
        decoder: ShipmentEventDecoder,
        metrics: IntakeMetrics,
    ) -> None:
        self._outcomes = outcomes
        self._decoder = decoder
        self._metrics = metrics

    async def __call__(self, batch: list[bytes]) -> list[bool]:
        """Per event: True when it may be acknowledged without being handled."""
        decoded = [self._decoder.decode(data) for data in batch]
        shipments = {d.shipment_id for d in decoded if isinstance(d, ShipmentEvent)}
        messaged = await self._outcomes.messaged(shipments) if shipments else set()
        verdicts: list[bool] = []
        for event in decoded:
            if isinstance(event, NotFailedDelivery):
                self._metrics.unmapped(event)
                self._metrics.handled("not_fdr")
                verdicts.append(True)
            elif isinstance(event, ShipmentEvent) and event.shipment_id not in messaged:
                self._metrics.handled("outcome_not_messaged")
                verdicts.append(True)
            else:
                verdicts.append(False)
        return verdicts
