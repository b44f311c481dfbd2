"""A workspace edits a template; a change Meta would see needs a new verification."""

from __future__ import annotations

import dataclasses

from application.ports.clock import Clock
from application.ports.repositories import UnitOfWork
from application.services import NotificationOptions
from application.use_cases.portal._templates import (
    PortalTemplate,
    TemplateDraft,
    as_shown,
    in_use_message,
    reasons_using,
    writable_template,
)
from domain.errors import Conflict, InvalidTemplate
from domain.template_rules import same_for_meta, template_problems


class UpdateTemplate:
    def __init__(self, uow: UnitOfWork, clock: Clock, options: NotificationOptions) -> None:
        self._uow = uow
        self._clock = clock
        self._options = options

    async def __call__(
        self, account_id: int, template_id: int, draft: TemplateDraft
    ) -> PortalTemplate:
        async with self._uow as uow:
            stored = await writable_template(
                uow, account_id, template_id, self._options.default_account_id
            )
            edited = draft.applied_to(stored)
            errors = template_problems(edited)
            if errors:
                raise InvalidTemplate(errors)
            meta_sees_it = not same_for_meta(stored, edited)
            in_use = await reasons_using(uow, account_id, template_id)
            fits = edited.reason is None or all(r is edited.reason for r in in_use)
            if in_use and (meta_sees_it or not fits):
                raise Conflict(in_use_message(template_id, in_use))
            if meta_sees_it:
                # The settings only ever name verified templates; this one is no longer.
                edited = dataclasses.replace(
                    edited, verified_at=None, meta_template_id=None, verified_waba_id=None
                )
            edited = dataclasses.replace(edited, updated_at=self._clock.now())
            await uow.templates.update(edited)  # Conflict: renamed onto an existing name
            await uow.commit()
        return as_shown(edited, self._options.default_account_id)
