"""What WhatsApp cost a workspace over a period: billable messages and conversations per month
and category, from Meta's pricing on the status webhooks (docs/cost.md)."""

from __future__ import annotations

from datetime import datetime

from application.ports.portal import PortalQueries
from domain.cost import MonthCost, monthly_costs


class GetCostStats:
    def __init__(self, queries: PortalQueries) -> None:
        self._queries = queries

    async def __call__(self, account_id: int, start: datetime, end: datetime) -> list[MonthCost]:
        return monthly_costs(await self._queries.billed(account_id, start, end))
