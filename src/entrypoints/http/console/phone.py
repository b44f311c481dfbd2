"""The sandbox phone: one shopper's chat as the shopper sees it, in demo and sandbox mode only.
Each tap or text goes to the service as Meta would send it: a webhook signed with the sandbox
app secret, POSTed to ``/webhooks/whatsapp`` (docs/console.md)."""

from __future__ import annotations

from typing import Annotated, Any

import httpx
from dishka import AsyncContainer
from dishka.integrations.litestar import FromDishka
from litestar import Controller, Request, get, post
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.params import QueryParameter
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER

from application.use_cases.portal.show_conversation import ShowConversation
from domain.errors import NotFound, UpstreamUnavailable
from domain.settings import SenderConnection
from entrypoints.http.console.session import BASE, CSRF_FIELD, check_csrf, console_guard, csrf_token
from entrypoints.http.console.timeline import timeline
from entrypoints.http.portal.docs import AccountId, ConversationId
from infrastructure.config import Config
from infrastructure.meta import webhook_builder as build
from infrastructure.meta.webhook import sign

_Part = Annotated[str | None, QueryParameter(max_length=8)]
TEXT_MAX = 1000


async def sandbox_only(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Outside the sandbox a real shopper's phone answers: there is no page to play one."""
    container: AsyncContainer = connection.state.dishka_container
    config: Config = await container.get(Config)
    if not config.meta_sandbox:
        raise NotFound("page", connection.url.path)


class PhoneController(Controller):
    path = f"{BASE}/workspaces/{{account_id:int}}/conversations/{{conversation_id:int}}/phone"
    guards = [console_guard, sandbox_only]  # noqa: RUF012
    include_in_schema = False

    @get("/")
    async def phone(
        self,
        request: Request[Any, Any, Any],
        account_id: AccountId,
        conversation_id: ConversationId,
        show: FromDishka[ShowConversation],
        part: _Part = None,
    ) -> Template:
        shown = await show(account_id, conversation_id)
        return Template(
            "chat.html.j2" if part == "chat" else "phone.html.j2",
            context={
                **timeline(shown),
                "account_id": account_id,
                "csrf": csrf_token(request),
                "caller": request.state.console_caller,
            },
        )

    @post("/")
    async def answer(
        self,
        request: Request[Any, Any, Any],
        account_id: AccountId,
        conversation_id: ConversationId,
        show: FromDishka[ShowConversation],
        sender: FromDishka[SenderConnection],
    ) -> Redirect:
        form = await request.form()
        check_csrf(request, str(form.get(CSRF_FIELD, "")))
        shown = await show(account_id, conversation_id)
        shopper = shown.view.conversation.customer_phone
        kind = str(form.get("kind", ""))
        context, reply, title = (str(form.get(k, "")) for k in ("context", "reply", "title"))
        text = str(form.get("text", "")).strip()[:TEXT_MAX]
        number = sender.phone_number_id
        if kind == "button":
            body = build.button_tap(shopper, context, reply, title, phone_number_id=number)
        elif kind == "choice":
            body = build.interactive_tap(shopper, context, reply, title, phone_number_id=number)
        elif text:
            body = build.text_message(shopper, text, phone_number_id=number)
        else:
            return Redirect(request.url.path, status_code=HTTP_303_SEE_OTHER)
        await _deliver(str(request.base_url).rstrip("/"), body, sender.app_secret)
        return Redirect(request.url.path, status_code=HTTP_303_SEE_OTHER)


async def _deliver(base_url: str, body: bytes, secret: str) -> None:
    """Through the real route, signature check included, as Meta would deliver it."""
    headers = {"X-Hub-Signature-256": sign(body, secret), "Content-Type": "application/json"}
    try:
        async with httpx.AsyncClient(timeout=30) as client:
            response = await client.post(
                f"{base_url}/webhooks/whatsapp", content=body, headers=headers
            )
    except httpx.HTTPError as exc:
        raise UpstreamUnavailable(f"the webhook route did not answer: {exc}") from exc
    if response.status_code != 200:
        raise UpstreamUnavailable(f"the webhook route answered {response.status_code}")
