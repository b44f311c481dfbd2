"""``/held-sends``: failed deliveries that came in during quiet hours, waiting to be sent."""

from __future__ import annotations

from datetime import datetime

import msgspec
from dishka.integrations.litestar import FromDishka
from litestar import Controller, get

from application.ports.portal import HeldEvent
from application.use_cases.portal.list_held_sends import MAX_HELD_LISTED, ListHeldSends
from entrypoints.http.portal.docs import AccountId, problems, success


class HeldSendView(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    shipment_id: int | None
    status_log_id: int | None
    reason: str | None
    received_at: datetime  # when the event came in
    held_until: datetime | None  # when it goes out (UTC); null: it is going out right now
    detail: str  # "held until 09:00 Asia/Kolkata (...): quiet hours 21:00-09:00 Asia/Kolkata"


_EXAMPLE = [
    {
        "shipmentId": 48213,
        "statusLogId": 991204,
        "reason": "customer_unavailable",
        "receivedAt": "2026-11-20T17:30:00Z",
        "heldUntil": "2026-11-21T03:30:00Z",
        "detail": "held until 09:00 Asia/Kolkata (2026-11-21T03:30:00Z): quiet hours "
        "21:00-09:00 Asia/Kolkata",
    }
]


def _view(held: HeldEvent) -> HeldSendView:
    record = held.record
    return HeldSendView(
        shipment_id=record.shipment_id,
        status_log_id=record.status_log_id,
        reason=record.reason,
        received_at=record.received_at,
        held_until=held.due_at,
        detail=record.detail,
    )


class HeldSendsController(Controller):
    path = "/held-sends"
    tags = ["portal: conversations"]  # noqa: RUF012

    @get(
        summary="Failed deliveries held for the end of quiet hours",
        description=(
            "Events that came in during the workspace's quiet hours (see `/settings`): not "
            "sent at night, each sent at `heldUntil` through the normal path (where the usual "
            "skips, stale or superseded, still apply). Oldest first, at most "
            f"{MAX_HELD_LISTED}. Once sent, an event has a conversation and leaves this list."
        ),
        responses={**success(list[HeldSendView], "The held events", _EXAMPLE), **problems()},
    )
    async def held_sends(
        self, account_id: AccountId, held: FromDishka[ListHeldSends]
    ) -> list[HeldSendView]:
        return [_view(h) for h in await held(account_id)]
