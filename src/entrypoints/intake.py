"""The one way into the FDR use case, shared by the pull worker and the push endpoint."""

from __future__ import annotations

import time
from dataclasses import dataclass

import structlog

from application.use_cases.notify_failed_delivery import Disposition, NotifyFailedDelivery
from application.use_cases.record_poison_event import RecordPoisonEvent
from infrastructure.events.shipment_event import Malformed, NotFailedDelivery, decode_shipment_event
from infrastructure.metrics import FDR_EVENT_SECONDS, FDR_EVENTS

_log = structlog.get_logger("intake")


@dataclass(frozen=True, slots=True)
class IntakeResult:
    disposition: Disposition
    outcome: str
    retry_after: int | None = None


class ShipmentEventIntake:
    def __init__(self, notify: NotifyFailedDelivery, poison: RecordPoisonEvent) -> None:
        self._notify = notify
        self._poison = poison

    async def __call__(self, data: bytes, message_id: str) -> IntakeResult:
        started = time.perf_counter()
        decoded = decode_shipment_event(data)
        if isinstance(decoded, NotFailedDelivery):
            result = IntakeResult(Disposition.ACK, "not_fdr")
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
            _log.info(
                "fdr event",
                outcome=outcome,
                account_id=decoded.account_id,
                shipment_id=decoded.shipment_id,
                detail=notified.detail[:200],
            )
        FDR_EVENTS.labels(result.outcome).inc()
        FDR_EVENT_SECONDS.observe(time.perf_counter() - started)
        return result
