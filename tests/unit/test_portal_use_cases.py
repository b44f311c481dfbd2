"""The portal's use cases on SQLite (a copy per test): what the HTTP tests cannot easily arrange."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from application.ports.repositories import ConversationQuery
from application.services import NotificationOptions, SenderResolver, SettingsReader
from application.use_cases.portal._templates import TemplateDraft
from application.use_cases.portal.create_template import CreateTemplate
from application.use_cases.portal.get_conversation_thread import GetConversationThread
from application.use_cases.portal.get_funnel_stats import GetFunnelStats
from application.use_cases.portal.list_conversations import ListConversations
from application.use_cases.portal.update_channel_settings import (
    SettingsChange,
    UpdateChannelSettings,
)
from application.use_cases.portal.verify_template import VerifyTemplate
from domain.errors import Conflict, TemplateNotVerified
from domain.messages import CustomerReply, DeliveryReport, OutgoingMessage, QuickReply
from domain.reasons import FdrReason
from domain.settings import ChannelSetting
from domain.status import MessageStatus
from domain.templates import MetaTemplate, TemplateVariable
from infrastructure.db.repositories.portal import SqlPortalQueries
from tests.conftest import DEFAULT_ACCOUNT_ID, UowFactory, new_id
from tests.support.doubles import DEFAULT_SENDER, BrokenCache, FixedClock, StaticDirectory
from tests.support.factories import T0
from tests.support.portal import record_thread

OPTIONS = NotificationOptions(
    default_account_id=DEFAULT_ACCOUNT_ID,
    tracking_base_url="https://wa.example.com",
    support_phone="+91-9876543210",
    support_email="support@example.com",
)
DRAFT = TemplateDraft(
    name="brand_refused",
    language="en",
    body="Hi {{1}}",
    variables=(TemplateVariable.FIRST_NAME,),
    reason=FdrReason.REFUSED,
    buttons=(QuickReply("reattempt", "Reattempt delivery"),),
)


async def test_settings_are_saved_when_the_cache_is_down(new_uow: UowFactory) -> None:
    account = new_id()
    directory = StaticDirectory()
    update = UpdateChannelSettings(
        new_uow(),
        directory,
        SenderResolver(directory, DEFAULT_SENDER),
        SettingsReader(BrokenCache()),
        OPTIONS,
    )
    view = await update(
        account, SettingsChange(whatsapp_enabled=True, sender_connection_id=None, templates={})
    )
    assert view.whatsapp_enabled is True
    async with new_uow() as uow:
        assert await uow.settings.get(account) == ChannelSetting(
            account_id=account, whatsapp_enabled=True
        )


class _Catalogue:
    """Meta's template list that changes between two calls (someone edits meanwhile)."""

    def __init__(self, new_uow: UowFactory, template_id: int) -> None:
        self._new_uow = new_uow
        self._template_id = template_id

    async def templates(self, sender: object) -> list[MetaTemplate]:
        async with self._new_uow() as uow:  # the portal's other tab saves an edit
            stored = await uow.templates.get(self._template_id)
            assert stored is not None
            await uow.templates.update(
                replace(stored, template_body="Hi {{1}}, changed while Meta was asked")
            )
            await uow.commit()
        return [
            MetaTemplate(
                id="9",
                name="brand_refused",
                language="en",
                status="APPROVED",
                body_parameter_count=1,
                quick_replies=("Reattempt delivery",),
            )
        ]

    def invalidate(self, waba_id: str) -> None:
        pass


async def test_a_template_changed_during_verification_is_not_marked_verified(
    new_uow: UowFactory,
) -> None:
    account = new_id()
    created = (await CreateTemplate(new_uow(), FixedClock(), OPTIONS)(account, DRAFT)).template
    assert created.id is not None
    verify = VerifyTemplate(
        new_uow(),
        SenderResolver(StaticDirectory(), DEFAULT_SENDER),
        _Catalogue(new_uow, created.id),
        FixedClock(),
        OPTIONS,
    )
    with pytest.raises(Conflict, match="changed while it was being verified"):
        await verify(account, created.id)
    async with new_uow() as uow:
        stored = await uow.templates.get(created.id)
    assert stored is not None
    assert stored.verified_at is None


async def test_a_sender_that_is_gone_fails_the_verification(new_uow: UowFactory) -> None:
    account = new_id()
    created = (await CreateTemplate(new_uow(), FixedClock(), OPTIONS)(account, DRAFT)).template
    assert created.id is not None
    async with new_uow() as uow:
        await uow.settings.save(ChannelSetting(account_id=account, sender_connection_id=482))
        await uow.commit()
    verify = VerifyTemplate(
        new_uow(),
        SenderResolver(StaticDirectory(), DEFAULT_SENDER),
        _Catalogue(new_uow, created.id),
        FixedClock(),
        OPTIONS,
    )
    with pytest.raises(TemplateNotVerified) as caught:
        await verify(account, created.id)
    assert caught.value.check == "sender"


async def test_a_page_of_exactly_the_limit_has_no_next_page(
    new_uow: UowFactory, sqlite_db: AsyncEngine
) -> None:
    account = new_id()
    for i in range(4):
        await record_thread(new_uow, account, created_at=T0 + timedelta(minutes=i))
    listing = ListConversations(SqlPortalQueries(sqlite_db))
    full = await listing(ConversationQuery(account_id=account, limit=4))
    assert len(full.items) == 4
    assert full.next_before_id is None
    first = await listing(ConversationQuery(account_id=account, limit=3))
    assert first.next_before_id == first.items[-1].conversation.id
    rest = await listing(
        ConversationQuery(account_id=account, limit=3, before_id=first.next_before_id)
    )
    assert len(rest.items) == 1
    assert rest.next_before_id is None


async def test_a_thread_interleaves_ticks_answers_and_actions_by_time(
    new_uow: UowFactory, sqlite_db: AsyncEngine
) -> None:
    account = new_id()
    recorded = await record_thread(new_uow, account)
    view = await GetConversationThread(SqlPortalQueries(sqlite_db))(
        account, recorded.conversation_id
    )
    kinds = [type(e).__name__ for e in view.entries]
    assert kinds == [
        "OutgoingMessage",
        "DeliveryReport",
        "DeliveryReport",
        "DeliveryReport",
        "CustomerReply",
        "OutgoingMessage",
        "CustomerReply",
        "NdrAction",
        "LinkClick",
    ]
    assert isinstance(view.entries[0], OutgoingMessage)
    assert isinstance(view.entries[1], DeliveryReport)
    assert isinstance(view.entries[4], CustomerReply)


async def test_the_funnel_total_adds_up_the_reasons(
    new_uow: UowFactory, sqlite_db: AsyncEngine
) -> None:
    account = new_id()
    factory = new_uow
    await record_thread(factory, account, reason=FdrReason.REFUSED)
    await record_thread(factory, account, reason=FdrReason.ODA, template_status=MessageStatus.SENT)
    stats = await GetFunnelStats(SqlPortalQueries(sqlite_db))(
        account, T0 - timedelta(days=1), T0 + timedelta(days=1)
    )
    by_reason = {f.reason: f for f in stats.reasons}
    assert (by_reason["refused"].read, by_reason["oda"].read, stats.total.read) == (1, 0, 1)
    assert (by_reason["oda"].delivered, stats.total.sent, stats.total.fdr_events) == (0, 2, 2)
    assert [f.reason for f in stats.reasons][-1] == "unknown"
