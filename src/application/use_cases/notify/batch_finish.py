"""A batch's outcomes written together (``notify.batch``, step 4): ``write_finish`` of every
send Meta answered, in a few statements for all of them instead of a few for each.

Rules: the writes are those of one event (``OutcomeRecorder.write_finish``), each still its own
compare-and-set: Meta's answer stored (a message another writer moved since is read back), then
statuses that raced ahead of it joined (one read finds the wamids that have some, after the
wamids are written: docs/sending.md, "Statuses ahead of Meta's answer"; each joined as alone),
the conversation rooted and moved, the event's one record (a key recorded already is written
over), and the follow-through of the templates sent, under the workspace's settings as
stored, read once per workspace.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from application.follow_through import follow_through_jobs
from application.ports.repositories import UnitOfWork
from application.sending import store_answers
from application.use_cases.notify.batch_event import Start
from application.use_cases.notify.finished import Finished, finished, outcome_detail
from application.use_cases.notify.results import fdr_record
from domain.activity import Outcome
from domain.conversation import Conversation, ConversationState, template_move
from domain.failed_delivery import FailedDelivery
from domain.messages import OutgoingMessage
from domain.records import FdrEventRecord
from domain.scheduling import ScheduledJob
from domain.settings import ChannelSetting


async def write_finishes(uow: UnitOfWork, starts: Sequence[Start], now: datetime) -> list[Finished]:
    """Each start's ``write_finish`` inside ``uow``'s transaction (the caller commits, then
    announces), in the order of ``starts``."""
    stored = await store_answers(uow, [_message(start) for start in starts], now)
    messages = [s.message for s in stored]
    await _settle_conversations(uow, messages, now)
    done: list[Finished] = []
    records: list[FdrEventRecord] = []
    follow: list[tuple[Conversation, FailedDelivery]] = []
    for start, answer in zip(starts, stored, strict=True):
        message = answer.message
        conversation = start.conversation
        assert conversation is not None
        outcome, detail = outcome_detail(message, start.error)
        failed = outcome is Outcome.FAILED
        records.append(
            fdr_record(
                start.fdr,
                conversation.reason,
                outcome,
                detail=detail,
                conversation_id=conversation.id,
                error_code=message.error_code if failed else None,
                now=now,
            )
        )
        if outcome in (Outcome.SENT, Outcome.UNKNOWN):  # the reminder, the default action
            follow.append((conversation, start.fdr))
        done.append(finished(start.fdr, conversation, message, outcome, detail, now, answer.early))
    for record, added in zip(records, await uow.fdr_events.add_many(records), strict=True):
        if added is None:  # recorded before (a skip, a hold): written over, as alone
            await uow.fdr_events.update(record)
    jobs = await _follow_through(uow, follow, now)
    if jobs:
        await uow.jobs.schedule_many(jobs)
    return done


def _message(start: Start) -> OutgoingMessage:
    assert start.message is not None
    return start.message


async def _settle_conversations(
    uow: UnitOfWork, messages: list[OutgoingMessage], now: datetime
) -> None:
    """``settle_conversation`` of each: rooted at its wamid, then moved as its status says."""
    roots = {m.conversation_id: m.message_id for m in messages if m.message_id is not None}
    if roots:
        await uow.conversations.set_roots(roots)
    moves: dict[tuple[ConversationState, frozenset[ConversationState]], list[int]] = {}
    for message in messages:
        if (move := template_move(message.status)) is not None:
            moves.setdefault(move, []).append(message.conversation_id)
    for (state, allowed), ids in moves.items():
        await uow.conversations.move_many(ids, state, allowed, now)


async def _follow_through(
    uow: UnitOfWork, follow: list[tuple[Conversation, FailedDelivery]], now: datetime
) -> list[ScheduledJob]:
    settings: dict[int, ChannelSetting] = {}
    jobs: list[ScheduledJob] = []
    for conversation, fdr in follow:
        account = conversation.account_id
        if account not in settings:
            stored = await uow.settings.get(account)
            settings[account] = stored or ChannelSetting.default(account)
        jobs += follow_through_jobs(conversation, settings[account], fdr.failed_at, now)
    return jobs
