"""The portal's read side: conversation pages and threads, and the funnel counts per reason.

Separate from the unit of work: these only read, several tables at once, and never take part
in a write.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from application.ports.repositories import ConversationQuery
from domain.activity import Outcome
from domain.conversation import Conversation, ConversationState
from domain.cost import BilledMessage
from domain.messages import CustomerReply, DeliveryReport, OutgoingMessage
from domain.ndr import NdrAction
from domain.outcomes import ShipmentOutcome, Verdict
from domain.reasons import FdrReason
from domain.records import FdrEventRecord, LinkClick
from domain.status import MessageStatus


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationListing:
    """A conversation, where its template message got to and what became of the shipment."""

    conversation: Conversation
    template_status: MessageStatus | None = None  # None: no template message was recorded
    error_code: int | None = None
    error_title: str | None = None
    verdict: Verdict | None = None  # what became of the shipment; None: no event after it yet


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationThread:
    """Everything recorded about one conversation, each part in the order it was stored."""

    conversation: Conversation
    messages: tuple[OutgoingMessage, ...] = ()
    reports: tuple[DeliveryReport, ...] = ()  # status ticks of those messages
    replies: tuple[CustomerReply, ...] = ()
    actions: tuple[NdrAction, ...] = ()
    clicks: tuple[LinkClick, ...] = ()
    verdict: Verdict | None = None  # what became of the shipment; None: no event after it yet


@dataclass(frozen=True, slots=True, kw_only=True)
class EventCount:
    """How many FDR events of one reason ended one way (``wa_fdr_events``)."""

    reason: str  # a reason key, or "unknown"
    outcome: Outcome
    skip_reason: str | None = None  # skipped only: the record's ``skip_reason`` ("other": none)
    count: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationCount:
    """How many conversations of one reason share these facts."""

    reason: FdrReason
    state: ConversationState
    template_status: MessageStatus | None  # None: no template message was recorded
    accepted: bool  # Meta took the template (it has a wamid)
    error_code: int | None
    answered: bool  # the shopper replied at least once
    action_taken: bool  # an NDR action of the conversation is done
    count: int
    reminded: bool = False  # Meta took its one reminder (docs/scheduler.md)
    automatic_action: bool = False  # the workspace's default action was taken for it


@dataclass(frozen=True, slots=True, kw_only=True)
class FunnelCounts:
    events: tuple[EventCount, ...] = ()
    conversations: tuple[ConversationCount, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class OutcomeCount:
    """How many notified conversations (Meta took the template) share these outcome facts."""

    reason: FdrReason
    courier: str
    answer: str  # an NDR action kind, or "no_answer"
    outcome: ShipmentOutcome | None  # None: nothing after the attempt yet
    honoured: bool | None
    count: int


@dataclass(frozen=True, slots=True, kw_only=True)
class OutcomeRow:
    """One conversation and what became of its shipment, for the export."""

    conversation: Conversation
    answer: str
    verdict: Verdict | None  # None: no shipment event after the attempt yet


@dataclass(frozen=True, slots=True)
class HeldEvent:
    """A failed delivery held for the end of quiet hours, and when it is due to go."""

    record: FdrEventRecord
    due_at: datetime | None  # None: the job is gone (done or cancelled a moment ago)


class PortalQueries(Protocol):
    async def conversations(self, query: ConversationQuery) -> list[ConversationListing]:
        """Newest first, as ``ConversationRepository.search``."""

    async def thread(self, account_id: int, conversation_id: int) -> ConversationThread | None:
        """None when the conversation does not exist or belongs to another workspace."""

    async def billed(self, account_id: int, start: datetime, end: datetime) -> list[BilledMessage]:
        """The workspace's messages Meta priced as billable with a tick in the period, each once
        per pricing (docs/cost.md)."""

    async def funnel(self, account_id: int, start: datetime, end: datetime) -> FunnelCounts:
        """Events received and conversations created in ``[start, end)``, grouped, in no order."""

    async def outcomes(
        self, account_id: int, start: datetime, end: datetime
    ) -> tuple[OutcomeCount, ...]:
        """Notified conversations created in ``[start, end)``, grouped, in no order."""

    async def held(self, account_id: int, limit: int) -> list[HeldEvent]:
        """The workspace's failed deliveries held for the end of quiet hours and not yet sent,
        oldest first, at most ``limit`` (docs/quiet-hours.md)."""

    async def outcome_rows(
        self, account_id: int, start: datetime, end: datetime, after_id: int, limit: int
    ) -> list[OutcomeRow]:
        """Conversations created in ``[start, end)`` with an id above ``after_id``, oldest
        first, at most ``limit``."""
