"""Actions on the logistics side, asked of the ESB's NDR API on the shopper's behalf."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from domain.activity import Outcome


class NdrActionKind(StrEnum):
    RESCHEDULE = "reschedule"
    REATTEMPT = "reattempt"
    UPDATE_PHONE = "update_phone"
    CANCEL = "cancel"
    UPDATE_ADDRESS = "update_address"  # given on the tracking page (the portal's stand-in)


class NdrActionState(StrEnum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


@dataclass(slots=True, kw_only=True)
class NdrAction:
    """One action per conversation and kind: a second tap on the same button finds it done."""

    id: int | None = None
    conversation_id: int
    account_id: int
    shipment_id: int
    external_shipment_id: str = ""
    kind: NdrActionKind
    reply_message_id: str  # the answer that asked for it
    delivery_date: date | None = None
    phone: str | None = None
    # The new delivery address of ``update_address`` (at most 500 characters), kept with the
    # action and sent to the ESB from the record. Never in a log line: not in the repr.
    address: str | None = field(default=None, repr=False)
    disputed_fake_attempt: bool = False
    state: NdrActionState = NdrActionState.PENDING
    attempts: int = 0
    result: str = ""
    automatic: bool = False  # the workspace's default action for a silent shopper
    created_at: datetime
    updated_at: datetime

    @property
    def key(self) -> str:
        return self.kind.value

    def to_do_for(self, reply_id: str) -> bool:
        """Whether the answer ``reply_id`` carries it out: the answer that asked for it, while
        nothing is settled (a second tap finds it asked for, done or refused)."""
        return self.reply_message_id == reply_id and self.state is NdrActionState.PENDING

    def done(self, reference: str, now: datetime) -> None:
        self.state = NdrActionState.DONE
        self.result = reference
        self.updated_at = now

    def refused(self, why: str, now: datetime) -> None:
        """The ESB refused it for good: someone of the workspace must get in touch."""
        self.state = NdrActionState.FAILED
        self.result = why[:2000]
        self.updated_at = now

    @property
    def outcome(self) -> Outcome:
        return Outcome.ACTION_TAKEN if self.state is NdrActionState.DONE else Outcome.ACTION_FAILED
