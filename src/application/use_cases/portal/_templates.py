"""What the template use cases share: the draft they take and who may read or change a template."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass

from application.ports.repositories import UnitOfWork
from domain.errors import Forbidden, NotFound
from domain.messages import QuickReply
from domain.reasons import FdrReason
from domain.templates import TemplateVariable, WaTemplate

READ_ONLY = "shipped default templates are read-only; create a template of the workspace instead"


@dataclass(frozen=True, slots=True, kw_only=True)
class TemplateDraft:
    """A template as the workspace writes it (``wa_templates`` without the bookkeeping)."""

    name: str
    language: str
    body: str
    variables: tuple[TemplateVariable, ...] = ()
    description: str = ""
    reason: FdrReason | None = None
    buttons: tuple[QuickReply, ...] = ()

    def applied_to(self, template: WaTemplate) -> WaTemplate:
        """``template`` with the draft's fields (id, owner, verification and times kept)."""
        return dataclasses.replace(
            template,
            template_name=self.name,
            language=self.language,
            template_body=self.body,
            variables=self.variables,
            description=self.description,
            reason=self.reason,
            buttons=self.buttons,
        )


async def readable_template(
    uow: UnitOfWork, account_id: int, template_id: int, default_account_id: int
) -> WaTemplate:
    """The workspace's template or a shipped default; ``NotFound`` for anything else."""
    template = await uow.templates.get(template_id)
    if template is None or template.account_id not in (account_id, default_account_id):
        raise NotFound("template", template_id)
    return template


async def writable_template(
    uow: UnitOfWork, account_id: int, template_id: int, default_account_id: int
) -> WaTemplate:
    """The workspace's own template; ``Forbidden`` for a shipped default."""
    template = await readable_template(uow, account_id, template_id, default_account_id)
    if template.account_id == default_account_id:
        raise Forbidden(READ_ONLY)
    return template


@dataclass(frozen=True, slots=True)
class PortalTemplate:
    """A template as the portal's template use cases return it."""

    template: WaTemplate
    is_default: bool  # a shipped default: read-only, usable without verification


def as_shown(template: WaTemplate, default_account_id: int) -> PortalTemplate:
    """The one place that says whether a template is a shipped default."""
    return PortalTemplate(template, is_default=template.account_id == default_account_id)


async def shipped_defaults(uow: UnitOfWork, default_account_id: int) -> dict[FdrReason, WaTemplate]:
    """The default template of each reason (the first of the default account, as the worker)."""
    defaults: dict[FdrReason, WaTemplate] = {}
    for template in await uow.templates.for_account(default_account_id):
        if template.reason is not None and template.reason is not FdrReason.UNKNOWN:
            defaults.setdefault(template.reason, template)
    return defaults


async def reasons_using(uow: UnitOfWork, account_id: int, template_id: int) -> list[FdrReason]:
    """The reasons whose setting names this template."""
    setting = await uow.settings.get(account_id)
    if setting is None:
        return []
    return sorted(r for r, chosen in setting.templates.items() if chosen == template_id)


def in_use_message(template_id: int, reasons: Iterable[FdrReason]) -> str:
    return (
        f"template {template_id} is used by the workspace settings for "
        f"{', '.join(r.value for r in reasons)}; choose another template there first"
    )
