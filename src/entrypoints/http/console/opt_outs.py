"""The console's opt-out page: the workspace's opted-out numbers and a button to clear one
(docs/opt-out.md)."""

from __future__ import annotations

from typing import Any

from dishka.integrations.litestar import FromDishka
from litestar import Controller, Request, get, post
from litestar.exceptions import ValidationException
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from application.use_cases.portal.opt_outs import ClearOptOut, ListOptOuts
from entrypoints.http.console.pages import PAGE_SIZE
from entrypoints.http.console.session import (
    BASE,
    CSRF_FIELD,
    check_csrf,
    console_guard,
    csrf_token,
)
from entrypoints.http.portal.cursor import decode_cursor, encode_cursor
from entrypoints.http.portal.docs import AccountId
from entrypoints.http.portal.opt_outs import OptOutId, view


def opt_outs_path(account_id: int) -> str:
    return f"{BASE}/workspaces/{account_id}/opt-outs"


class OptOutsPageController(Controller):
    path = f"{BASE}/workspaces"
    guards = [console_guard]  # noqa: RUF012
    include_in_schema = False

    @get("/{account_id:int}/opt-outs")
    async def opt_outs(
        self,
        request: Request[Any, Any, Any],
        account_id: AccountId,
        listing: FromDishka[ListOptOuts],
    ) -> Template:
        problems: list[str] = []
        before = None
        if cursor := request.query_params.get("cursor"):
            try:
                before = decode_cursor(cursor)
            except ValidationException:  # the API's 400; here a line on the page
                problems.append("the page link is out of date")
        page = None if problems else await listing(account_id, before, PAGE_SIZE)
        return Template(
            "opt_outs.html.j2",
            context={
                "account_id": account_id,
                "items": [view(o) for o in page.items] if page else [],
                "next_cursor": (
                    encode_cursor(page.next_before_id) if page and page.next_before_id else None
                ),
                "problems": problems,
                "cleared": request.query_params.get("cleared"),
                "csrf": csrf_token(request),
                "caller": request.state.console_caller,
            },
            status_code=400 if problems else 200,
        )

    @post("/{account_id:int}/opt-outs/{opt_out_id:int}/clear")
    async def clear(
        self,
        request: Request[Any, Any, Any],
        account_id: AccountId,
        opt_out_id: OptOutId,
        clear: FromDishka[ClearOptOut],
    ) -> Redirect:
        form = await request.form()
        check_csrf(request, str(form.get(CSRF_FIELD, "")))
        cleared = await clear(account_id, opt_out_id)  # another workspace's: the 404 page
        target = f"{opt_outs_path(account_id)}?cleared={cleared.id}"
        return Redirect(target, status_code=HTTP_303_SEE_OTHER)
