"""An event that can never be handled is recorded once and then let go (never redelivered)."""

from __future__ import annotations

import structlog

from application.ports.clock import Clock
from application.ports.repositories import UnitOfWork
from domain.activity import Outcome, SkipReason
from domain.records import FdrEventRecord

_log = structlog.get_logger("fdr")


class RecordPoisonEvent:
    def __init__(self, uow: UnitOfWork, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def __call__(self, message_id: str, problem: str, data: bytes) -> None:
        preview = data[:200].decode("utf-8", errors="replace")
        _log.error("poison event recorded and dropped", message_id=message_id, problem=problem)
        async with self._uow as uow:
            await uow.fdr_events.add(
                FdrEventRecord(
                    event_key=f"pubsub:{message_id}",
                    outcome=Outcome.SKIPPED,
                    detail=f"{SkipReason.MALFORMED.value}: {problem} | {preview}"[:2000],
                    received_at=self._clock.now(),
                )
            )
            await uow.commit()
