"""Shipment events as they come in: what their decoder makes of the bytes, and what the intake
counts for operators."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from domain.failed_delivery import FailedDelivery
from domain.outcomes import ShipmentEvent


@dataclass(frozen=True, slots=True)
class NotFailedDelivery:
    """Another kind of shipment event: acknowledged and counted, nothing else."""

    resource: str
    sub_type: str
    # A shipment event whose name means no kind we know (``intransit``, or an RTO or
    # cancellation name the WMS uses that is not configured): counted by name for operators.
    unmapped: str | None = None


@dataclass(frozen=True, slots=True)
class Malformed:
    """Bytes that are not a usable event: recorded, acknowledged, never retried.

    The ids are those the event carried, when they could be read (the workspace then sees it)."""

    problem: str
    account_id: int | None = None
    shipment_id: int | None = None
    status_log_id: int | None = None


DecodedEvent = FailedDelivery | ShipmentEvent | NotFailedDelivery | Malformed


class ShipmentEventDecoder(Protocol):
    """The WMS's shipment event, read: a failed delivery, another event of a shipment (an
    outcome), another kind of event, or bytes that are not a usable event."""

    def decode(self, data: bytes) -> DecodedEvent: ...


class IntakeMetrics(Protocol):
    """What the intake counts: each event by outcome, the time it took, the names it could not
    map to an outcome (docs/outcomes.md)."""

    def handled(self, outcome: str) -> None: ...

    def took(self, seconds: float) -> None: ...

    def unmapped(self, event: NotFailedDelivery) -> None: ...
