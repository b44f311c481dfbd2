"""Shipment events after notified attempts (``wa_shipment_events``) and each conversation's
outcome (``wa_conversation_outcomes``)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update

from application.ports.repositories import Attempt
from domain.outcomes import ShipmentEvent, ShipmentEventKind, ShipmentOutcome, Verdict
from infrastructure.db.repositories._base import SqlRepository
from infrastructure.db.tables import conversation_outcomes as o
from infrastructure.db.tables import conversations as c
from infrastructure.db.tables import shipment_events as e

_ADD_EVENT = insert(e)
_ADD_OUTCOME = insert(o)


def _verdict_values(verdict: Verdict) -> dict[str, Any]:
    return {
        "outcome": verdict.outcome.value if verdict.outcome else None,
        "outcome_status_log_id": verdict.outcome_status_log_id,
        "outcome_at": verdict.outcome_at,
        "next_event": verdict.next_event.value if verdict.next_event else None,
        "answer": verdict.answer,
        "honoured": verdict.honoured,
    }


class SqlShipmentOutcomeRepository(SqlRepository):
    async def attempts(self, shipment_id: int, *, lock: bool = False) -> list[Attempt]:
        stmt = (
            select(c.c.id, c.c.account_id, c.c.shipment_status_log_id, c.c.reason)
            .where(c.c.shipment_id == shipment_id)
            .order_by(c.c.shipment_status_log_id)
        )
        if lock:
            stmt = stmt.with_for_update()
        rows = await self._conn.execute(stmt)
        return [Attempt(r.id, r.account_id, r.shipment_status_log_id, r.reason) for r in rows]

    async def messaged(self, shipment_ids: Collection[int]) -> set[int]:
        if not shipment_ids:
            return set()
        rows = await self._conn.execute(
            select(c.c.shipment_id).where(c.c.shipment_id.in_(list(shipment_ids))).distinct()
        )
        return {r.shipment_id for r in rows}

    async def first_attempts(self, shipment_ids: Collection[int]) -> dict[int, int]:
        if not shipment_ids:
            return {}
        rows = await self._conn.execute(
            select(c.c.shipment_id, func.min(c.c.shipment_status_log_id))
            .where(c.c.shipment_id.in_(list(shipment_ids)))
            .group_by(c.c.shipment_id)
        )
        return {int(shipment): int(first) for shipment, first in rows}

    async def add_event(self, event: ShipmentEvent, received_at: datetime) -> bool:
        added = await self._execute_unique(
            _ADD_EVENT,
            {
                "account_id": event.account_id,
                "shipment_id": event.shipment_id,
                "shipment_status_log_id": event.status_log_id,
                "kind": event.kind.value,
                "happened_at": event.happened_at,
                "received_at": received_at,
            },
        )
        return added is not None

    async def events(self, shipment_id: int) -> list[ShipmentEvent]:
        rows = await self._conn.execute(
            select(e).where(e.c.shipment_id == shipment_id).order_by(e.c.shipment_status_log_id)
        )
        return [
            ShipmentEvent(
                account_id=r.account_id,
                shipment_id=r.shipment_id,
                status_log_id=r.shipment_status_log_id,
                kind=ShipmentEventKind(r.kind),
                happened_at=r.happened_at,
            )
            for r in rows
        ]

    async def verdicts(self, conversation_ids: Collection[int]) -> dict[int, Verdict]:
        if not conversation_ids:
            return {}
        rows = await self._conn.execute(
            select(o).where(o.c.conversation_id.in_(list(conversation_ids)))
        )
        return {
            r.conversation_id: Verdict(
                outcome=ShipmentOutcome(r.outcome) if r.outcome else None,
                outcome_status_log_id=r.outcome_status_log_id,
                outcome_at=r.outcome_at,
                next_event=ShipmentEventKind(r.next_event) if r.next_event else None,
                answer=r.answer,
                honoured=None if r.honoured is None else bool(r.honoured),
            )
            for r in rows
        }

    async def save(
        self, attempt: Attempt, shipment_id: int, verdict: Verdict, now: datetime
    ) -> None:
        values = _verdict_values(verdict)
        added = await self._execute_unique(
            _ADD_OUTCOME,
            {
                "conversation_id": attempt.conversation_id,
                "account_id": attempt.account_id,
                "shipment_id": shipment_id,
                **values,
                "created_at": now,
                "updated_at": now,
            },
        )
        if added is None:
            await self._conn.execute(
                update(o)
                .where(o.c.conversation_id == attempt.conversation_id)
                .values(**values, updated_at=now)
            )
