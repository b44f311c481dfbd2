"""The funnel page: per reason, how many events became sends, ticks, answers and actions,
drawn as bars (SVG made here, no script), with why events were skipped and Meta's errors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from application.use_cases.portal.get_funnel_stats import FunnelStats, ReasonFunnel

DEFAULT_PERIOD = timedelta(days=30)  # as the API's /stats

STAGES = (
    ("fdr_events", "events"),
    ("skipped", "skipped"),
    ("held", "held for quiet hours"),
    ("sent", "sent"),
    ("delivered", "delivered"),
    ("read", "read"),
    ("answered", "answered"),
    ("action_taken", "action taken"),
    ("resolved", "resolved"),
    ("failed", "failed"),
)


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    count: int
    percent: float  # of the reason's events: the bar's length


@dataclass(frozen=True, slots=True)
class ReasonChart:
    reason: str
    bars: list[Bar]
    skipped_by: list[tuple[str, int]]
    failed_by: list[tuple[int | None, int]]


def period(
    start: datetime | None, end: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    until = end or datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC)
    return start or until - DEFAULT_PERIOD, until


def chart(funnel: ReasonFunnel) -> ReasonChart:
    scale = max(funnel.fdr_events, 1)
    return ReasonChart(
        reason=funnel.reason,
        bars=[
            Bar(label, getattr(funnel, name), 100 * getattr(funnel, name) / scale)
            for name, label in STAGES
        ],
        skipped_by=sorted(funnel.skipped_by.items()),
        failed_by=sorted(funnel.failed_by.items(), key=lambda i: (i[0] is None, i[0] or 0)),
    )


def funnel_context(stats: FunnelStats) -> dict[str, Any]:
    """The total first, then each reason that had an event or a conversation."""
    shown = [r for r in stats.reasons if r.fdr_events or r.sent or r.failed]
    return {
        "start": stats.start,
        "last_day": stats.end - timedelta(days=1),
        "charts": [chart(stats.total), *(chart(r) for r in shown)],
    }
