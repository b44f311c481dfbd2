"""What follows a first template when the shopper stays silent (docs/scheduler.md): one
reminder after the workspace's delay, and the workspace's default action at the cut-off
before the courier's next attempt. Scheduled with the send's outcome, cancelled by an answer.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

import structlog

from application.ports.repositories import UnitOfWork
from domain.conversation import Conversation, ConversationState
from domain.scheduling import (
    DEFAULT_ACTION,
    REMINDER,
    ScheduledJob,
    assumed_next_attempt,
    conversation_key,
    default_action_due,
    reminder_due,
)
from domain.settings import ChannelSetting

_log = structlog.get_logger("follow_through")

#: The payload key of the courier's next attempt (ISO 8601): nothing is sent after it.
NEXT_ATTEMPT = "next_attempt_at"


async def schedule_follow_through(
    uow: UnitOfWork, conversation: Conversation, failed_at: datetime | None, now: datetime
) -> None:
    """Schedules the conversation's reminder and default action, inside ``uow``'s
    transaction (the one that records the first template's outcome); a second call keeps the
    jobs of the first (their keys are the conversation's)."""
    assert conversation.id is not None
    setting = await uow.settings.get(conversation.account_id) or ChannelSetting.default(
        conversation.account_id
    )
    for job in follow_through_jobs(conversation, setting, failed_at, now):
        await uow.jobs.schedule(job)


def follow_through_jobs(
    conversation: Conversation, setting: ChannelSetting, failed_at: datetime | None, now: datetime
) -> list[ScheduledJob]:
    """The jobs ``schedule_follow_through`` stores, under the workspace's ``setting`` as
    stored (a batch reads it once per workspace in its outcome transaction)."""
    jobs: list[ScheduledJob] = []
    next_attempt = assumed_next_attempt(failed_at or now)
    payload = {NEXT_ATTEMPT: next_attempt.isoformat()}
    delay = timedelta(minutes=setting.reminder_delay_minutes)
    if (due := reminder_due(now, delay, next_attempt)) is not None:
        jobs.append(_job(REMINDER, conversation, due, payload, now))
    if conversation.reason in setting.default_actions:
        cutoff = timedelta(minutes=setting.default_action_cutoff_minutes)
        if (due := default_action_due(now, cutoff, next_attempt)) is not None:
            jobs.append(_job(DEFAULT_ACTION, conversation, due, payload, now))
    return jobs


async def cancel_follow_through(uow: UnitOfWork, conversation_id: int, now: datetime) -> None:
    """The shopper wrote: no reminder, no default action (inside ``uow``'s transaction). A
    job claimed at this very moment finds the answer when it looks (``silent_conversation``)."""
    await cancel_follow_through_of(uow, [conversation_id], now)


async def cancel_follow_through_of(
    uow: UnitOfWork, conversation_ids: Collection[int], now: datetime
) -> None:
    """``cancel_follow_through`` of each conversation, in one statement."""
    keys = [conversation_key(i) for i in conversation_ids]
    await uow.jobs.cancel_all_many((REMINDER, DEFAULT_ACTION), keys, now)


async def silent_conversation(
    uow: UnitOfWork, job: ScheduledJob, now: datetime
) -> Conversation | None:
    """The job's conversation while its work is still wanted, inside ``uow``'s transaction;
    else None, and why is logged. Rules: the template went out (the conversation is open),
    the shopper has not written, no newer failed attempt took over, the courier's next
    attempt is ahead."""
    conversation = None
    if job.conversation_id is not None:
        conversation = await uow.conversations.get(job.conversation_id)
    why = await _why_not(uow, job, conversation, now)
    if why or conversation is None:
        _log.info("follow-through not wanted", kind=job.kind, key=job.key, why=why)
        return None
    return conversation


async def _why_not(
    uow: UnitOfWork, job: ScheduledJob, conversation: Conversation | None, now: datetime
) -> str:
    if conversation is None or conversation.id is None:
        return "no conversation" if job.conversation_id is None else "conversation gone"
    if conversation.last_customer_message_at is not None:
        return "the shopper answered"
    if conversation.state is not ConversationState.OPEN:
        return f"the conversation is {conversation.state.value}"
    newest = await uow.conversations.latest_for_shipment(conversation.shipment_id)
    if newest is not None and newest.status_log_id > conversation.status_log_id:
        return "a newer failed attempt of the shipment was notified"
    raw = job.payload.get(NEXT_ATTEMPT)
    if isinstance(raw, str) and now >= datetime.fromisoformat(raw):
        return "the courier's next attempt has passed"
    return ""


def _job(
    kind: str, conversation: Conversation, due: datetime, payload: dict[str, str], now: datetime
) -> ScheduledJob:
    assert conversation.id is not None
    return ScheduledJob(
        kind=kind,
        key=conversation_key(conversation.id),
        account_id=conversation.account_id,
        conversation_id=conversation.id,
        due_at=due,
        payload=dict(payload),
        created_at=now,
    )
