"""One template of the workspace (or a shipped default)."""

from __future__ import annotations

from application.ports.repositories import UnitOfWork
from application.services import NotificationOptions
from application.use_cases.portal._templates import PortalTemplate, as_shown, readable_template


class GetTemplate:
    def __init__(self, uow: UnitOfWork, options: NotificationOptions) -> None:
        self._uow = uow
        self._options = options

    async def __call__(self, account_id: int, template_id: int) -> PortalTemplate:
        default_account = self._options.default_account_id
        async with self._uow as uow:
            template = await readable_template(uow, account_id, template_id, default_account)
        return as_shown(template, default_account)
