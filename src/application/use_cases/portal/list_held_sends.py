"""The workspace's failed deliveries held for the end of quiet hours (docs/quiet-hours.md)."""

from __future__ import annotations

from application.ports.portal import HeldEvent, PortalQueries

#: At most this many are listed (the oldest first: they go out first).
MAX_HELD_LISTED = 500


class ListHeldSends:
    def __init__(self, queries: PortalQueries) -> None:
        self._queries = queries

    async def __call__(self, account_id: int) -> list[HeldEvent]:
        return await self._queries.held(account_id, MAX_HELD_LISTED)
