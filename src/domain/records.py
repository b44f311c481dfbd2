"""Records kept for operations: every FDR event's outcome, every webhook body, every link click."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from domain.activity import Outcome


@dataclass(frozen=True, slots=True, kw_only=True)
class FdrEventRecord:
    """The outcome of one shipment event; ``event_key`` makes a second delivery a no-op."""

    id: int | None = None
    event_key: str
    account_id: int | None = None
    shipment_id: int | None = None
    status_log_id: int | None = None
    reason: str | None = None
    outcome: Outcome
    detail: str = ""
    conversation_id: int | None = None
    error_code: int | None = None
    received_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookDelivery:
    """A signed webhook body as Meta sent it, stored before we answer 200."""

    id: int | None = None
    connection_id: int | None  # None: the default (Eshopbox) connection
    body: bytes
    received_at: datetime
    processed_at: datetime | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkClick:
    id: int | None = None
    shipment_id: int
    conversation_id: int | None = None
    source: str = "whatsapp"
    user_agent: str = ""
    clicked_at: datetime
