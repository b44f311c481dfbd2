"""What WhatsApp costs a workspace: Meta's pricing of each message, counted per month, and the
optional monthly cap on templates (docs/cost.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

#: Meta's pricing models: per conversation (until 2025-07-01) and per message.
CONVERSATION_BASED = "CBP"
PER_MESSAGE = "PMP"


@dataclass(frozen=True, slots=True, kw_only=True)
class Pricing:
    """A status webhook's ``pricing`` (Meta sends it on ``sent`` and one later tick)."""

    billable: bool
    model: str  # CBP or PMP
    category: str  # utility, marketing, authentication, service, ...
    type: str = ""  # PMP: regular, free_customer_service, free_entry_point
    conversation_id: str | None = None  # CBP: the conversation the message opened or joined


def is_billable(billable: bool | None, pricing_type: str | None) -> bool:
    """Meta's ``billable`` when given; it is being retired in favour of ``type``, where only
    ``regular`` is charged."""
    if billable is not None:
        return billable
    return pricing_type == "regular"


def month_start(now: datetime) -> datetime:
    """The first moment of ``now``'s calendar month, UTC: the cap's and the counts' month."""
    return now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True, slots=True, kw_only=True)
class MonthCost:
    """Billable messages (and, for CBP, conversations) of one month, model and category."""

    month: str  # 2026-11
    pricing_model: str
    category: str
    billable_messages: int
    billable_conversations: int  # CBP only; 0 for PMP, where each message is charged


def cap_reached(started_this_month: int, cap: int | None) -> bool:
    return cap is not None and started_this_month >= cap


@dataclass(frozen=True, slots=True, kw_only=True)
class BilledMessage:
    """One billable message of a workspace, with its first billable tick."""

    message_id: str
    pricing_model: str
    category: str
    conversation_id: str | None
    first_at: datetime


def monthly_costs(billed: list[BilledMessage]) -> list[MonthCost]:
    """Billable messages per month (of their first billable tick), model and category; for
    CBP also the distinct conversations they were charged in, each counted once, with its
    first message."""
    messages: dict[tuple[str, str, str], set[str]] = {}
    conversations: dict[tuple[str, str, str], set[str]] = {}
    seen: set[str] = set()
    for message in sorted(billed, key=lambda m: m.first_at):
        month = message.first_at.astimezone(UTC).strftime("%Y-%m")
        key = (month, message.pricing_model, message.category)
        messages.setdefault(key, set()).add(message.message_id)
        conversations.setdefault(key, set())
        charged = message.conversation_id
        if message.pricing_model == CONVERSATION_BASED and charged and charged not in seen:
            seen.add(charged)  # a conversation counts once, where its first message is
            conversations[key].add(charged)
    return [
        MonthCost(
            month=month,
            pricing_model=model,
            category=category,
            billable_messages=len(messages[(month, model, category)]),
            billable_conversations=len(conversations[(month, model, category)]),
        )
        for month, model, category in sorted(messages)
    ]
