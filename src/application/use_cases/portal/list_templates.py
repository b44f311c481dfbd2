"""The templates a workspace can choose from: its own and the shipped defaults."""

from __future__ import annotations

from application.ports.repositories import UnitOfWork
from application.services import NotificationOptions
from domain.templates import WaTemplate


class ListTemplates:
    def __init__(self, uow: UnitOfWork, options: NotificationOptions) -> None:
        self._uow = uow
        self._options = options

    async def __call__(self, account_id: int) -> list[WaTemplate]:
        """The shipped defaults first, then the workspace's own, each oldest first."""
        default_account = self._options.default_account_id
        async with self._uow as uow:
            defaults = await uow.templates.for_account(default_account)
            own = (
                [] if account_id == default_account else await uow.templates.for_account(account_id)
            )
        return [*defaults, *own]
