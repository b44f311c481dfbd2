"""The funnel of a workspace per reason over a period: events, skips, sends, ticks, answers,
actions and failures; and what became of the notified shipments (``outcome_stats``).

Rules: every reason is listed, with zeros; a skip is counted under its ``skip_reason``
("other" when none is recorded); a conversation counts as sent once Meta accepted its
template, delivered at ``delivered`` or ``read``; a failure is counted under Meta's code.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from application.ports.portal import ConversationCount, EventCount, PortalQueries
from application.use_cases.portal.outcome_stats import OutcomeStats, OutcomeTally
from domain.activity import Outcome
from domain.conversation import ConversationState
from domain.reasons import FdrReason
from domain.status import MessageStatus

_DELIVERED = (MessageStatus.DELIVERED, MessageStatus.READ)

__all__ = ["FunnelStats", "GetFunnelStats", "OutcomeStats", "OutcomeTally", "ReasonFunnel"]


@dataclass(slots=True, kw_only=True)
class ReasonFunnel:
    reason: str  # a reason key, "unknown", or "all" for the total
    fdr_events: int = 0
    skipped: int = 0
    skipped_by: Counter[str] = field(default_factory=Counter)
    held: int = 0  # events waiting for the end of quiet hours (docs/quiet-hours.md)
    sent: int = 0  # Meta accepted the template
    delivered: int = 0
    read: int = 0
    answered: int = 0
    action_taken: int = 0
    resolved: int = 0
    reminded: int = 0  # conversations Meta took a reminder for (docs/scheduler.md)
    automatic_actions: int = 0  # the workspace's default action taken for a silent shopper
    failed: int = 0
    failed_by: Counter[int | None] = field(default_factory=Counter)

    def add_event(self, row: EventCount) -> None:
        self.fdr_events += row.count
        if row.outcome is Outcome.SKIPPED:
            self.skipped += row.count
            self.skipped_by[row.skip_reason or "other"] += row.count
        elif row.outcome is Outcome.HELD:
            self.held += row.count

    def add_conversations(self, row: ConversationCount) -> None:
        n = row.count
        self.sent += n if row.accepted else 0
        self.delivered += n if row.template_status in _DELIVERED else 0
        self.read += n if row.template_status is MessageStatus.READ else 0
        self.answered += n if row.answered else 0
        self.action_taken += n if row.action_taken else 0
        self.resolved += n if row.state is ConversationState.RESOLVED else 0
        self.reminded += n if row.reminded else 0
        self.automatic_actions += n if row.automatic_action else 0
        if row.template_status is MessageStatus.FAILED:
            self.failed += n
            self.failed_by[row.error_code] += n


@dataclass(frozen=True, slots=True, kw_only=True)
class FunnelStats:
    start: datetime
    end: datetime
    reasons: list[ReasonFunnel]  # every reason, "unknown" last
    total: ReasonFunnel
    outcomes: OutcomeStats


class GetFunnelStats:
    def __init__(self, queries: PortalQueries) -> None:
        self._queries = queries

    async def __call__(self, account_id: int, start: datetime, end: datetime) -> FunnelStats:
        counts = await self._queries.funnel(account_id, start, end)
        funnels = {r.value: ReasonFunnel(reason=r.value) for r in FdrReason}
        total = ReasonFunnel(reason="all")
        for event in counts.events:
            funnels.setdefault(event.reason, ReasonFunnel(reason=event.reason)).add_event(event)
            total.add_event(event)
        for row in counts.conversations:
            funnels[row.reason.value].add_conversations(row)
            total.add_conversations(row)
        outcomes = OutcomeStats.of(await self._queries.outcomes(account_id, start, end))
        return FunnelStats(
            start=start, end=end, reasons=list(funnels.values()), total=total, outcomes=outcomes
        )
