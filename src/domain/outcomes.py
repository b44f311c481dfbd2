"""What became of a shipment after the shopper was written to, and whether the courier did what
the shopper chose (rules: docs/outcomes.md)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from domain.ndr import NdrAction, NdrActionKind, NdrActionState

#: The WMS writes India time; a "date" of an attempt is its date there.
IST = timedelta(hours=5, minutes=30)


class ShipmentEventKind(StrEnum):
    """The shipment events that follow a failed attempt and say what the courier did."""

    DELIVERED = "delivered"
    FAILED_ATTEMPT = "failed_delivery"
    RTO_INITIATED = "rto_initiated"
    RTO_DELIVERED = "rto_delivered"
    CANCELLED = "cancelled"

    @classmethod
    def named(cls, name: str) -> ShipmentEventKind | None:
        """The kind the WMS's ``eventSubType`` (or ``status``) names, by the shipped names;
        None for every other one."""
        return SHIPPED_NAMES.kind_of(name)


def event_name(name: str) -> str:
    """A WMS event name as the names are compared: lower case, ``-`` and spaces read as ``_``."""
    return name.strip().lower().replace("-", "_").replace(" ", "_")


@dataclass(frozen=True, slots=True)
class EventNames:
    """Which WMS event names mean which kind. Only ``delivered`` and ``failed_delivery`` are
    known from the WMS; the RTO and cancellation names shipped are guesses, so a deployment
    adds the real ones (``WA_OUTCOME_EVENT_NAMES``, docs/outcomes.md)."""

    names: Mapping[str, ShipmentEventKind]

    def kind_of(self, name: str) -> ShipmentEventKind | None:
        return self.names.get(event_name(name))

    def with_extra(self, extra: Mapping[str, ShipmentEventKind]) -> EventNames:
        """These names added (or meaning another kind than the shipped ones say)."""
        return EventNames({**self.names, **{event_name(k): v for k, v in extra.items()}})


_NAMES: dict[str, ShipmentEventKind] = {
    "delivered": ShipmentEventKind.DELIVERED,
    "failed_delivery": ShipmentEventKind.FAILED_ATTEMPT,
    "rto": ShipmentEventKind.RTO_INITIATED,
    "rto_initiated": ShipmentEventKind.RTO_INITIATED,
    "rto_created": ShipmentEventKind.RTO_INITIATED,
    "rto_in_transit": ShipmentEventKind.RTO_INITIATED,
    "rto_intransit": ShipmentEventKind.RTO_INITIATED,
    "rto_delivered": ShipmentEventKind.RTO_DELIVERED,
    "rto_received": ShipmentEventKind.RTO_DELIVERED,
    "returned": ShipmentEventKind.RTO_DELIVERED,
    "cancelled": ShipmentEventKind.CANCELLED,
    "canceled": ShipmentEventKind.CANCELLED,
}
SHIPPED_NAMES = EventNames(_NAMES)


class ShipmentOutcome(StrEnum):
    DELIVERED = "delivered"
    RTO = "rto"  # return to origin, initiated or done
    CANCELLED = "cancelled"
    FAILED_AGAIN = "failed_again"  # another failed attempt, nothing final yet


_FINAL = {
    ShipmentEventKind.DELIVERED: ShipmentOutcome.DELIVERED,
    ShipmentEventKind.RTO_INITIATED: ShipmentOutcome.RTO,
    ShipmentEventKind.RTO_DELIVERED: ShipmentOutcome.RTO,
    ShipmentEventKind.CANCELLED: ShipmentOutcome.CANCELLED,
}

#: What a conversation without an NDR action answered.
NO_ANSWER = "no_answer"


@dataclass(frozen=True, slots=True, kw_only=True)
class ShipmentEvent:
    """One shipment event of a kind above; ``status_log_id`` orders a shipment's events."""

    account_id: int | None = None
    shipment_id: int
    status_log_id: int
    kind: ShipmentEventKind
    happened_at: datetime | None = None  # UTC; None when the event did not say


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    """A conversation's outcome: what the shopper chose, what the courier did next, and what
    became of the shipment. ``honoured`` is None when there is nothing to judge (no answer,
    an action the ESB did not take, or nothing happened after the answer yet)."""

    outcome: ShipmentOutcome | None
    outcome_status_log_id: int | None
    outcome_at: datetime | None
    next_event: ShipmentEventKind | None
    answer: str  # an NdrActionKind value or NO_ANSWER
    honoured: bool | None

    @property
    def summary(self) -> tuple[object, ...]:
        """What the timeline is told: which event decided it does not belong."""
        return (self.outcome, self.next_event, self.answer, self.honoured)


def window(
    status_log_id: int, next_attempt: int | None, events: Sequence[ShipmentEvent]
) -> list[ShipmentEvent]:
    """The events of one conversation, in order: after its failed attempt, up to and including
    the next attempt that has a conversation of its own."""
    return sorted(
        (
            e
            for e in events
            if e.status_log_id > status_log_id
            and (next_attempt is None or e.status_log_id <= next_attempt)
        ),
        key=lambda e: e.status_log_id,
    )


def judge(events: Sequence[ShipmentEvent], actions: Sequence[NdrAction]) -> Verdict:
    """``events``: the conversation's window, in order; ``actions``: its NDR actions."""
    final = next((e for e in events if e.kind in _FINAL), None)
    if final is not None:
        outcome: ShipmentOutcome | None = _FINAL[final.kind]
        decisive: ShipmentEvent | None = final
    elif events:
        outcome, decisive = ShipmentOutcome.FAILED_AGAIN, events[0]
    else:
        outcome, decisive = None, None
    choice = max(actions, key=lambda a: (a.created_at, a.id or 0), default=None)
    return Verdict(
        outcome=outcome,
        outcome_status_log_id=decisive.status_log_id if decisive else None,
        outcome_at=decisive.happened_at if decisive else None,
        next_event=events[0].kind if events else None,
        answer=choice.kind.value if choice else NO_ANSWER,
        honoured=_honoured(choice, events) if choice else None,
    )


def _honoured(choice: NdrAction, events: Sequence[ShipmentEvent]) -> bool | None:
    if choice.state is not NdrActionState.DONE:
        return None  # the courier was never asked
    # What the courier did after being asked; an event without a time counts as after. The
    # WMS writes whole seconds, so an event in the same second as the answer counts as after.
    asked = choice.created_at.replace(microsecond=0)
    after = [e for e in events if e.happened_at is None or e.happened_at >= asked]
    if not after:
        return None
    first = after[0]
    if choice.kind is NdrActionKind.CANCEL:
        return first.kind in (
            ShipmentEventKind.RTO_INITIATED,
            ShipmentEventKind.RTO_DELIVERED,
            ShipmentEventKind.CANCELLED,
        )
    if first.kind is ShipmentEventKind.DELIVERED:
        return True
    if first.kind is not ShipmentEventKind.FAILED_ATTEMPT:
        return False  # returned or cancelled: the attempt the shopper asked for never came
    if choice.kind is NdrActionKind.RESCHEDULE and choice.delivery_date is not None:
        return not _before(first.happened_at, choice.delivery_date)
    return True


def _before(moment: datetime | None, day: date) -> bool:
    return moment is not None and (moment + IST).date() < day
