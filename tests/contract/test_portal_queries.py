"""The portal's read side: the same pages, threads and funnel counts from SQLite and MariaDB."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from application.ports.portal import ConversationCount, EventCount, PortalQueries
from application.ports.repositories import ConversationQuery, UnitOfWork
from domain.activity import Outcome
from domain.conversation import ConversationState
from domain.messages import CustomerReply, DeliveryReport, MessageKind, OutgoingMessage
from domain.ndr import NdrAction, NdrActionState
from domain.reasons import FdrReason
from domain.records import LinkClick
from domain.status import MessageStatus
from infrastructure.db.repositories.portal import SqlPortalQueries
from infrastructure.db.uow import SqlUnitOfWork
from tests.conftest import new_id
from tests.support.factories import T0
from tests.support.portal import record_skip, record_thread


@dataclass
class Backend:
    uow: Callable[[], UnitOfWork]
    queries: PortalQueries


@pytest.fixture(params=["sqlite", "mysql"])
def backend(request: pytest.FixtureRequest) -> Backend:
    engine: AsyncEngine = request.getfixturevalue(f"{request.param}_engine")
    return Backend(lambda: SqlUnitOfWork(engine), SqlPortalQueries(engine))


async def test_a_thread_holds_everything_recorded_about_the_conversation(
    backend: Backend,
) -> None:
    account = new_id()
    recorded = await record_thread(backend.uow, account)
    await record_thread(backend.uow, account)  # another conversation of the same shopper

    thread = await backend.queries.thread(account, recorded.conversation_id)

    assert thread is not None
    assert thread.conversation.id == recorded.conversation_id
    assert [m.kind for m in thread.messages] == [MessageKind.TEMPLATE, MessageKind.TEXT]
    assert all(isinstance(m, OutgoingMessage) for m in thread.messages)
    assert [r.status for r in thread.reports] == [
        MessageStatus.SENT,
        MessageStatus.DELIVERED,
        MessageStatus.READ,
    ]
    assert all(isinstance(r, DeliveryReport) for r in thread.reports)
    assert [r.button_id for r in thread.replies] == ["alt_number", None]
    assert all(isinstance(r, CustomerReply) for r in thread.replies)
    assert [(a.kind.value, a.state) for a in thread.actions] == [
        ("update_phone", NdrActionState.DONE)
    ]
    assert all(isinstance(a, NdrAction) for a in thread.actions)
    assert [c.clicked_at for c in thread.clicks] == [T0 + timedelta(minutes=9)]
    assert all(isinstance(c, LinkClick) for c in thread.clicks)


async def test_a_thread_of_another_workspace_is_not_found(backend: Backend) -> None:
    recorded = await record_thread(backend.uow, new_id())
    assert await backend.queries.thread(new_id(), recorded.conversation_id) is None
    assert await backend.queries.thread(new_id(), 10**15) is None


async def test_a_template_meta_refused_is_a_thread_of_one_message(
    backend: Backend,
) -> None:
    account = new_id()
    recorded = await record_thread(
        backend.uow,
        account,
        accepted=False,
        template_status=MessageStatus.FAILED,
        error_code=131026,
        answered=False,
        action=None,
        clicked=False,
        state=ConversationState.FAILED,
    )
    thread = await backend.queries.thread(account, recorded.conversation_id)
    assert thread is not None
    assert [m.status for m in thread.messages] == [MessageStatus.FAILED]
    assert (thread.reports, thread.replies, thread.actions, thread.clicks) == ((), (), (), ())


async def test_pages_carry_where_each_template_got_to(backend: Backend) -> None:
    account = new_id()
    read = await record_thread(backend.uow, account, created_at=T0)
    failed = await record_thread(
        backend.uow,
        account,
        created_at=T0 + timedelta(hours=1),
        template_status=MessageStatus.FAILED,
        error_code=131026,
        answered=False,
        action=None,
    )
    listed = await backend.queries.conversations(ConversationQuery(account_id=account))
    assert [i.conversation.id for i in listed] == [failed.conversation_id, read.conversation_id]
    assert [(i.template_status, i.error_code) for i in listed] == [
        (MessageStatus.FAILED, 131026),
        (MessageStatus.READ, None),
    ]
    assert listed[0].error_title is not None
    older = await backend.queries.conversations(
        ConversationQuery(account_id=account, before_id=failed.conversation_id, limit=5)
    )
    assert [i.conversation.id for i in older] == [read.conversation_id]


def _events(rows: tuple[EventCount, ...]) -> set[tuple[str, str, str | None, int]]:
    return {(r.reason, r.outcome.value, r.skip_reason, r.count) for r in rows}


def _groups(rows: tuple[ConversationCount, ...]) -> set[tuple[object, ...]]:
    return {
        (
            r.reason.value,
            r.state.value,
            r.template_status.value if r.template_status else None,
            r.accepted,
            r.error_code,
            r.answered,
            r.action_taken,
            r.count,
        )
        for r in rows
    }


async def test_the_funnel_counts_events_and_conversations_in_the_period(
    backend: Backend,
) -> None:
    account = new_id()
    inside = T0 + timedelta(days=1)
    for _ in range(2):
        await record_thread(backend.uow, account, created_at=inside)
    await record_thread(
        backend.uow,
        account,
        reason=FdrReason.REFUSED,
        created_at=inside,
        template_status=MessageStatus.DELIVERED,
        answered=False,
        action=None,
        state=ConversationState.OPEN,
    )
    await record_thread(
        backend.uow,
        account,
        reason=FdrReason.REFUSED,
        created_at=inside,
        template_status=MessageStatus.FAILED,
        error_code=131026,
        answered=False,
        action=NdrActionState.FAILED,
        state=ConversationState.OPEN,
    )
    await record_skip(backend.uow, account, why="whatsapp_disabled", at=inside)
    await record_skip(backend.uow, account, why="whatsapp_disabled", at=inside)
    await record_skip(backend.uow, account, why="bad_phone", reason="refused", at=inside)
    # Outside the period, or another workspace's: not counted.
    await record_thread(backend.uow, account, created_at=T0 - timedelta(days=1))
    await record_skip(backend.uow, account, why="bad_phone", at=T0 + timedelta(days=3))
    await record_thread(backend.uow, new_id(), created_at=inside)

    counts = await backend.queries.funnel(account, T0, T0 + timedelta(days=2))

    assert _events(counts.events) == {
        ("customer_unreachable", Outcome.SENT.value, None, 2),
        ("refused", Outcome.SENT.value, None, 2),
        ("unknown", Outcome.SKIPPED.value, "whatsapp_disabled", 2),
        ("refused", Outcome.SKIPPED.value, "bad_phone", 1),
    }
    assert _groups(counts.conversations) == {
        ("customer_unreachable", "resolved", "read", True, None, True, True, 2),
        ("refused", "open", "delivered", True, None, False, False, 1),
        ("refused", "open", "failed", True, 131026, False, False, 1),
    }


async def test_an_empty_period_counts_nothing(backend: Backend) -> None:
    counts = await backend.queries.funnel(new_id(), T0, T0 + timedelta(days=1))
    assert counts.events == ()
    assert counts.conversations == ()
