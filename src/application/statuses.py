"""Meta's statuses applied to their messages: the writes of a status pass
(``RecordDeliveryReports``), of its second look at statuses it stored before their
message was known (``join_stored``), and of the workers' sweep of what that look missed
(``sweep_unlinked``); the timeline's events of statuses (``status_events``).

Rules: a status moves its message only forward (a compare-and-set per message); the reminder
never moves its conversation; each status that moved a message is told to the timeline, and a
failure for a number without WhatsApp signals ``whatsapp_unreachable``, after the commit.

A status naming only the wamid (no callback data) is stored unlinked when no message has that
wamid yet; the worker links it when it stores Meta's answer. The two transactions may miss each
other, so the worker writes the wamid before it looks for such statuses, and the pass looks for
the message again after its commit with a locking read, which waits for a worker's transaction
that has written the wamid: one of the two always sees the other's rows. That look is best
effort; the sweep links, later, what it left when it failed (docs/sending.md, "Statuses ahead
of Meta's answer").
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import structlog

from application.ports.collaborators import ActivityPublisher
from application.ports.repositories import UnitOfWork
from application.reachability import signal_failed_sends
from application.sending import Stored, settle_conversation
from application.timeline import Timeline
from domain.activity import ActivityEvent, ActivityKind, Outcome
from domain.conversation import Conversation
from domain.errors import UpstreamUnavailable
from domain.messages import DeliveryReport, MessageKind, OutgoingMessage, in_meta_order
from domain.status import MessageStatus

_log = structlog.get_logger("statuses")

_OUTCOME = {
    MessageStatus.SENT: Outcome.SENT,
    MessageStatus.DELIVERED: Outcome.DELIVERED,
    MessageStatus.READ: Outcome.READ,
    MessageStatus.FAILED: Outcome.FAILED,
}


@dataclass(frozen=True, slots=True)
class Moves:
    """What a transaction of statuses wrote, to be told after its commit."""

    moved: list[DeliveryReport]  # the statuses that moved their message, in Meta's order
    changed: dict[str, OutgoingMessage]  # by wamid: the messages written
    conversations: Mapping[int, Conversation]


async def apply_statuses(
    uow: UnitOfWork,
    reports: Sequence[DeliveryReport],
    known: Mapping[str, OutgoingMessage],
    changed: dict[str, OutgoingMessage],
    now: datetime,
) -> Moves:
    """Inside ``uow``'s transaction: each of ``reports`` applied to its message in ``known``
    (``changed`` holds messages to write whatever the statuses do), then the messages written
    and their templates' conversations settled."""
    moved: list[DeliveryReport] = []
    for report in in_meta_order(reports):
        message = known.get(report.message_id)
        if message is None:
            continue  # kept with no message: linked when the send response lands
        if not message.apply(report, now):
            continue  # late or repeated: kept as a report, the status stays
        changed[report.message_id] = message
        moved.append(report)
    conversations = await uow.conversations.get_many({m.conversation_id for m in changed.values()})
    # A compare-and-set per message, all in one statement when all of them match: a
    # writer that stored a later status first (the worker recording Meta's answer,
    # another pass) keeps it (docs/sending.md).
    advanced = await uow.messages.advance_many(list(changed.values()))
    for message_id, message in changed.items():
        if message.id not in advanced:
            moved = [r for r in moved if r.message_id != message_id]
            continue
        conversation = conversations.get(message.conversation_id)
        if (
            message.kind is MessageKind.TEMPLATE
            and not message.is_reminder  # the reminder never moves its conversation
            and _unsettled(conversation, message)
        ):
            # Roots the conversation too when this reconciles a send that timed out.
            await settle_conversation(uow, message, now)
    return Moves(moved, changed, conversations)


async def tell(
    uow: UnitOfWork,
    activity: ActivityPublisher,
    moves: Moves,
    now: datetime,
    timeline: Timeline | None = None,
) -> None:
    """After the commit: the timeline's events (handed to ``timeline`` when given, which
    publishes them while the caller goes on), and the failures' ``whatsapp_unreachable``."""
    events = _activity_events(moves)
    if events and timeline is not None:
        timeline.add(events)
    elif events:  # best effort: the composition root wraps the publisher (docs/adr/0007)
        await activity.publish_many(events)
    # 131026 and the like: the SMS fallback's cue (docs/opt-out.md)
    failed = [moves.changed[r.message_id] for r in moves.moved if r.status is MessageStatus.FAILED]
    await signal_failed_sends(uow, activity, moves.conversations, failed, now)


async def join_stored(
    uow: UnitOfWork, activity: ActivityPublisher, wamids: Collection[str], now: datetime
) -> None:
    """The status pass, after its commit, for the wamids whose statuses it stored with no
    message: those whose message is stored now, or being stored (the read waits for the
    worker's transaction), are linked and moved (docs/sending.md, "Statuses ahead of Meta's
    answer"). Rare; one read when none is. Best effort: a database failing now is logged
    (the statuses stay unlinked), not raised, which would only make the pass run again."""
    try:
        await _join(uow, activity, wamids, now)
    except UpstreamUnavailable as exc:
        _log.warning("statuses stored ahead of their message not joined", error=str(exc)[:200])


async def _join(
    uow: UnitOfWork, activity: ActivityPublisher, wamids: Collection[str], now: datetime
) -> None:
    async with uow:
        known = await uow.messages.lock_many_by_message_ids(wamids)
        joined = await _link_and_apply(uow, known, now)
        if joined is None:
            return
        await uow.commit()
    await tell(uow, activity, joined[0], now)


@dataclass(frozen=True, slots=True)
class Swept:
    """What a sweep linked: how many statuses, to which messages (their ids)."""

    statuses: int = 0
    messages: tuple[int, ...] = ()


async def sweep_unlinked(
    uow: UnitOfWork,
    activity: ActivityPublisher,
    since: datetime,
    until: datetime,
    limit: int,
    now: datetime,
) -> Swept:
    """Statuses stored unlinked in ``[since, until)`` whose message is stored now, linked and
    applied as the pass's second look applies them, for the times that look failed (docs/
    sending.md, "Statuses ahead of Meta's answer"). Their messages are claimed (``FOR UPDATE
    SKIP LOCKED``): a message a worker, a pass or another sweep is writing is left to it, or
    to the next sweep. One read when there is nothing to link."""
    async with uow:
        wamids = await uow.delivery_reports.unlinked_with_message(since, until, limit)
        if not wamids:
            return Swept()
        known = await uow.messages.claim_by_message_ids(wamids)
        joined = await _link_and_apply(uow, known, now)
        if joined is None:
            return Swept()
        await uow.commit()
    moves, linked = joined
    await tell(uow, activity, moves, now)
    return Swept(sum(linked.values()), tuple(sorted(linked)))


async def _link_and_apply(
    uow: UnitOfWork, known: Mapping[str, OutgoingMessage], now: datetime
) -> tuple[Moves, dict[int, int]] | None:
    """Inside ``uow``'s transaction: the unlinked statuses of the messages in ``known`` linked
    to them and applied; with how many each message got. None when nobody left any."""
    reports: list[DeliveryReport] = []
    linked: dict[int, int] = {}
    for wamid in sorted(known):
        message = known[wamid]
        if message.id is None:
            continue
        # Linked by nobody else first (the worker, the pass's look or a sweep may have):
        # whoever links them applies them, once.
        count = await uow.delivery_reports.link(wamid, message.id)
        if count:
            linked[message.id] = count
            reports += await uow.delivery_reports.for_message(wamid)
    if not reports:
        return None
    return await apply_statuses(uow, reports, known, {}, now), linked


def _unsettled(conversation: Conversation | None, message: OutgoingMessage) -> bool:
    """Whether the template's status may still change its conversation: a root is never unset
    and no state goes back to ``pending``, so most ticks need no compare-and-set."""
    if conversation is None:
        return True
    rooting = conversation.root_message_id is None and message.message_id is not None
    return rooting or conversation.follows_template(message.status)


def _activity_events(moves: Moves) -> list[ActivityEvent]:
    """One timeline event per status that moved a message (``sent`` ... ``failed``), in
    Meta's order; each message's conversation looked at once."""
    events: list[ActivityEvent] = []
    about: dict[str, _About] = {}
    for report in moves.moved:
        outcome = _OUTCOME.get(report.status)
        if outcome is None:
            continue
        known = about.get(report.message_id)
        if known is None:
            message = moves.changed[report.message_id]
            conversation = moves.conversations.get(message.conversation_id)
            known = about[report.message_id] = _about(conversation, message)
        events.append(_status_event(known, outcome, report))
    return events


def status_events(
    conversation: Conversation | None, message: OutgoingMessage, moved: Sequence[DeliveryReport]
) -> list[ActivityEvent]:
    """The timeline's events of statuses that moved ``message``, in their order: the status
    pass's, and those of statuses joined when Meta's answer was stored (``Stored.early``)."""
    about = _about(conversation, message)
    return [
        _status_event(about, outcome, report)
        for report in moved
        if (outcome := _OUTCOME.get(report.status)) is not None
    ]


async def tell_early(
    activity: ActivityPublisher, conversation: Conversation, stored: Stored
) -> None:
    """After the commit that stored Meta's answer: the statuses that raced ahead of it and
    moved its message (``Stored.early``) told, as the status pass tells them."""
    if stored.early:
        await activity.publish_many(status_events(conversation, stored.message, stored.early))


#: What a status event says of its message: account, shipment, reason, conversation.
_About = tuple[int | None, int | None, str | None, int]


def _about(conversation: Conversation | None, message: OutgoingMessage) -> _About:
    if conversation is None:
        return None, None, None, message.conversation_id
    return (
        conversation.account_id,
        conversation.shipment_id,
        conversation.reason.value,
        message.conversation_id,
    )


def _status_event(about: _About, outcome: Outcome, report: DeliveryReport) -> ActivityEvent:
    account_id, shipment_id, reason, conversation_id = about
    return ActivityEvent(
        account_id=account_id,
        shipment_id=shipment_id,
        reason=reason,
        outcome=outcome,
        kind=ActivityKind.STATUS,
        message_id=report.message_id,
        conversation_id=conversation_id,
        error_code=report.error_code,
        error_title=report.error_title,
        occurred_at=report.external_timestamp,
    )
