"""A page of a workspace's conversations, newest first, with where each template got to."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from application.ports.portal import ConversationListing, PortalQueries
from application.ports.repositories import ConversationQuery


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationPage:
    items: list[ConversationListing]
    next_before_id: int | None  # None: this is the last page


class ListConversations:
    def __init__(self, queries: PortalQueries) -> None:
        self._queries = queries

    async def __call__(self, query: ConversationQuery) -> ConversationPage:
        # One more than asked says whether another page follows.
        found = await self._queries.conversations(dataclasses.replace(query, limit=query.limit + 1))
        items = found[: query.limit]
        more = len(found) > query.limit
        return ConversationPage(
            items=items,
            next_before_id=items[-1].conversation.id if more and items else None,
        )
