"""``/stats``: the funnel per reason over a period."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

import msgspec
from dishka.integrations.litestar import FromDishka
from litestar import Controller, get
from litestar.openapi.spec import Example
from litestar.params import QueryParameter

from application.ports.clock import Clock
from application.use_cases.portal.get_cost_stats import GetCostStats
from application.use_cases.portal.get_funnel_stats import GetFunnelStats, ReasonFunnel
from entrypoints.http.portal.docs import AccountId, problems, success
from entrypoints.http.portal.hooks import QUERY
from entrypoints.http.portal.period import EARLIEST, check_order, moment

DEFAULT_PERIOD = timedelta(days=30)


class SkipCount(msgspec.Struct, frozen=True):
    why: str  # whatsapp_disabled, unknown_reason, bad_phone, no_template, ...
    count: int


class FailureCount(msgspec.Struct, frozen=True, rename="camel"):
    error_code: int | None  # Meta's error code; null when none was given
    count: int


class ReasonStats(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    reason: str  # a reason key, "unknown" (not classified), or "all" (the total)
    fdr_events: int  # failed-delivery events received
    skipped: int  # events that sent nothing
    skipped_by: list[SkipCount]
    sent: int  # templates Meta accepted
    delivered: int  # templates delivered (or read)
    read: int
    answered: int  # conversations the shopper replied to
    action_taken: int  # conversations with an NDR action done
    resolved: int  # conversations whose answer was acted on
    failed: int  # templates that failed
    failed_by: list[FailureCount]


class CostStats(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    month: str  # 2026-11 (UTC)
    pricing_model: str  # PMP (per message) or CBP (per conversation, before July 2025)
    category: str  # Meta's: utility, marketing, authentication, service, ...
    billable_messages: int
    billable_conversations: int  # CBP only


class FunnelStatsView(msgspec.Struct, frozen=True, kw_only=True):
    start: datetime = msgspec.field(name="from")
    end: datetime = msgspec.field(name="to")
    reasons: list[ReasonStats]
    total: ReasonStats
    cost: list[CostStats] = msgspec.field(default_factory=list)


def _stats(funnel: ReasonFunnel) -> ReasonStats:
    return ReasonStats(
        reason=funnel.reason,
        fdr_events=funnel.fdr_events,
        skipped=funnel.skipped,
        skipped_by=[SkipCount(why, n) for why, n in sorted(funnel.skipped_by.items())],
        sent=funnel.sent,
        delivered=funnel.delivered,
        read=funnel.read,
        answered=funnel.answered,
        action_taken=funnel.action_taken,
        resolved=funnel.resolved,
        failed=funnel.failed,
        failed_by=[
            FailureCount(code, n)
            for code, n in sorted(funnel.failed_by.items(), key=lambda i: (i[0] is None, i[0]))
        ],
    )


_REASON_EXAMPLE: dict[str, object] = {
    "reason": "otp_cancellation",
    "fdrEvents": 120,
    "skipped": 12,
    "skippedBy": [{"why": "bad_phone", "count": 4}, {"why": "whatsapp_disabled", "count": 8}],
    "sent": 106,
    "delivered": 101,
    "read": 88,
    "answered": 61,
    "actionTaken": 54,
    "resolved": 57,
    "failed": 2,
    "failedBy": [{"errorCode": 131026, "count": 2}],
}
_EXAMPLE: dict[str, object] = {
    "from": "2026-10-21T00:00:00Z",
    "to": "2026-11-20T00:00:00Z",
    "reasons": [_REASON_EXAMPLE],
    "total": {**_REASON_EXAMPLE, "reason": "all"},
    "cost": [
        {
            "month": "2026-11",
            "pricingModel": "PMP",
            "category": "utility",
            "billableMessages": 96,
            "billableConversations": 0,
        }
    ],
}


class StatsController(Controller):
    path = "/stats"
    tags = ["portal: conversations"]  # noqa: RUF012

    @get(
        opt={QUERY: ("from", "to")},
        summary="The funnel per reason over a period",
        description=(
            "Per reason: FDR events received, skipped (by why), templates sent (accepted by "
            "Meta), delivered, read, answered, NDR action taken, resolved and failed (by Meta "
            "error code), plus the total. Events count by when they were received, the rest by "
            "when the conversation started. `cost`: the workspace's messages Meta charges for "
            "(its `pricing` on the status webhooks), per month, pricing model and category. "
            "Default period: the last 30 days."
        ),
        responses={
            **success(
                FunnelStatsView,
                "The funnel",
                _EXAMPLE,
            ),
            **problems(),
        },
    )
    async def get_stats(
        self,
        account_id: AccountId,
        stats: FromDishka[GetFunnelStats],
        cost: FromDishka[GetCostStats],
        clock: FromDishka[Clock],
        start: Annotated[
            str | None,
            QueryParameter(
                name="from",
                format="date-time",
                max_length=64,
                description="Start, inclusive (ISO 8601; no offset means UTC). Default: `to` "
                "minus 30 days.",
                examples=[Example(value="2026-11-01T00:00:00Z")],
            ),
        ] = None,
        end: Annotated[
            str | None,
            QueryParameter(
                name="to",
                format="date-time",
                max_length=64,
                description="End, exclusive. Default: now.",
            ),
        ] = None,
    ) -> FunnelStatsView:
        until = moment(end, "to") or clock.now()
        since = moment(start, "from") or max(_minus(until, DEFAULT_PERIOD), EARLIEST)
        check_order(since, until)
        result = await stats(account_id, since, until)
        return FunnelStatsView(
            start=result.start,
            end=result.end,
            reasons=[_stats(r) for r in result.reasons],
            total=_stats(result.total),
            cost=[
                CostStats(
                    month=c.month,
                    pricing_model=c.pricing_model,
                    category=c.category,
                    billable_messages=c.billable_messages,
                    billable_conversations=c.billable_conversations,
                )
                for c in await cost(account_id, since, until)
            ],
        )


def _minus(moment: datetime, period: timedelta) -> datetime:
    try:
        return moment - period
    except OverflowError:
        return EARLIEST
