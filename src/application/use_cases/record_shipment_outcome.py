"""A shipment event after a notified failed attempt becomes its conversation's outcome.

Rules: each event is stored once by its unique key (shipment, status log id); the outcomes of the
shipment's conversations are then derived again from all its events, so that a late or
out-of-order event lands where it belongs (docs/outcomes.md). Shipments we never wrote about,
most of the traffic, cost one indexed read and no write.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from enum import StrEnum

from application.isolation import isolated
from application.ports.clock import Clock
from application.ports.collaborators import ActivityPublisher
from application.ports.repositories import UnitOfWork
from application.shipment_outcomes import OutcomeJudge
from domain.outcomes import ShipmentEvent


class Recorded(StrEnum):
    IGNORED = "not_messaged"  # no conversation before this event: nothing stored
    DUPLICATE = "duplicate"  # the event was stored already
    RECORDED = "recorded"  # stored; outcomes derived again (changed or not)


class RecordShipmentOutcome:
    def __init__(self, uow: UnitOfWork, activity: ActivityPublisher, clock: Clock) -> None:
        self._uow = uow
        self._judge = OutcomeJudge(uow, activity, clock)
        self._clock = clock

    async def messaged(self, shipment_ids: Collection[int]) -> set[int]:
        """Which of these shipments were ever written about: one read for a whole batch, so
        that the worker acknowledges the others without handling them one by one."""
        async with self._uow as uow:
            return await uow.outcomes.messaged(shipment_ids)

    async def __call__(self, event: ShipmentEvent) -> Recorded:
        async with self._uow as uow:
            # The common case (never messaged) must stay one cheap read, no lock, no write.
            known = await uow.outcomes.attempts(event.shipment_id)
        if not any(a.status_log_id < event.status_log_id for a in known):
            return Recorded.IGNORED
        return await self._record(event)

    async def many(self, events: Sequence[ShipmentEvent]) -> list[Recorded | Exception]:
        """Each event as ``__call__`` records it alone (its result, or the error that makes it
        one to deliver again), with one read for all of them to find those that follow an
        attempt of their shipment; only those are then stored, one by one under their
        shipment's lock. When that read fails, each event reads its own."""
        try:
            async with self._uow as uow:
                # per shipment: its earliest attempt's status log id
                first = await uow.outcomes.first_attempts({e.shipment_id for e in events})
        except Exception:
            return [await isolated(self(event)) for event in events]
        results: list[Recorded | Exception] = []
        for event in events:
            earliest = first.get(event.shipment_id)
            if earliest is None or earliest >= event.status_log_id:
                results.append(Recorded.IGNORED)
            else:
                results.append(await isolated(self._record(event)))
        return results

    async def _record(self, event: ShipmentEvent) -> Recorded:
        """Stores the event of a shipment with an attempt before it; its outcomes derived."""
        now = self._clock.now()
        async with self._uow as uow:
            # One shipment's outcomes are derived by one transaction at a time. The lock is
            # this transaction's first read: what it reads next includes whatever the one
            # before it committed.
            attempts = await uow.outcomes.attempts(event.shipment_id, lock=True)
            if not await uow.outcomes.add_event(event, now):
                return Recorded.DUPLICATE
            await self._judge.derive(uow, event.shipment_id, attempts, now)
        return Recorded.RECORDED
