"""The portal's read side in SQL: conversation pages, whole threads and grouped funnel counts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, case, exists, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from application.ports.portal import (
    ConversationCount,
    ConversationListing,
    ConversationThread,
    EventCount,
    FunnelCounts,
    HeldEvent,
    OutcomeCount,
    OutcomeRow,
)
from application.ports.repositories import ConversationQuery
from domain.activity import Outcome
from domain.conversation import ConversationState
from domain.cost import BilledMessage
from domain.messages import REMINDER_REF_PREFIX, MessageKind
from domain.ndr import NdrActionState
from domain.outcomes import NO_ANSWER, ShipmentEventKind, ShipmentOutcome, Verdict
from domain.reasons import FdrReason
from domain.scheduling import HELD_SEND, JobState
from domain.status import MessageStatus
from infrastructure.db.repositories.conversations import (
    SqlConversationRepository,
    conversation_from_row,
)
from infrastructure.db.repositories.messages import (
    SqlOutgoingMessageRepository,
    reply_from_row,
    report_from_row,
)
from infrastructure.db.repositories.ndr import SqlNdrActionRepository
from infrastructure.db.repositories.outcomes import SqlShipmentOutcomeRepository
from infrastructure.db.repositories.records import SqlFdrEventRepository, SqlLinkClickRepository
from infrastructure.db.tables import (
    conversation_outcomes,
    conversations,
    customer_replies,
    dlr_messages,
    fdr_events,
    link_clicks,
    ndr_actions,
    outgoing_messages,
    scheduled_jobs,
)
from infrastructure.db.uow import reading

_c, _m, _d, _r = conversations, outgoing_messages, dlr_messages, customer_replies
_a, _e, _k, _o = ndr_actions, fdr_events, link_clicks, conversation_outcomes
_j = scheduled_jobs
_TEMPLATE = MessageKind.TEMPLATE.value


class SqlPortalQueries:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def conversations(self, query: ConversationQuery) -> list[ConversationListing]:
        async with reading(self._engine) as conn:
            found = await SqlConversationRepository(conn).search(query)
            ids = [c.id for c in found if c.id is not None]
            templates: dict[int, Any] = {}
            verdicts = await SqlShipmentOutcomeRepository(conn).verdicts(ids)
            if ids:
                rows = await conn.execute(
                    select(_m.c.conversation_id, _m.c.status, _m.c.error_code, _m.c.error_title)
                    .where(
                        _m.c.conversation_id.in_(ids),
                        _m.c.kind == _TEMPLATE,
                        _m.c.client_ref.not_like(f"{REMINDER_REF_PREFIX}%"),
                    )
                    .order_by(_m.c.id)
                )
                for found_row in rows:
                    templates.setdefault(found_row.conversation_id, found_row)
        listings = []
        for conversation in found:
            row = templates.get(conversation.id or 0)
            listings.append(
                ConversationListing(
                    conversation=conversation,
                    template_status=None if row is None else MessageStatus(row.status),
                    error_code=None if row is None else row.error_code,
                    error_title=None if row is None else row.error_title,
                    verdict=verdicts.get(conversation.id or 0),
                )
            )
        return listings

    async def thread(self, account_id: int, conversation_id: int) -> ConversationThread | None:
        async with reading(self._engine) as conn:
            conversation = await SqlConversationRepository(conn).get(conversation_id)
            if conversation is None or conversation.account_id != account_id:
                return None
            messages = await SqlOutgoingMessageRepository(conn).for_conversation(conversation_id)
            ids = [m.id for m in messages if m.id is not None]
            wamids = [m.message_id for m in messages if m.message_id]
            reports = await conn.execute(
                select(_d)
                .where(or_(_d.c.wa_outgoing_message_id.in_(ids), _d.c.message_id.in_(wamids)))
                .order_by(_d.c.external_timestamp, _d.c.id)
            )
            # Every answer linked to the conversation carries its template row as root (indexed).
            replies = await conn.execute(
                select(_r).where(_r.c.wa_root_outgoing_message_id.in_(ids)).order_by(_r.c.id)
            )
            actions = await SqlNdrActionRepository(conn).for_conversation(conversation_id)
            # Clicks are indexed by shipment; a shipment has few, its attempts' among them.
            clicks = await SqlLinkClickRepository(conn).for_shipment(conversation.shipment_id)
            verdicts = await SqlShipmentOutcomeRepository(conn).verdicts([conversation_id])
            return ConversationThread(
                conversation=conversation,
                messages=tuple(messages),
                reports=tuple(report_from_row(r) for r in reports.mappings()),
                replies=tuple(reply_from_row(r) for r in replies.mappings()),
                actions=tuple(actions),
                clicks=tuple(c for c in clicks if c.conversation_id == conversation_id),
                verdict=verdicts.get(conversation_id),
            )

    async def billed(self, account_id: int, start: datetime, end: datetime) -> list[BilledMessage]:
        group = (_d.c.message_id, _d.c.pricing_model, _d.c.pricing_category)
        stmt = (
            select(
                *group,
                func.max(_d.c.pricing_conversation_id).label("conversation_id"),
                func.min(_d.c.external_timestamp).label("first_at"),
            )
            .select_from(
                _c.join(_m, _m.c.conversation_id == _c.c.id).join(
                    _d, _d.c.wa_outgoing_message_id == _m.c.id
                )
            )
            .where(
                _c.c.account_id == account_id,
                _d.c.pricing_billable.is_(True),
                _d.c.external_timestamp >= start,
                _d.c.external_timestamp < end,
            )
            .group_by(*group)
        )
        async with reading(self._engine) as conn:
            rows = await conn.execute(stmt)
            return [
                BilledMessage(
                    message_id=r.message_id,
                    pricing_model=r.pricing_model,
                    category=r.pricing_category or "",
                    conversation_id=r.conversation_id,
                    first_at=r.first_at,
                )
                for r in rows
            ]

    async def held(self, account_id: int, limit: int) -> list[HeldEvent]:
        async with reading(self._engine) as conn:
            records = await SqlFdrEventRepository(conn).held(account_id, limit)
            due: dict[str, Any] = {}
            if records:
                rows = await conn.execute(
                    select(_j.c.job_key, _j.c.due_at).where(
                        _j.c.kind == HELD_SEND,
                        _j.c.job_key.in_([r.event_key for r in records]),
                        _j.c.state == JobState.PENDING.value,
                    )
                )
                due = {row.job_key: row.due_at for row in rows}
        return [HeldEvent(r, due.get(r.event_key)) for r in records]

    async def funnel(self, account_id: int, start: datetime, end: datetime) -> FunnelCounts:
        async with reading(self._engine) as conn:
            events = await conn.execute(_event_counts(account_id, start, end))
            groups = await conn.execute(_conversation_counts(account_id, start, end))
            return FunnelCounts(
                events=tuple(
                    EventCount(
                        reason=r.reason or FdrReason.UNKNOWN.value,
                        outcome=Outcome(r.outcome),
                        skip_reason=r.skip_reason,
                        count=int(r.n),
                    )
                    for r in events
                ),
                conversations=tuple(
                    ConversationCount(
                        reason=FdrReason(r.reason),
                        state=ConversationState(r.state),
                        template_status=None if r.status is None else MessageStatus(r.status),
                        accepted=bool(r.accepted),
                        error_code=r.error_code,
                        answered=bool(r.answered),
                        action_taken=bool(r.acted),
                        count=int(r.n),
                        reminded=bool(r.reminded),
                        automatic_action=bool(r.automatic),
                    )
                    for r in groups
                ),
            )

    async def outcomes(
        self, account_id: int, start: datetime, end: datetime
    ) -> tuple[OutcomeCount, ...]:
        inner = (
            select(
                _c.c.reason,
                _c.c.courier,
                _answer().label("answer"),
                _o.c.outcome,
                _o.c.honoured,
            )
            .select_from(_c.outerjoin(_o, _o.c.conversation_id == _c.c.id))
            .where(
                _c.c.account_id == account_id,
                _c.c.created_at >= start,
                _c.c.created_at < end,
                _c.c.root_message_id.is_not(None),
            )
            .subquery()
        )
        columns = [inner.c.reason, inner.c.courier, inner.c.answer, inner.c.outcome]
        columns.append(inner.c.honoured)
        async with reading(self._engine) as conn:
            rows = await conn.execute(select(*columns, func.count().label("n")).group_by(*columns))
            return tuple(
                OutcomeCount(
                    reason=FdrReason(r.reason),
                    courier=r.courier,
                    answer=r.answer,
                    outcome=ShipmentOutcome(r.outcome) if r.outcome else None,
                    honoured=None if r.honoured is None else bool(r.honoured),
                    count=int(r.n),
                )
                for r in rows
            )

    async def outcome_rows(
        self, account_id: int, start: datetime, end: datetime, after_id: int, limit: int
    ) -> list[OutcomeRow]:
        stmt = (
            select(
                _c,
                _answer().label("answer_"),
                _o.c.outcome.label("outcome_"),
                _o.c.outcome_status_log_id.label("outcome_log_"),
                _o.c.outcome_at.label("outcome_at_"),
                _o.c.next_event.label("next_event_"),
                _o.c.honoured.label("honoured_"),
                _o.c.id.label("outcome_id_"),
            )
            .select_from(_c.outerjoin(_o, _o.c.conversation_id == _c.c.id))
            .where(
                _c.c.account_id == account_id,
                _c.c.created_at >= start,
                _c.c.created_at < end,
                _c.c.id > after_id,
            )
            .order_by(_c.c.id)
            .limit(limit)
        )
        async with reading(self._engine) as conn:
            rows = (await conn.execute(stmt)).mappings().all()
        return [
            OutcomeRow(
                conversation=conversation_from_row(r),
                answer=r["answer_"],
                verdict=None
                if r["outcome_id_"] is None
                else Verdict(
                    outcome=ShipmentOutcome(r["outcome_"]) if r["outcome_"] else None,
                    outcome_status_log_id=r["outcome_log_"],
                    outcome_at=r["outcome_at_"],
                    next_event=ShipmentEventKind(r["next_event_"]) if r["next_event_"] else None,
                    answer=r["answer_"],
                    honoured=None if r["honoured_"] is None else bool(r["honoured_"]),
                ),
            )
            for r in rows
        ]


def _answer() -> Any:
    """The answer the outcome was judged with; before any outcome, the latest NDR action."""
    latest = (
        select(_a.c.kind)
        .where(_a.c.conversation_id == _c.c.id)
        .order_by(_a.c.created_at.desc(), _a.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    return func.coalesce(_o.c.answer, latest, literal(NO_ANSWER))


def _event_counts(account_id: int, start: datetime, end: datetime) -> Select[Any]:
    why = case(
        (_e.c.outcome != Outcome.SKIPPED.value, literal(None)),
        else_=func.coalesce(_e.c.skip_reason, literal("other")),
    )
    inner = (
        select(_e.c.reason, _e.c.outcome, why.label("skip_reason"))
        .where(_e.c.account_id == account_id, _e.c.received_at >= start, _e.c.received_at < end)
        .subquery()
    )
    return select(
        inner.c.reason, inner.c.outcome, inner.c.skip_reason, func.count().label("n")
    ).group_by(inner.c.reason, inner.c.outcome, inner.c.skip_reason)


def _conversation_counts(account_id: int, start: datetime, end: datetime) -> Select[Any]:
    answered = exists().where(_r.c.wa_root_outgoing_message_id == _m.c.id)
    acted = exists().where(_a.c.conversation_id == _c.c.id, _a.c.state == NdrActionState.DONE.value)
    automatic = exists().where(
        _a.c.conversation_id == _c.c.id,
        _a.c.state == NdrActionState.DONE.value,
        _a.c.automatic.is_(True),
    )
    reminder = _m.alias("reminder")
    reminded = exists().where(
        reminder.c.conversation_id == _c.c.id,
        reminder.c.client_ref.like(f"{REMINDER_REF_PREFIX}%"),
        reminder.c.message_id.is_not(None),
    )
    template = _c.outerjoin(
        _m,
        and_(
            _m.c.conversation_id == _c.c.id,
            _m.c.kind == _TEMPLATE,
            _m.c.client_ref.not_like(f"{REMINDER_REF_PREFIX}%"),  # the conversation's own
        ),
    )
    inner = (
        select(
            _c.c.reason,
            _c.c.state,
            _m.c.status,
            case((_m.c.message_id.is_not(None), 1), else_=0).label("accepted"),
            _m.c.error_code,
            case((answered, 1), else_=0).label("answered"),
            case((acted, 1), else_=0).label("acted"),
            case((reminded, 1), else_=0).label("reminded"),
            case((automatic, 1), else_=0).label("automatic"),
        )
        .select_from(template)
        .where(_c.c.account_id == account_id, _c.c.created_at >= start, _c.c.created_at < end)
        .subquery()
    )
    columns = [
        inner.c.reason,
        inner.c.state,
        inner.c.status,
        inner.c.accepted,
        inner.c.error_code,
        inner.c.answered,
        inner.c.acted,
        inner.c.reminded,
        inner.c.automatic,
    ]
    return select(*columns, func.count().label("n")).group_by(*columns)
