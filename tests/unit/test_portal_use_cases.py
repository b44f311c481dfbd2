"""The portal's use cases on in-memory adapters: what the HTTP tests cannot easily arrange."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from application.ports.repositories import ConversationQuery, UnitOfWork
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
from infrastructure.memory.portal import InMemoryPortalQueries
from infrastructure.memory.store import InMemoryStore
from infrastructure.memory.uow import InMemoryUnitOfWork
from tests.conftest import DEFAULT_ACCOUNT_ID, memory_store, new_id
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


@pytest.fixture
def store() -> InMemoryStore:
    return memory_store()


def _uow(store: InMemoryStore) -> Callable[[], UnitOfWork]:
    return lambda: InMemoryUnitOfWork(store)


async def test_settings_are_saved_when_the_cache_is_down(store: InMemoryStore) -> None:
    account = new_id()
    directory = StaticDirectory()
    update = UpdateChannelSettings(
        InMemoryUnitOfWork(store),
        directory,
        SenderResolver(directory, DEFAULT_SENDER),
        SettingsReader(BrokenCache()),
        OPTIONS,
    )
    view = await update(
        account, SettingsChange(whatsapp_enabled=True, sender_connection_id=None, templates={})
    )
    assert view.whatsapp_enabled is True
    async with InMemoryUnitOfWork(store) as uow:
        assert await uow.settings.get(account) == ChannelSetting(
            account_id=account, whatsapp_enabled=True
        )


class _Catalogue:
    """Meta's template list that changes between two calls (someone edits meanwhile)."""

    def __init__(self, store: InMemoryStore, template_id: int) -> None:
        self._store = store
        self._template_id = template_id

    async def templates(self, sender: object) -> list[MetaTemplate]:
        stored = self._store.tables.templates[self._template_id]
        stored.template_body = "Hi {{1}}, changed while Meta was asked"
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
    store: InMemoryStore,
) -> None:
    account = new_id()
    created = (
        await CreateTemplate(InMemoryUnitOfWork(store), FixedClock(), OPTIONS)(account, DRAFT)
    ).template
    assert created.id is not None
    verify = VerifyTemplate(
        InMemoryUnitOfWork(store),
        SenderResolver(StaticDirectory(), DEFAULT_SENDER),
        _Catalogue(store, created.id),
        FixedClock(),
        OPTIONS,
    )
    with pytest.raises(Conflict, match="changed while it was being verified"):
        await verify(account, created.id)
    assert store.tables.templates[created.id].verified_at is None


async def test_a_sender_that_is_gone_fails_the_verification(store: InMemoryStore) -> None:
    account = new_id()
    created = (
        await CreateTemplate(InMemoryUnitOfWork(store), FixedClock(), OPTIONS)(account, DRAFT)
    ).template
    assert created.id is not None
    async with InMemoryUnitOfWork(store) as uow:
        await uow.settings.save(ChannelSetting(account_id=account, sender_connection_id=482))
        await uow.commit()
    verify = VerifyTemplate(
        InMemoryUnitOfWork(store),
        SenderResolver(StaticDirectory(), DEFAULT_SENDER),
        _Catalogue(store, created.id),
        FixedClock(),
        OPTIONS,
    )
    with pytest.raises(TemplateNotVerified) as caught:
        await verify(account, created.id)
    assert caught.value.check == "sender"


async def test_a_page_of_exactly_the_limit_has_no_next_page(store: InMemoryStore) -> None:
    account = new_id()
    for i in range(4):
        await record_thread(
            lambda: InMemoryUnitOfWork(store), account, created_at=T0 + timedelta(minutes=i)
        )
    listing = ListConversations(InMemoryPortalQueries(store))
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


async def test_a_thread_interleaves_ticks_answers_and_actions_by_time(store: InMemoryStore) -> None:
    account = new_id()
    recorded = await record_thread(_uow(store), account)
    view = await GetConversationThread(InMemoryPortalQueries(store))(
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


async def test_the_funnel_total_adds_up_the_reasons(store: InMemoryStore) -> None:
    account = new_id()
    factory = _uow(store)
    await record_thread(factory, account, reason=FdrReason.REFUSED)
    await record_thread(factory, account, reason=FdrReason.ODA, template_status=MessageStatus.SENT)
    stats = await GetFunnelStats(InMemoryPortalQueries(store))(
        account, T0 - timedelta(days=1), T0 + timedelta(days=1)
    )
    by_reason = {f.reason: f for f in stats.reasons}
    assert (by_reason["refused"].read, by_reason["oda"].read, stats.total.read) == (1, 0, 1)
    assert (by_reason["oda"].delivered, stats.total.sent, stats.total.fdr_events) == (0, 2, 2)
    assert [f.reason for f in stats.reasons][-1] == "unknown"
