"""Ask Meta whether a workspace's template can be sent as defined: exists in that language, is
APPROVED, and takes the same values and quick replies."""

from __future__ import annotations

import dataclasses

import structlog

from application.ports.clock import Clock
from application.ports.repositories import UnitOfWork
from application.ports.whatsapp import TemplateCatalog
from application.services import NotificationOptions, SenderResolver
from application.use_cases.portal._templates import (
    PortalTemplate,
    as_shown,
    writable_template,
)
from domain.errors import Conflict, NotFound, TemplateNotVerified, UpstreamRejected
from domain.settings import ChannelSetting, SenderConnection
from domain.template_rules import same_for_meta
from domain.templates import MetaTemplate, WaTemplate

_log = structlog.get_logger("portal")

APPROVED = "APPROVED"


class VerifyTemplate:
    def __init__(
        self,
        uow: UnitOfWork,
        senders: SenderResolver,
        catalog: TemplateCatalog,
        clock: Clock,
        options: NotificationOptions,
    ) -> None:
        self._uow = uow
        self._senders = senders
        self._catalog = catalog
        self._clock = clock
        self._options = options

    async def __call__(self, account_id: int, template_id: int) -> PortalTemplate:
        default_account = self._options.default_account_id
        async with self._uow as uow:
            template = await writable_template(uow, account_id, template_id, default_account)
            setting = await uow.settings.get(account_id) or ChannelSetting.default(account_id)
        sender = await self._sender(setting)
        # Meta is asked outside any transaction: a slow answer holds no database connection.
        approved = check(template, await self._catalog.templates(sender), sender)
        async with self._uow as uow:
            current = await writable_template(uow, account_id, template_id, default_account)
            if not same_for_meta(current, template):
                raise Conflict(f"template {template_id} changed while it was being verified")
            verified = dataclasses.replace(
                current,
                verified_at=self._clock.now(),
                meta_template_id=approved.id,
                verified_waba_id=sender.waba_id,
                updated_at=self._clock.now(),
            )
            await uow.templates.update(verified)
            await uow.commit()
        _log.info("template verified", account_id=account_id, template_id=template_id)
        return as_shown(verified, default_account)

    async def _sender(self, setting: ChannelSetting) -> SenderConnection:
        try:
            return await self._senders.for_setting(setting)
        except (NotFound, UpstreamRejected) as exc:
            raise TemplateNotVerified(
                "sender",
                f"the workspace's sender connection {setting.sender_connection_id} cannot be "
                f"used: {exc}",
            ) from exc


def check(
    template: WaTemplate, catalogue: list[MetaTemplate], sender: SenderConnection
) -> MetaTemplate:
    """The catalogue's entry for ``template``; ``TemplateNotVerified`` naming the failed check."""
    name = template.template_name
    where = f"the WhatsApp Business Account of {sender.name or 'the sender'}"
    named = [t for t in catalogue if t.name == name]
    if not named:
        raise TemplateNotVerified("not_found", f"template {name!r} not found on {where}")
    found = next((t for t in named if t.language == template.language), None)
    if found is None:
        languages = ", ".join(sorted(t.language for t in named))
        raise TemplateNotVerified(
            "language",
            f"template {name!r} exists in {languages}, not in {template.language}",
        )
    if found.status.upper() != APPROVED:
        raise TemplateNotVerified(
            "status",
            f"template {name!r} ({found.language}) has status {found.status}, not APPROVED",
        )
    if found.body_parameter_count != len(template.variables):
        raise TemplateNotVerified(
            "variables",
            f"{len(template.variables)} variables expected, Meta has {found.body_parameter_count}",
        )
    if len(found.quick_replies) != len(template.buttons):
        raise TemplateNotVerified(
            "buttons",
            f"{len(template.buttons)} quick-reply buttons expected, Meta has "
            f"{len(found.quick_replies)}",
        )
    for index, (ours, theirs) in enumerate(zip(template.buttons, found.quick_replies, strict=True)):
        if ours.title != theirs:
            raise TemplateNotVerified(
                "buttons",
                f"button {index + 1} is {theirs!r} on Meta, {ours.title!r} here",
            )
    return found
