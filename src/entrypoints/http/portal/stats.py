"""``/stats``: the funnel per reason over a period, with what became of the shipments;
``/outcomes.csv``: the conversations with their outcomes."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

import msgspec
from dishka.integrations.litestar import FromDishka
from litestar import Controller, get
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example
from litestar.params import QueryParameter
from litestar.response import Stream

from application.ports.clock import Clock
from application.use_cases.portal.export_outcomes import COLUMNS, ExportOutcomes
from application.use_cases.portal.get_cost_stats import GetCostStats
from application.use_cases.portal.get_funnel_stats import (
    GetFunnelStats,
    OutcomeStats,
    OutcomeTally,
    ReasonFunnel,
)
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
    held: int  # events waiting for the end of quiet hours, sent then (docs/quiet-hours.md)
    sent: int  # templates Meta accepted
    delivered: int  # templates delivered (or read)
    read: int
    answered: int  # conversations the shopper replied to
    action_taken: int  # conversations with an NDR action done
    resolved: int  # conversations whose answer was acted on
    reminded: int  # conversations whose one reminder Meta took (docs/scheduler.md)
    automatic_actions: int  # silent shoppers' conversations the default action was taken for
    failed: int  # templates that failed
    failed_by: list[FailureCount]


class OutcomeTallyView(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    key: str  # the reason, courier or answer ("no_answer"); "all" for the total
    notified: int  # conversations whose template Meta accepted
    delivered: int  # delivered after the notification
    delivered_rate: float | None  # of notified; null when none
    rto: int  # returned to origin after the notification
    rto_rate: float | None
    cancelled: int
    failed_again: int  # another failed attempt, nothing final yet
    pending: int  # nothing happened to the shipment yet
    judged: int  # answers acted on and followed by the courier's next event
    not_honoured: int  # of those, the courier did not do what the shopper chose
    not_honoured_rate: float | None  # of judged


class OutcomesView(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    total: OutcomeTallyView
    by_reason: list[OutcomeTallyView]
    by_courier: list[OutcomeTallyView]
    by_answer: list[OutcomeTallyView]


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
    outcomes: OutcomesView
    cost: list[CostStats] = msgspec.field(default_factory=list)


def _tally(t: OutcomeTally) -> OutcomeTallyView:
    return OutcomeTallyView(
        key=t.key,
        notified=t.notified,
        delivered=t.delivered,
        delivered_rate=t.delivered_rate,
        rto=t.rto,
        rto_rate=t.rto_rate,
        cancelled=t.cancelled,
        failed_again=t.failed_again,
        pending=t.pending,
        judged=t.judged,
        not_honoured=t.not_honoured,
        not_honoured_rate=t.not_honoured_rate,
    )


def _outcomes(o: OutcomeStats) -> OutcomesView:
    return OutcomesView(
        total=_tally(o.total),
        by_reason=[_tally(t) for t in o.by_reason],
        by_courier=[_tally(t) for t in o.by_courier],
        by_answer=[_tally(t) for t in o.by_answer],
    )


def _stats(funnel: ReasonFunnel) -> ReasonStats:
    return ReasonStats(
        reason=funnel.reason,
        fdr_events=funnel.fdr_events,
        skipped=funnel.skipped,
        skipped_by=[SkipCount(why, n) for why, n in sorted(funnel.skipped_by.items())],
        held=funnel.held,
        sent=funnel.sent,
        delivered=funnel.delivered,
        read=funnel.read,
        answered=funnel.answered,
        action_taken=funnel.action_taken,
        resolved=funnel.resolved,
        reminded=funnel.reminded,
        automatic_actions=funnel.automatic_actions,
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
    "held": 0,
    "sent": 106,
    "delivered": 101,
    "read": 88,
    "answered": 61,
    "actionTaken": 54,
    "resolved": 57,
    "reminded": 30,
    "automaticActions": 6,
    "failed": 2,
    "failedBy": [{"errorCode": 131026, "count": 2}],
}
_TALLY_EXAMPLE: dict[str, object] = {
    "key": "all",
    "notified": 106,
    "delivered": 71,
    "deliveredRate": 0.6698,
    "rto": 20,
    "rtoRate": 0.1887,
    "cancelled": 3,
    "failedAgain": 8,
    "pending": 4,
    "judged": 50,
    "notHonoured": 6,
    "notHonouredRate": 0.12,
}
_EXAMPLE: dict[str, object] = {
    "from": "2026-10-21T00:00:00Z",
    "to": "2026-11-20T00:00:00Z",
    "reasons": [_REASON_EXAMPLE],
    "total": {**_REASON_EXAMPLE, "reason": "all"},
    "outcomes": {
        "total": _TALLY_EXAMPLE,
        "byReason": [{**_TALLY_EXAMPLE, "key": "otp_cancellation"}],
        "byCourier": [{**_TALLY_EXAMPLE, "key": "Delhivery"}],
        "byAnswer": [{**_TALLY_EXAMPLE, "key": "no_answer"}],
    },
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

From = Annotated[
    str | None,
    QueryParameter(
        name="from",
        format="date-time",
        max_length=64,
        description="Start, inclusive (ISO 8601; no offset means UTC). Default: `to` "
        "minus 30 days.",
        examples=[Example(value="2026-11-01T00:00:00Z")],
    ),
]
To = Annotated[
    str | None,
    QueryParameter(
        name="to",
        format="date-time",
        max_length=64,
        description="End, exclusive. Default: now.",
    ),
]


def _period(start: str | None, end: str | None, clock: Clock) -> tuple[datetime, datetime]:
    until = moment(end, "to") or clock.now()
    since = moment(start, "from") or max(_minus(until, DEFAULT_PERIOD), EARLIEST)
    check_order(since, until)
    return since, until


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
        start: From = None,
        end: To = None,
    ) -> FunnelStatsView:
        since, until = _period(start, end, clock)
        result = await stats(account_id, since, until)
        return FunnelStatsView(
            start=result.start,
            end=result.end,
            reasons=[_stats(r) for r in result.reasons],
            total=_stats(result.total),
            outcomes=_outcomes(result.outcomes),
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


_CSV_EXAMPLE = ",".join(COLUMNS) + (
    "\r\n4711,2026-11-20T10:31:02+00:00,17148471,4980116095129,1704612602165,"
    "otp_cancellation,Delhivery,resolved,cancel,rto,rto_initiated,true,"
    "2026-11-21T06:10:00+00:00\r\n"
)


class OutcomesExportController(Controller):
    path = "/outcomes.csv"
    tags = ["portal: conversations"]  # noqa: RUF012

    @get(
        opt={QUERY: ("from", "to")},
        media_type="text/csv; charset=utf-8",
        summary="The conversations of a period with their outcomes, as CSV",
        description=(
            "One line per conversation started in the period (oldest first): the shipment, "
            "reason, courier, state, the shopper's answer (`no_answer` when none), what became "
            "of the shipment (`delivered`, `rto`, `cancelled`, `failed_again`, empty while "
            "nothing happened), the courier's next event and whether it honoured the answer "
            "(`true`, `false`, empty when there is nothing to judge). Default period: the "
            "last 30 days."
        ),
        responses={
            200: ResponseSpec(
                data_container=str,
                description="The CSV (RFC 4180, with a header line)",
                media_type="text/csv",
                examples=[Example(summary="Two lines", value=_CSV_EXAMPLE)],
                generate_examples=False,
            ),
            **problems(),
        },
    )
    async def export(
        self,
        account_id: AccountId,
        export: FromDishka[ExportOutcomes],
        clock: FromDishka[Clock],
        start: From = None,
        end: To = None,
    ) -> Stream:
        since, until = _period(start, end, clock)
        name = f"whatsapp-outcomes-{account_id}-{since:%Y%m%d}-{until:%Y%m%d}.csv"
        return Stream(
            export(account_id, since, until),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )


def _minus(moment: datetime, period: timedelta) -> datetime:
    try:
        return moment - period
    except OverflowError:
        return EARLIEST
