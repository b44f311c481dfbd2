"""One conversation with everything that happened in it, in time order."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from application.ports.portal import PortalQueries
from domain.conversation import Conversation
from domain.errors import NotFound
from domain.messages import CustomerReply, DeliveryReport, OutgoingMessage
from domain.ndr import NdrAction
from domain.outcomes import Verdict
from domain.records import LinkClick

ThreadEntry = OutgoingMessage | DeliveryReport | CustomerReply | NdrAction | LinkClick

#: At the same instant, a message comes before its ticks, an answer before the action it asked.
_RANK: dict[type, int] = {
    OutgoingMessage: 0,
    DeliveryReport: 1,
    CustomerReply: 2,
    NdrAction: 3,
    LinkClick: 4,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class ThreadView:
    conversation: Conversation
    entries: list[ThreadEntry]
    verdict: Verdict | None = None  # what became of the shipment; None: no event after it yet


def happened_at(entry: ThreadEntry) -> datetime:
    if isinstance(entry, OutgoingMessage):
        return entry.created_at
    if isinstance(entry, DeliveryReport):
        return entry.external_timestamp
    if isinstance(entry, CustomerReply):
        return entry.sent_at
    if isinstance(entry, NdrAction):
        return entry.created_at
    return entry.clicked_at


class GetConversationThread:
    def __init__(self, queries: PortalQueries) -> None:
        self._queries = queries

    async def __call__(self, account_id: int, conversation_id: int) -> ThreadView:
        thread = await self._queries.thread(account_id, conversation_id)
        if thread is None:
            raise NotFound("conversation", conversation_id)
        entries: list[ThreadEntry] = [
            *thread.messages,
            *thread.reports,
            *thread.replies,
            *thread.actions,
            *thread.clicks,
        ]
        entries.sort(key=lambda e: (happened_at(e), _RANK[type(e)], e.id or 0))
        return ThreadView(conversation=thread.conversation, entries=entries, verdict=thread.verdict)
