"""A workspace removes a template it no longer uses."""

from __future__ import annotations

from application.ports.repositories import UnitOfWork
from application.services import NotificationOptions
from application.use_cases.portal._templates import (
    in_use_message,
    reasons_using,
    writable_template,
)
from domain.errors import Conflict


class DeleteTemplate:
    def __init__(self, uow: UnitOfWork, options: NotificationOptions) -> None:
        self._uow = uow
        self._options = options

    async def __call__(self, account_id: int, template_id: int) -> None:
        async with self._uow as uow:
            await writable_template(uow, account_id, template_id, self._options.default_account_id)
            in_use = await reasons_using(uow, account_id, template_id)
            if in_use:
                raise Conflict(in_use_message(template_id, in_use))
            await uow.templates.delete(template_id)
            await uow.commit()
