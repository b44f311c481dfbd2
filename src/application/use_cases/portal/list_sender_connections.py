"""The WhatsApp numbers a workspace can send from: the Eshopbox default and its own apps."""

from __future__ import annotations

from dataclasses import dataclass

from application.ports.collaborators import ConnectionDirectory
from application.ports.repositories import UnitOfWork
from application.services import SenderResolver
from domain.settings import DEFAULT_CONNECTION_ID, ChannelSetting, ConnectionSummary


@dataclass(frozen=True, slots=True, kw_only=True)
class SenderOption:
    connection: ConnectionSummary
    selected: bool  # the one the workspace's messages go out from


class ListSenderConnections:
    def __init__(
        self, uow: UnitOfWork, directory: ConnectionDirectory, senders: SenderResolver
    ) -> None:
        self._uow = uow
        self._directory = directory
        self._senders = senders

    async def __call__(self, account_id: int) -> list[SenderOption]:
        installed = await self._directory.connections(account_id)
        async with self._uow as uow:
            setting = await uow.settings.get(account_id) or ChannelSetting.default(account_id)
        chosen = setting.sender_connection_id or DEFAULT_CONNECTION_ID
        default = self._senders.default
        eshopbox = ConnectionSummary(
            connection_id=DEFAULT_CONNECTION_ID,
            account_id=default.account_id,
            name=default.name or "Eshopbox",
            is_default=True,
            display_phone_number=default.display_phone_number,
        )
        return [
            SenderOption(connection=c, selected=c.connection_id == chosen)
            for c in [eshopbox, *installed]
        ]
