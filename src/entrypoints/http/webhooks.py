"""Meta's webhook: the GET handshake and the signed POST, per connection."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from dishka.integrations.litestar import FromDishka
from litestar import Controller, MediaType, Request, Response, get, post
from litestar.params import FromPath, QueryParameter

from application.use_cases.receive_webhook import ReceiveWebhook
from entrypoints.http.problems import problem
from infrastructure.config import Config

_VERIFY = "200 with `hub.challenge` as the raw body when the token matches; 403 otherwise."
_RECEIVE = (
    "`X-Hub-Signature-256` is checked over the raw body with the connection's app secret "
    "(the bare path is the default Eshopbox connection). A bad or missing signature is 401 and "
    "nothing is stored; the body is stored before the 200 and processed after it."
)

Mode = Annotated[str, QueryParameter(name="hub.mode")]
Token = Annotated[str, QueryParameter(name="hub.verify_token")]
Challenge = Annotated[str, QueryParameter(name="hub.challenge")]


class WhatsAppWebhookController(Controller):
    path = "/webhooks/whatsapp"
    tags = ["meta webhook"]  # noqa: RUF012

    # One handler per method for both paths: the bare path is the default Eshopbox connection.
    @get(
        ["/", "/{connection_id:int}"],
        media_type=MediaType.TEXT,
        summary="Meta's verification handshake (a workspace's own app: with its connection id)",
        description=_VERIFY,
    )
    async def verify(
        self,
        config: FromDishka[Config],
        connection_id: FromPath[int | None] = None,
        mode: Mode = "",
        token: Token = "",
        challenge: Challenge = "",
    ) -> Response[Any]:
        expected = config.meta_verify_token or ""
        if mode == "subscribe" and expected and hmac.compare_digest(token, expected):
            return Response(challenge, media_type=MediaType.TEXT, status_code=200)
        return problem(403, "Forbidden", "verification token does not match")

    @post(
        ["/", "/{connection_id:int}"],
        media_type=MediaType.TEXT,
        summary="Statuses and answers from Meta (a workspace's own app: with its connection id)",
        description=_RECEIVE,
    )
    async def receive(
        self,
        request: Request[Any, Any, Any],
        receive: FromDishka[ReceiveWebhook],
        connection_id: FromPath[int | None] = None,
    ) -> Response[Any]:
        body = await request.body()
        await receive(connection_id, body, request.headers.get("x-hub-signature-256"))
        pump = getattr(request.app.state, "webhook_pump", None)
        if pump is not None:
            pump.kick()
        return Response("ok", media_type=MediaType.TEXT, status_code=200)
