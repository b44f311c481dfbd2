"""``POST /pubsub/push/fdr``: a Pub/Sub push subscription delivers shipment events here."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

import msgspec
from dishka.integrations.litestar import FromDishka
from litestar import Controller, Response, post
from litestar.exceptions import ValidationException
from litestar.params import HeaderParameter, JSONBody, QueryParameter

from application.ports.auth import PushAuthenticator
from application.use_cases.notify_failed_delivery import Disposition
from entrypoints.http.problems import problem
from entrypoints.intake import ShipmentEventIntake


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


class PubSubPushController(Controller):
    path = "/pubsub/push"
    tags = ["intake"]  # noqa: RUF012

    @post(
        "/fdr",
        status_code=200,
        summary="Shipment events from a Pub/Sub push subscription",
        description=(
            "Same handling as the pull worker. 204 acknowledges (the outcome is recorded); "
            "503 asks Pub/Sub to deliver the event again later; 401 when the push token or "
            "Google's OIDC token is configured and missing or wrong."
        ),
    )
    async def fdr(
        self,
        data: JSONBody[PushEnvelope],
        intake: FromDishka[ShipmentEventIntake],
        push_auth: FromDishka[PushAuthenticator],
        authorization: Annotated[
            str | None,
            HeaderParameter(
                name="Authorization",
                required=False,
                description="Google's OIDC token, when the push subscription signs its pushes",
            ),
        ] = None,
        token: Annotated[
            str | None,
            QueryParameter(
                name="token",
                required=False,
                description="The shared token on the push endpoint URL, when configured",
            ),
        ] = None,
    ) -> Response[Any]:
        # Before anything is read: a refused push changes nothing.
        await push_auth.check(authorization, token)
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
