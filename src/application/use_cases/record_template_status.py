"""Meta changed a template's status: what is remembered of it is forgotten, and workspaces
whose template Meta no longer sends see it as unverified (docs/meta.md#template-status-webhook)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import structlog

from application.ports.clock import Clock
from application.ports.repositories import UnitOfWork
from application.ports.whatsapp import TemplateCatalog
from domain.webhook import TemplateStatusChange

_log = structlog.get_logger("templates")


class RecordTemplateStatus:
    """A paused, disabled or rejected template loses its verification: the portal shows it
    unverified and a workspace cannot choose it until it is verified again. An approval
    verifies nothing by itself (the template may have been edited at Meta meanwhile): the
    workspace verifies again, against a fresh list."""

    def __init__(self, uow: UnitOfWork, catalog: TemplateCatalog, clock: Clock) -> None:
        self._uow = uow
        self._catalog = catalog
        self._clock = clock

    async def __call__(self, changes: Sequence[TemplateStatusChange]) -> int:
        """Returns how many workspace templates lost their verification."""
        lost = 0
        for change in changes:
            self._catalog.invalidate(change.waba_id)
            if not change.stops_sending:
                _log.info(
                    "template status changed",
                    template=change.name,
                    language=change.language,
                    meta_event=change.event,
                )
                continue
            async with self._uow as uow:
                unverified = [
                    dataclasses.replace(template, verified_at=None, updated_at=self._clock.now())
                    for template in await uow.templates.verified_as(change.meta_template_id)
                    if template.is_verified
                ]
                for template in unverified:
                    # meta_template_id stays: it is how a later status finds the row.
                    await uow.templates.update(template)
                await uow.commit()
            lost += len(unverified)
            if not unverified:
                _log.info(
                    "template stopped at Meta; no workspace had it verified",
                    template=change.name,
                    language=change.language,
                    meta_event=change.event,
                )
                continue
            _log.warning(
                "ALERT template no longer sendable",
                template=change.name,
                language=change.language,
                meta_event=change.event,
                reason=change.reason,
                accounts=sorted({t.account_id for t in unverified}),
                template_ids=[t.id for t in unverified],
            )
        return lost
