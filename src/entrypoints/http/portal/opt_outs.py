"""``/opt-outs``: the shoppers' numbers that asked for no more messages (docs/opt-out.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec
from dishka.integrations.litestar import FromDishka
from litestar import Controller, delete, get
from litestar.openapi.spec import Example
from litestar.params import Parameter

from application.use_cases.portal.opt_outs import ClearOptOut, ListOptOuts
from domain.opt_out import OptOut
from domain.phone import mask
from entrypoints.http.portal.cursor import decode_cursor, encode_cursor
from entrypoints.http.portal.docs import MAX_ID, AccountId, problems, success
from entrypoints.http.portal.hooks import QUERY

OptOutId = Annotated[
    int,
    Parameter(gt=0, le=MAX_ID, description="An opt-out id.", examples=[Example(value=7)]),
]
_Limit = Annotated[int, Parameter(ge=1, le=200, description="Page size.")]
_Cursor = Annotated[
    str | None,
    Parameter(max_length=64, description="`nextCursor` of the previous page."),
]

EXAMPLE = {
    "id": 7,
    "customerPhone": "********1009",
    "scope": "all",
    "source": "text",
    "detail": "STOP",
    "optedOutAt": "2026-11-20T10:41:02Z",
    "updatedAt": "2026-11-20T10:41:02Z",
}


class OptOutView(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    id: int
    customer_phone: str  # masked: the last four digits
    scope: str  # all: no template is sent; marketing: Meta's preference, shown only
    source: str  # text, user_preferences, portal
    detail: str
    opted_out_at: datetime
    updated_at: datetime


class OptOutPageView(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    items: list[OptOutView]
    next_cursor: str | None


def view(o: OptOut) -> OptOutView:
    assert o.id is not None
    return OptOutView(
        id=o.id,
        customer_phone=mask(o.customer_phone),
        scope=o.scope.value,
        source=o.source.value,
        detail=o.detail,
        opted_out_at=o.opted_out_at,
        updated_at=o.updated_at,
    )


class OptOutsController(Controller):
    path = "/opt-outs"
    tags = ["portal: opt-outs"]  # noqa: RUF012

    @get(
        opt={QUERY: ("limit", "cursor")},
        summary="The workspace's opted-out numbers, newest first",
        description=(
            "Numbers that wrote STOP (scope `all`: no template is sent to them) or stopped "
            "marketing messages in WhatsApp (scope `marketing`: shown, our utility templates "
            "still go). Numbers are masked to their last four digits."
        ),
        responses={
            **success(
                OptOutPageView, "A page of opt-outs", {"items": [EXAMPLE], "nextCursor": None}
            ),
            **problems(),
        },
    )
    async def list_opt_outs(
        self,
        account_id: AccountId,
        opt_outs: FromDishka[ListOptOuts],
        limit: _Limit = 50,
        cursor: _Cursor = None,
    ) -> OptOutPageView:
        before = None if cursor is None else decode_cursor(cursor)
        page = await opt_outs(account_id, before, limit)
        return OptOutPageView(
            items=[view(o) for o in page.items],
            next_cursor=None if page.next_before_id is None else encode_cursor(page.next_before_id),
        )

    @delete(
        "/{opt_out_id:int}",
        summary="Opt a number back in",
        description=(
            "Templates go to the number again (as after the shopper's START). Another "
            "workspace's opt-out, or an id that names none, is 404; clearing twice is 204."
        ),
        status_code=204,
        responses=problems(404),
    )
    async def clear_opt_out(
        self, account_id: AccountId, opt_out_id: OptOutId, clear: FromDishka[ClearOptOut]
    ) -> None:
        await clear(account_id, opt_out_id)
