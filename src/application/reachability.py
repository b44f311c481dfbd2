"""The SMS fallback signal: ``whatsapp_unreachable`` once per conversation (docs/opt-out.md).

The signal is recorded under its key before it is published, so a status webhook delivered
twice, a send error and its status, or a redelivered event publish it once. Publishing is
best effort like every activity event (docs/adr/0007-best-effort-activity.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from application.ports.collaborators import ActivityPublisher
from application.ports.repositories import UnitOfWork, UnreachableSignal
from domain.activity import ActivityEvent, ActivityKind, Outcome, SkipReason
from domain.conversation import Conversation
from domain.failed_delivery import FailedDelivery
from domain.messages import OutgoingMessage
from domain.reachability import Unreachable, signal_key, unreachable_by
from domain.status import MessageStatus


@dataclass(frozen=True, slots=True, kw_only=True)
class Unreached:
    """Who could not be reached, and why."""

    why: Unreachable
    account_id: int | None
    shipment_id: int | None
    reason: str | None
    conversation_id: int | None = None
    status_log_id: int | None = None  # keys the signal when there is no conversation
    error_code: int | None = None
    error_title: str | None = None

    @classmethod
    def in_conversation(
        cls,
        conversation: Conversation,
        why: Unreachable,
        error_code: int | None = None,
        error_title: str | None = None,
    ) -> Unreached:
        return cls(
            why=why,
            account_id=conversation.account_id,
            shipment_id=conversation.shipment_id,
            reason=conversation.reason.value,
            conversation_id=conversation.id,
            error_code=error_code,
            error_title=error_title,
        )


async def record_signal(
    uow: UnitOfWork, unreached: Unreached, now: datetime
) -> ActivityEvent | None:
    """Records the signal inside ``uow``'s transaction; the event to publish after the
    commit, or None when it was signalled before."""
    key = signal_key(
        conversation_id=unreached.conversation_id,
        shipment_id=unreached.shipment_id,
        status_log_id=unreached.status_log_id,
    )
    new = await uow.opt_outs.add_signal(
        UnreachableSignal(
            key=key,
            account_id=unreached.account_id,
            shipment_id=unreached.shipment_id,
            conversation_id=unreached.conversation_id,
            why=unreached.why.value,
            error_code=unreached.error_code,
            created_at=now,
        )
    )
    if not new:
        return None
    return ActivityEvent(
        account_id=unreached.account_id,
        shipment_id=unreached.shipment_id,
        reason=unreached.reason,
        outcome=Outcome.WHATSAPP_UNREACHABLE,
        kind=ActivityKind.FALLBACK,
        conversation_id=unreached.conversation_id,
        detail=unreached.why.value,
        error_code=unreached.error_code,
        error_title=unreached.error_title,
        occurred_at=now,
    )


async def signal_unreachable(
    uow: UnitOfWork, activity: ActivityPublisher, unreached: Unreached, now: datetime
) -> None:
    """Records (in a transaction of its own) and publishes the signal, once."""
    event = await store_signal(uow, unreached, now)
    if event is not None:
        await activity.publish(event)


async def store_signal(
    uow: UnitOfWork, unreached: Unreached, now: datetime
) -> ActivityEvent | None:
    """Records the signal in a transaction of its own; the event to publish, or None when it
    was signalled before."""
    async with uow:
        event = await record_signal(uow, unreached, now)
        await uow.commit()
    return event


#: Skips that mean WhatsApp cannot reach the shopper for this event.
_SKIPS = {
    SkipReason.OPTED_OUT: Unreachable.OPTED_OUT,
    SkipReason.BAD_PHONE: Unreachable.INVALID_NUMBER,
}


async def signal_skip(
    uow: UnitOfWork,
    fdr: FailedDelivery,
    reason: str | None,
    why: SkipReason,
    conversation_id: int | None,
    now: datetime,
) -> ActivityEvent | None:
    """The signal of a skipped event (inside ``uow``'s transaction), when the skip means the
    shopper is out of WhatsApp's reach: opted out, or a number that is none."""
    unreachable = _SKIPS.get(why)
    if unreachable is None:
        return None
    unreached = Unreached(
        why=unreachable,
        account_id=fdr.account_id,
        shipment_id=fdr.shipment_id,
        reason=reason,
        conversation_id=conversation_id,
        status_log_id=fdr.status_log_id,
    )
    return await record_signal(uow, unreached, now)


async def signal_failed_send(
    uow: UnitOfWork,
    activity: ActivityPublisher,
    conversation: Conversation,
    message: OutgoingMessage,
    now: datetime,
) -> None:
    """A send Meta refused because the number cannot get it (131026 and the like)."""
    unreached = unreached_by_send(conversation, message)
    if unreached is not None:
        await signal_unreachable(uow, activity, unreached, now)


def unreached_by_send(conversation: Conversation, message: OutgoingMessage) -> Unreached | None:
    """Who ``message``'s send found out of reach, if Meta refused it for such a cause."""
    if message.status is not MessageStatus.FAILED:
        return None
    unreachable = unreachable_by(message.error_code)
    if unreachable is None:
        return None
    return Unreached.in_conversation(
        conversation, unreachable, message.error_code, message.error_title
    )


async def signal_failed_sends(
    uow: UnitOfWork,
    activity: ActivityPublisher,
    conversations: Mapping[int, Conversation],
    failed: Sequence[OutgoingMessage],
    now: datetime,
) -> None:
    """The status webhook's failures, each conversation signalled at most once."""
    for message in failed:
        conversation = conversations.get(message.conversation_id)
        if conversation is not None:
            await signal_failed_send(uow, activity, conversation, message, now)
