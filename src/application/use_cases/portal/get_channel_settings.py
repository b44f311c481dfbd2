"""A workspace's WhatsApp settings as the portal shows them: every reason with its template."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from application.ports.repositories import UnitOfWork
from application.services import NotificationOptions
from application.use_cases.portal._templates import shipped_defaults
from domain.reasons import FdrReason
from domain.settings import ChannelSetting


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelSettingsView:
    account_id: int
    whatsapp_enabled: bool
    sender_connection_id: int | None  # None: the Eshopbox default connection
    templates: Mapping[FdrReason, int]  # every reason that has a template, chosen or default


async def settings_view(
    uow: UnitOfWork, account_id: int, default_account_id: int
) -> ChannelSettingsView:
    """What the worker will use: the stored choice per reason, else the shipped default."""
    setting = await uow.settings.get(account_id) or ChannelSetting.default(account_id)
    templates = {r: t.id for r, t in (await shipped_defaults(uow, default_account_id)).items()}
    templates.update(setting.templates)
    return ChannelSettingsView(
        account_id=account_id,
        whatsapp_enabled=setting.whatsapp_enabled,
        sender_connection_id=setting.sender_connection_id,
        templates={r: t for r in FdrReason.known() if (t := templates.get(r)) is not None},
    )


class GetChannelSettings:
    def __init__(self, uow: UnitOfWork, options: NotificationOptions) -> None:
        self._uow = uow
        self._options = options

    async def __call__(self, account_id: int) -> ChannelSettingsView:
        async with self._uow as uow:
            return await settings_view(uow, account_id, self._options.default_account_id)
