"""``/connections``: the WhatsApp numbers a workspace can send from."""

from __future__ import annotations

import msgspec
from dishka.integrations.litestar import FromDishka
from litestar import Controller, get

from application.use_cases.portal.list_sender_connections import ListSenderConnections
from entrypoints.http.portal.docs import AccountId, problems, success

_EXAMPLE = [
    {
        "connectionId": 0,
        "name": "Eshopbox",
        "app": "whatsapp",
        "displayPhoneNumber": "+91 98765 43210",
        "isDefault": True,
        "isSelected": True,
    },
    {
        "connectionId": 482,
        "name": "Scitron WhatsApp",
        "app": "whatsapp",
        "displayPhoneNumber": "+91 99887 76655",
        "isDefault": False,
        "isSelected": False,
    },
]


class SenderConnectionView(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """A WhatsApp number messages can go out from (no credentials, ever)."""

    connection_id: int  # 0: the Eshopbox default
    name: str
    app: str
    display_phone_number: str
    is_default: bool
    is_selected: bool


class ConnectionsController(Controller):
    path = "/connections"
    tags = ["portal: settings"]  # noqa: RUF012

    @get(
        summary="The WhatsApp connections the workspace can send from",
        description=(
            "The Eshopbox default (connection id 0, `isDefault`) and the WhatsApp apps the "
            "workspace installed through the App & Integration engine (active ones only). "
            "`isSelected` marks the one in the settings."
        ),
        responses={
            **success(list[SenderConnectionView], "The connections", _EXAMPLE),
            **problems(422),
        },
    )
    async def list_connections(
        self, account_id: AccountId, connections: FromDishka[ListSenderConnections]
    ) -> list[SenderConnectionView]:
        return [
            SenderConnectionView(
                connection_id=o.connection.connection_id,
                name=o.connection.name,
                app=o.connection.app,
                display_phone_number=o.connection.display_phone_number,
                is_default=o.connection.is_default,
                is_selected=o.selected,
            )
            for o in await connections(account_id)
        ]
