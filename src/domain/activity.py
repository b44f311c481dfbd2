"""What the workspace timeline is told: one event per outcome, status change and answer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Outcome(StrEnum):
    SENT = "sent"
    SKIPPED = "skipped"
    FAILED = "failed"
    UNKNOWN = "unknown"  # send timed out; the status webhook will tell
    HELD = "held"  # came in quiet hours: sent when they end (docs/quiet-hours.md)
    DELIVERED = "delivered"
    READ = "read"
    ANSWERED = "answered"
    ACTION_TAKEN = "action_taken"
    ACTION_FAILED = "action_failed"
    NEEDS_PERSON = "needs_person"  # the ESB refused the shopper's request: someone must call
    LINK_CLICKED = "link_clicked"
    # What became of the shipment after the conversation (docs/outcomes.md).
    SHIPMENT_DELIVERED = "shipment_delivered"
    SHIPMENT_FAILED_AGAIN = "shipment_failed_again"
    SHIPMENT_RTO = "shipment_rto"
    SHIPMENT_CANCELLED = "shipment_cancelled"
    # The shopper's choice about our messages, and the SMS fallback signal (docs/opt-out.md).
    OPTED_OUT = "opted_out"
    OPTED_IN = "opted_in"
    WHATSAPP_UNREACHABLE = "whatsapp_unreachable"


class ActivityKind(StrEnum):
    FDR = "fdr"  # what happened to a failed-delivery event (sent, skipped, failed, unknown)
    STATUS = "status"  # a tick of an outgoing message (sent, delivered, read, failed)
    ANSWER = "answer"  # the shopper answered
    ACTION = "action"  # an NDR action on the logistics side (taken or failed)
    CLICK = "click"  # the shopper opened the tracking link
    OUTCOME = "outcome"  # what the courier did next, and whether it honoured the answer
    OPT_OUT = "opt_out"  # the shopper opted out or back in (their words, Meta, the portal)
    FALLBACK = "fallback"  # WhatsApp cannot reach the shopper: another channel should try
    REMINDER = "reminder"  # the one reminder to a shopper who had not answered (sent or failed)


class SkipReason(StrEnum):
    NOT_FDR = "not_fdr"
    DISABLED = "whatsapp_disabled"
    UNKNOWN_REASON = "unknown_reason"
    BAD_PHONE = "bad_phone"
    NO_TEMPLATE = "no_template"
    TEMPLATE_MISMATCH = "template_mismatch"
    NO_SENDER = "no_sender"
    MALFORMED = "malformed"
    SUPERSEDED = "superseded"  # a newer failed attempt of the shipment was notified first
    STALE = "stale"  # the attempt failed too long ago for an answer to still help
    BUDGET = "budget"  # the workspace's monthly template cap is reached (docs/cost.md)
    OPTED_OUT = "opted_out"  # the shopper asked for no more messages (docs/opt-out.md)


# Not frozen: a status pass makes one for each status, and a frozen dataclass's ``__init__``
# costs about three times a plain one's (BENCHMARKS.md, "Stop 16: statuses"). Never changed
# once made.
@dataclass(slots=True, kw_only=True)
class ActivityEvent:
    account_id: int | None
    shipment_id: int | None
    reason: str | None
    outcome: Outcome
    kind: ActivityKind = ActivityKind.FDR
    message_id: str | None = None
    conversation_id: int | None = None
    detail: str | None = None
    error_code: int | None = None
    error_title: str | None = None
    automatic: bool = False  # an NDR action the workspace's default action took, not the shopper
    occurred_at: datetime
