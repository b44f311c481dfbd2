"""A workspace adds a template it has (or will have) approved by Meta; unverified until checked."""

from __future__ import annotations

from application.ports.clock import Clock
from application.ports.repositories import UnitOfWork
from application.services import NotificationOptions
from application.use_cases.portal._templates import (
    READ_ONLY,
    PortalTemplate,
    TemplateDraft,
    as_shown,
)
from domain.errors import Forbidden, InvalidTemplate
from domain.template_rules import template_problems
from domain.templates import WaTemplate


class CreateTemplate:
    def __init__(self, uow: UnitOfWork, clock: Clock, options: NotificationOptions) -> None:
        self._uow = uow
        self._clock = clock
        self._options = options

    async def __call__(self, account_id: int, draft: TemplateDraft) -> PortalTemplate:
        if account_id == self._options.default_account_id:
            raise Forbidden(READ_ONLY)
        now = self._clock.now()
        template = draft.applied_to(
            WaTemplate(account_id=account_id, template_name="", created_at=now, updated_at=now)
        )
        errors = template_problems(template)
        if errors:
            raise InvalidTemplate(errors)
        async with self._uow as uow:
            stored = await uow.templates.add(template)  # Conflict: the name and language exist
            await uow.commit()
        return as_shown(stored, self._options.default_account_id)
