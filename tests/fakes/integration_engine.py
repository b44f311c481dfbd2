"""A local App & Integration engine speaking the format of ``infrastructure.integration_engine``."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from domain.settings import SenderConnection
from tests.fakes.server import FakeServer, json_error


@dataclass(frozen=True, slots=True)
class _Connection:
    sender: SenderConnection
    app: str
    status: str


def _int(text: str | None) -> int | None:
    if text is None or not text.isdigit():
        return None
    return int(text)


class FakeIntegrationEngine(FakeServer):
    """Holds installed apps (``ie_appinstall_connection``); any app, any status, like the engine."""

    def __init__(self) -> None:
        super().__init__()
        self._connections: dict[int, _Connection] = {}

    def install(
        self, sender: SenderConnection, *, app: str = "whatsapp", status: str = "active"
    ) -> None:
        self._connections[sender.connection_id] = _Connection(sender, app, status)

    def uninstall(self, connection_id: int) -> None:
        self._connections.pop(connection_id, None)

    def _routes(self, app: web.Application) -> None:
        app.router.add_get("/connection/start", self._list)
        app.router.add_get("/connection/{connection_id}/credentials", self._credentials)

    async def _list(self, request: web.Request) -> web.Response:
        account_id = _int(request.query.get("accountId"))
        if account_id is None:
            return json_error(400, "invalid_request", "accountId must be a positive integer")
        wanted_app = request.query.get("app")
        listed = [
            {
                "connectionId": c.sender.connection_id,
                "accountId": c.sender.account_id,
                "name": c.sender.name,
                "app": c.app,
                "status": c.status,
                "displayPhoneNumber": c.sender.display_phone_number,
            }
            for _, c in sorted(self._connections.items())
            if c.sender.account_id == account_id and (wanted_app is None or c.app == wanted_app)
        ]
        return web.json_response({"connections": listed})

    async def _credentials(self, request: web.Request) -> web.Response:
        connection_id = _int(request.match_info["connection_id"])
        if connection_id is None:
            return json_error(400, "invalid_request", "connection id must be a positive integer")
        connection = self._connections.get(connection_id)
        if connection is None:
            return json_error(404, "not_found", f"connection {connection_id} not found")
        sender = connection.sender
        return web.json_response(
            {
                "connectionId": sender.connection_id,
                "accountId": sender.account_id,
                "name": sender.name,
                "app": connection.app,
                "status": connection.status,
                "phoneNumberId": sender.phone_number_id,
                "wabaId": sender.waba_id,
                "accessToken": sender.access_token,
                "appSecret": sender.app_secret,
                "displayPhoneNumber": sender.display_phone_number,
            }
        )
