"""What became of the notified shipments, tallied per reason, courier and answer
(docs/outcomes.md).

Rules: a conversation counts once Meta accepted its template (``notified``); without a
shipment event after its attempt it is ``pending``; an answer acted on and followed by the
courier's next event is ``judged``, and ``not_honoured`` when the courier did otherwise; a
rate is None when its whole is 0.
"""

from __future__ import annotations

from dataclasses import dataclass

from application.ports.portal import OutcomeCount
from domain.outcomes import ShipmentOutcome


@dataclass(slots=True, kw_only=True)
class OutcomeTally:
    """What became of the shipments of notified conversations sharing a key."""

    key: str  # a reason, courier or answer ("no_answer"); "all" for the total
    notified: int = 0  # conversations whose template Meta accepted
    delivered: int = 0
    rto: int = 0
    cancelled: int = 0
    failed_again: int = 0  # another failed attempt, nothing final yet
    pending: int = 0  # no shipment event after the attempt yet
    judged: int = 0  # an answer acted on, followed by the courier's next event
    not_honoured: int = 0

    def add(self, row: OutcomeCount) -> None:
        n = row.count
        self.notified += n
        if row.outcome is None:
            self.pending += n
        else:
            field_ = _TALLIED[row.outcome]
            setattr(self, field_, getattr(self, field_) + n)
        if row.honoured is not None:
            self.judged += n
            self.not_honoured += n if row.honoured is False else 0

    @property
    def delivered_rate(self) -> float | None:
        return _rate(self.delivered, self.notified)

    @property
    def rto_rate(self) -> float | None:
        return _rate(self.rto, self.notified)

    @property
    def not_honoured_rate(self) -> float | None:
        return _rate(self.not_honoured, self.judged)


_TALLIED = {
    ShipmentOutcome.DELIVERED: "delivered",
    ShipmentOutcome.RTO: "rto",
    ShipmentOutcome.CANCELLED: "cancelled",
    ShipmentOutcome.FAILED_AGAIN: "failed_again",
}


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


@dataclass(frozen=True, slots=True, kw_only=True)
class OutcomeStats:
    total: OutcomeTally
    by_reason: list[OutcomeTally]
    by_courier: list[OutcomeTally]
    by_answer: list[OutcomeTally]

    @classmethod
    def of(cls, rows: tuple[OutcomeCount, ...]) -> OutcomeStats:
        total = OutcomeTally(key="all")
        groups: dict[str, dict[str, OutcomeTally]] = {"reason": {}, "courier": {}, "answer": {}}
        for row in rows:
            total.add(row)
            keys = {"reason": row.reason.value, "courier": row.courier, "answer": row.answer}
            for group, key in keys.items():
                groups[group].setdefault(key, OutcomeTally(key=key)).add(row)

        def ordered(group: str) -> list[OutcomeTally]:
            return sorted(groups[group].values(), key=lambda t: t.key)

        return cls(
            total=total,
            by_reason=ordered("reason"),
            by_courier=ordered("courier"),
            by_answer=ordered("answer"),
        )
