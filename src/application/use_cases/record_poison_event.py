"""An event that can never be handled is recorded once and then let go (never redelivered).

Rules: one record per Pub/Sub message (``uq_fdr_event_key``), ``skipped`` with the skip reason
``malformed``; the ids it carried, when readable, put it in the workspace's numbers; only a
preview of the body is kept.
"""

from __future__ import annotations

import hashlib

import structlog

from application.ports.clock import Clock
from application.ports.repositories import UnitOfWork
from domain.activity import Outcome, SkipReason
from domain.records import MAX_EVENT_KEY_LENGTH, FdrEventRecord

_log = structlog.get_logger("fdr")
_PREFIX = "pubsub:"


def poison_event_key(message_id: str) -> str:
    """``pubsub:<message id>``; an id that would not fit the key (or is not plain ASCII, as
    Pub/Sub's are) is replaced by its SHA-256, so a redelivery still finds the same record."""
    if (
        message_id.isascii()
        and message_id.isprintable()
        and len(_PREFIX) + len(message_id) <= MAX_EVENT_KEY_LENGTH
    ):
        return _PREFIX + message_id
    return f"{_PREFIX}sha256:{hashlib.sha256(message_id.encode('utf-8', 'replace')).hexdigest()}"


class RecordPoisonEvent:
    def __init__(self, uow: UnitOfWork, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def __call__(
        self,
        message_id: str,
        problem: str,
        data: bytes,
        *,
        account_id: int | None = None,
        shipment_id: int | None = None,
        status_log_id: int | None = None,
    ) -> None:
        """``account_id`` and the other ids, when the event carried readable ones, put the
        record in the workspace's numbers (skipped, malformed)."""
        preview = data[:200].decode("utf-8", errors="replace")
        _log.error(
            "poison event recorded and dropped",
            message_id=message_id[:128],
            account_id=account_id,
            shipment_id=shipment_id,
            problem=problem,
        )
        async with self._uow as uow:
            await uow.fdr_events.add(
                FdrEventRecord(
                    event_key=poison_event_key(message_id),
                    account_id=account_id,
                    shipment_id=shipment_id,
                    status_log_id=status_log_id,
                    outcome=Outcome.SKIPPED,
                    detail=f"{SkipReason.MALFORMED.value}: {problem} | {preview}"[:2000],
                    skip_reason=SkipReason.MALFORMED.value,
                    received_at=self._clock.now(),
                )
            )
            await uow.commit()
