"""``POST /pubsub/push/fdr``: a Pub/Sub push subscription delivers shipment events here."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import msgspec
from dishka import AsyncContainer
from dishka.integrations.litestar import FromDishka
from litestar import Controller, Response, post
from litestar.connection import ASGIConnection
from litestar.exceptions import ValidationException
from litestar.handlers.base import BaseRouteHandler
from litestar.params import JSONBody

from application.ports.auth import PushAuthenticator
from application.use_cases.intake import ShipmentEventIntake
from application.use_cases.notify_failed_delivery import Disposition
from entrypoints.http.credentials import bearer_token
from entrypoints.http.problems import problem


class PushMessage(msgspec.Struct, kw_only=True):
    data: str = ""
    messageId: str = ""
    message_id: str = ""  # Pub/Sub sends both spellings
    attributes: dict[str, str] | None = None
    publishTime: str | None = None


class PushEnvelope(msgspec.Struct, kw_only=True):
    """The standard push envelope."""

    message: PushMessage
    subscription: str = ""


async def push_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Runs before the body is read: a refused push costs nothing and changes nothing."""
    container: AsyncContainer = connection.state.dishka_container
    checker = await container.get(PushAuthenticator)
    await checker.check(
        bearer_token(connection.headers.get("authorization")), connection.query_params.get("token")
    )


class PubSubPushController(Controller):
    path = "/pubsub/push"
    tags = ["intake"]  # noqa: RUF012

    @post(
        "/fdr",
        status_code=200,
        summary="Shipment events from a Pub/Sub push subscription",
        description=(
            "Same handling as the pull worker. 204 acknowledges (the outcome is recorded); "
            "503 asks Pub/Sub to deliver the event again later. When configured, a push must "
            "carry the shared token (`?token=...` on the push URL) and/or Google's OIDC token "
            "(`Authorization: Bearer ...`); otherwise 401, before the body is read."
        ),
        guards=[push_guard],
    )
    async def fdr(
        self,
        data: JSONBody[PushEnvelope],
        intake: FromDishka[ShipmentEventIntake],
    ) -> Response[Any]:
        try:
            raw = base64.b64decode(data.message.data, validate=True)
        except (binascii.Error, ValueError):
            raise ValidationException("message.data is not base64") from None
        message_id = data.message.messageId or data.message.message_id
        if not message_id:
            raise ValidationException("message.messageId is missing")
        result = await intake(raw, message_id)
        if result.disposition is Disposition.ACK:
            return Response(content=None, status_code=204)
        retry = str(result.retry_after or 30)
        return problem(
            503,
            "Try again later",
            f"event {message_id} could not be handled yet ({result.outcome})",
            type_="retry",
            headers={"Retry-After": retry},
        )
