"""The console's pages: log in, a workspace's conversations, one conversation as a timeline."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from dishka.integrations.litestar import FromDishka
from litestar import Controller, Request, Response, get, post
from litestar.exceptions import ValidationException
from litestar.params import QueryParameter
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER, HTTP_401_UNAUTHORIZED

from application.ports.clock import Clock
from application.ports.repositories import ConversationQuery
from application.use_cases.portal.get_funnel_stats import GetFunnelStats
from application.use_cases.portal.list_conversations import ListConversations
from application.use_cases.portal.list_held_sends import ListHeldSends
from application.use_cases.portal.show_conversation import ShowConversation
from domain.conversation import ConversationState
from domain.errors import Unauthenticated
from domain.ndr import NdrActionKind
from domain.outcomes import NO_ANSWER
from domain.reasons import FdrReason
from entrypoints.http.console.funnel import funnel_context, period
from entrypoints.http.console.session import (
    BASE,
    CSRF_FIELD,
    SESSION_COOKIE,
    OneTimeLogins,
    caller_of,
    check_csrf,
    console_guard,
    csrf_token,
    session_cookie,
    with_csrf_cookie,
)
from entrypoints.http.console.timeline import timeline
from entrypoints.http.portal.conversation_views import listed
from entrypoints.http.portal.cursor import decode_cursor, encode_cursor
from entrypoints.http.portal.docs import MAX_ID, AccountId, ConversationId
from infrastructure.config import Config

PAGE_SIZE = 25
_Open = Annotated[str | None, QueryParameter(max_length=32)]
_Code = Annotated[str, QueryParameter(max_length=64)]
STATES = [s.value for s in ConversationState]
REASONS = [r.value for r in FdrReason]
#: What the shopper chose: the NDR action asked of the ESB, or nothing (docs/console.md).
ANSWERS = [*(k.value for k in NdrActionKind), NO_ANSWER]


def workspace_path(account_id: int) -> str:
    return f"{BASE}/workspaces/{account_id}/conversations"


class LoginController(Controller):
    path = BASE
    include_in_schema = False

    @get("/")
    async def home(self) -> Redirect:
        return Redirect(f"{BASE}/workspaces")

    @get("/login")
    async def login_form(self, request: Request[Any, Any, Any]) -> Response[Any]:
        return with_csrf_cookie(request, _login_page(request))

    @post("/login")
    async def log_in(self, request: Request[Any, Any, Any]) -> Response[Any]:
        form = await request.form()
        check_csrf(request, str(form.get(CSRF_FIELD, "")))
        token = str(form.get("token", "")).strip()
        try:
            caller = await caller_of(request, token)
        except Unauthenticated as exc:
            return _login_page(request, error=str(exc) or "the token was refused")
        only = sorted(caller.accounts)
        target = (
            workspace_path(only[0])
            if len(only) == 1 and not caller.operator
            else f"{BASE}/workspaces"
        )
        response = Redirect(target, status_code=HTTP_303_SEE_OTHER)
        response.set_cookie(session_cookie(request, token))
        return response

    @get("/login/once")
    async def log_in_once(self, request: Request[Any, Any, Any], code: _Code = "") -> Response[Any]:
        """The demo's printed link: the code is spent, the browser gets the session cookie."""
        logins: OneTimeLogins | None = request.app.state.get(OneTimeLogins.STATE_KEY)
        token = logins.redeem(code) if logins is not None and code else None
        if token is None:
            page = _login_page(
                request,
                error="this login link was used already or is not of "
                "this run: paste the token the demo printed",
            )
            return with_csrf_cookie(request, page)
        await caller_of(request, token)  # as any login: a token the portal would refuse is not kept
        response = Redirect(f"{BASE}/workspaces", status_code=HTTP_303_SEE_OTHER)
        response.set_cookie(session_cookie(request, token))
        return with_csrf_cookie(request, response)

    @post("/logout")
    async def log_out(self, request: Request[Any, Any, Any]) -> Response[Any]:
        form = await request.form()
        check_csrf(request, str(form.get(CSRF_FIELD, "")))
        response = Redirect(f"{BASE}/login", status_code=HTTP_303_SEE_OTHER)
        response.delete_cookie(SESSION_COOKIE, path=BASE)
        return response


def _login_page(request: Request[Any, Any, Any], error: str | None = None) -> Template:
    return Template(
        "login.html.j2",
        context={"csrf": csrf_token(request), "error": error},
        status_code=HTTP_401_UNAUTHORIZED if error else 200,
    )


class WorkspaceController(Controller):
    path = f"{BASE}/workspaces"
    guards = [console_guard]  # noqa: RUF012
    include_in_schema = False

    @get("/")
    async def workspaces(self, request: Request[Any, Any, Any], open: _Open = None) -> Any:
        if open and open.strip().isdigit():
            return Redirect(workspace_path(int(open.strip())))
        caller = request.state.console_caller
        return _page(
            request,
            "workspaces.html.j2",
            accounts=sorted(caller.accounts),
            operator=caller.operator,
        )

    @get("/{account_id:int}/conversations")
    async def conversations(
        self,
        request: Request[Any, Any, Any],
        account_id: AccountId,
        listing: FromDishka[ListConversations],
        held: FromDishka[ListHeldSends],
    ) -> Template:
        filters, problems = _filters(dict(request.query_params))
        page = None
        if not problems:
            page = await listing(ConversationQuery(account_id=account_id, **filters))
        shown = dict(request.query_params)
        shown.pop("cursor", None)
        return _page(
            request,
            "conversations.html.j2",
            status_code=400 if problems else 200,
            account_id=account_id,
            items=[listed(i) for i in page.items] if page else [],
            next_cursor=(
                encode_cursor(page.next_before_id) if page and page.next_before_id else None
            ),
            filters=shown,
            problems=problems,
            reasons=REASONS,
            states=STATES,
            answers=ANSWERS,
            held=await held(account_id),
        )

    @get("/{account_id:int}/funnel")
    async def funnel(
        self,
        request: Request[Any, Any, Any],
        account_id: AccountId,
        stats: FromDishka[GetFunnelStats],
        clock: FromDishka[Clock],
    ) -> Template:
        query = dict(request.query_params)
        problems: list[str] = []
        since, until = period(*days(query, problems), clock.now())
        context = {} if problems else funnel_context(await stats(account_id, since, until))
        return _page(
            request,
            "funnel.html.j2",
            status_code=400 if problems else 200,
            account_id=account_id,
            filters=query,
            problems=problems,
            **context,
        )

    @get("/{account_id:int}/conversations/{conversation_id:int}")
    async def conversation(
        self,
        request: Request[Any, Any, Any],
        account_id: AccountId,
        conversation_id: ConversationId,
        show: FromDishka[ShowConversation],
        config: FromDishka[Config],
    ) -> Template:
        shown = await show(account_id, conversation_id)
        return _page(
            request,
            "conversation.html.j2",
            account_id=account_id,
            sandbox=config.meta_sandbox,  # the sandbox phone exists there only
            **timeline(shown),
        )


def _page(
    request: Request[Any, Any, Any], name: str, *, status_code: int = 200, **context: Any
) -> Template:
    caller = getattr(request.state, "console_caller", None)
    return Template(
        name,
        context={**context, "csrf": csrf_token(request), "caller": caller},
        status_code=status_code,
    )


def days(query: dict[str, str], problems: list[str]) -> tuple[datetime | None, datetime | None]:
    """``from`` and ``to`` as days (UTC, both included): the bounds ``[start, end)``."""
    bounds: list[datetime | None] = []
    for name, shift in (("from", 0), ("to", 1)):
        value = query.get(name)
        try:
            day = date.fromisoformat(value) if value else None
        except ValueError:
            problems.append(f"{name}: a date such as 2026-11-20")
            day = None
        # "to" is the last day shown, so the bound is the next midnight.
        bounds.append(
            None if day is None else datetime.combine(day, time(), UTC) + timedelta(days=shift)
        )
    start, end = bounds
    if start is not None and end is not None and start >= end:
        problems.append("from: must not be after to")
    return start, end


def _filters(query: dict[str, str]) -> tuple[dict[str, Any], list[str]]:
    """The list's filters from the form (empty fields mean "any"); what cannot be read is
    said on the page, never a 500."""
    filters: dict[str, Any] = {"limit": PAGE_SIZE}
    problems: list[str] = []
    if value := query.get("reason"):
        if value in REASONS:
            filters["reason"] = FdrReason(value)
        else:
            problems.append(f"unknown reason {value!r}")
    if value := query.get("state"):
        if value in STATES:
            filters["state"] = ConversationState(value)
        else:
            problems.append(f"unknown state {value!r}")
    if value := query.get("answer"):
        if value in ANSWERS:
            filters["answer"] = value
        else:
            problems.append(f"unknown answer {value!r}")
    if value := query.get("shipment", "").strip():
        if value.isdigit() and 0 < int(value) <= MAX_ID:
            filters["shipment_id"] = int(value)
        else:
            problems.append("the shipment is a number")
    start, end = days(query, problems)
    if start is not None:
        filters["created_from"] = start
    if end is not None:
        filters["created_to"] = end
    if value := query.get("cursor"):
        try:
            filters["before_id"] = decode_cursor(value)
        except ValidationException:  # the API's 400; here a line on the page
            problems.append("the page link is out of date")
    return filters, problems
