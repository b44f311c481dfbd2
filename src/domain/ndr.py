"""Actions on the logistics side, asked of the ESB's NDR API on the shopper's behalf."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum


class NdrActionKind(StrEnum):
    RESCHEDULE = "reschedule"
    REATTEMPT = "reattempt"
    UPDATE_PHONE = "update_phone"
    CANCEL = "cancel"


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
