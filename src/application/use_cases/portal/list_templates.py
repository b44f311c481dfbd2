"""The templates a workspace can choose from: its own and the shipped defaults."""

from __future__ import annotations

from application.ports.repositories import UnitOfWork
from application.services import NotificationOptions
from application.use_cases.portal._templates import PortalTemplate, as_shown


class ListTemplates:
    def __init__(self, uow: UnitOfWork, options: NotificationOptions) -> None:
        self._uow = uow
        self._options = options

    async def __call__(self, account_id: int) -> list[PortalTemplate]:
        """The shipped defaults first, then the workspace's own, each oldest first."""
        default_account = self._options.default_account_id
        async with self._uow as uow:
            defaults = await uow.templates.for_account(default_account)
            own = (
                [] if account_id == default_account else await uow.templates.for_account(account_id)
            )
        return [as_shown(t, default_account) for t in [*defaults, *own]]
