"""The worker's triage of a pulled batch, before the intake (docs/outcomes.md).

Picks out the events nothing is to be done about: other kinds of shipment event, and outcome
events of shipments never messaged (most of the traffic), with one database read for the whole
batch and no write. Every other event goes to ``ShipmentEventIntake``.
"""

from __future__ import annotations

from application.ports.shipment_events import (
    DecodedEvent,
    IntakeMetrics,
    NotFailedDelivery,
    ShipmentEventDecoder,
)
from application.use_cases.record_shipment_outcome import RecordShipmentOutcome
from domain.outcomes import ShipmentEvent


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
        return (await self.sort(batch))[0]

    async def sort(self, batch: list[bytes]) -> tuple[list[bool], list[DecodedEvent]]:
        """``__call__``'s verdicts, and each event as decoded (for the intake: decoded once)."""
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
        return verdicts, decoded
