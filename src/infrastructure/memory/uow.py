"""The in-memory unit of work: a lock for isolation, a snapshot for rollback."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from application.ports.repositories import (
    ChannelSettingRepository,
    ConversationRepository,
    CustomerReplyRepository,
    DeliveryReportRepository,
    FdrEventRepository,
    LinkClickRepository,
    NdrActionRepository,
    OptOutRepository,
    OutgoingMessageRepository,
    ReasonRuleRepository,
    ShipmentOutcomeRepository,
    TemplateRepository,
    WebhookInboxRepository,
)
from application.ports.scheduler import ScheduledJobRepository
from infrastructure.memory.opt_outs import InMemoryOptOutRepository
from infrastructure.memory.repositories import (
    InMemoryChannelSettingRepository,
    InMemoryConversationRepository,
    InMemoryCustomerReplyRepository,
    InMemoryDeliveryReportRepository,
    InMemoryFdrEventRepository,
    InMemoryLinkClickRepository,
    InMemoryNdrActionRepository,
    InMemoryOutgoingMessageRepository,
    InMemoryReasonRuleRepository,
    InMemoryScheduledJobRepository,
    InMemoryShipmentOutcomeRepository,
    InMemoryTemplateRepository,
    InMemoryWebhookInboxRepository,
)
from infrastructure.memory.store import InMemoryStore, Tables


class InMemoryUnitOfWork:
    conversations: ConversationRepository
    messages: OutgoingMessageRepository
    delivery_reports: DeliveryReportRepository
    replies: CustomerReplyRepository
    templates: TemplateRepository
    settings: ChannelSettingRepository
    reason_rules: ReasonRuleRepository
    fdr_events: FdrEventRepository
    inbox: WebhookInboxRepository
    ndr_actions: NdrActionRepository
    link_clicks: LinkClickRepository
    outcomes: ShipmentOutcomeRepository
    opt_outs: OptOutRepository
    jobs: ScheduledJobRepository

    def __init__(self, store: InMemoryStore) -> None:
        self._store = store
        self._snapshot: Tables | None = None
        self.conversations = InMemoryConversationRepository(store)
        self.messages = InMemoryOutgoingMessageRepository(store)
        self.delivery_reports = InMemoryDeliveryReportRepository(store)
        self.replies = InMemoryCustomerReplyRepository(store)
        self.templates = InMemoryTemplateRepository(store)
        self.settings = InMemoryChannelSettingRepository(store)
        self.reason_rules = InMemoryReasonRuleRepository(store)
        self.fdr_events = InMemoryFdrEventRepository(store)
        self.inbox = InMemoryWebhookInboxRepository(store)
        self.ndr_actions = InMemoryNdrActionRepository(store)
        self.link_clicks = InMemoryLinkClickRepository(store)
        self.outcomes = InMemoryShipmentOutcomeRepository(store)
        self.opt_outs = InMemoryOptOutRepository(store)
        self.jobs = InMemoryScheduledJobRepository(store)

    async def __aenter__(self) -> Self:
        await self._store.lock.acquire()
        self._snapshot = self._store.snapshot()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self.rollback()
        finally:
            self._snapshot = None
            self._store.lock.release()

    async def commit(self) -> None:
        if self._snapshot is None:
            raise RuntimeError("commit outside a unit of work")
        self._snapshot = self._store.snapshot()

    async def rollback(self) -> None:
        if self._snapshot is not None:
            self._store.restore(self._snapshot)
            self._snapshot = self._store.snapshot()
