"""A workspace's WhatsApp settings as the portal shows them: every reason with its template."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from application.ports.repositories import UnitOfWork
from application.services import NotificationOptions
from application.use_cases.portal._templates import shipped_defaults
from domain.quiet_hours import DEFAULT_QUIET_HOURS, QuietHours
from domain.reasons import FdrReason
from domain.scheduling import DefaultAction
from domain.settings import (
    DEFAULT_ACTION_CUTOFF_MINUTES,
    DEFAULT_REMINDER_DELAY_MINUTES,
    ChannelSetting,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelSettingsView:
    account_id: int
    whatsapp_enabled: bool
    sender_connection_id: int | None  # None: the Eshopbox default connection
    # Every reason that will be sent, with its template: the workspace's choice, else (from
    # the Eshopbox connection only) Eshopbox's default. A reason missing is not sent.
    templates: Mapping[FdrReason, int]
    language: str = "en"
    monthly_template_cap: int | None = None
    quiet_hours: QuietHours = DEFAULT_QUIET_HOURS  # the workspace's, else the deployment's
    reminder_delay_minutes: int = DEFAULT_REMINDER_DELAY_MINUTES
    default_action_cutoff_minutes: int = DEFAULT_ACTION_CUTOFF_MINUTES
    # Every reason with what the shopper's silence leads to (``nothing`` unless chosen).
    default_actions: Mapping[FdrReason, DefaultAction] = dataclasses.field(default_factory=dict)


async def settings_view(
    uow: UnitOfWork,
    account_id: int,
    default_account_id: int,
    quiet_default: QuietHours = DEFAULT_QUIET_HOURS,
) -> ChannelSettingsView:
    """What the worker will use: the stored choice per reason, else the shipped default (not
    from the workspace's own WhatsApp account, where Eshopbox's templates do not exist)."""
    setting = await uow.settings.get(account_id) or ChannelSetting.default(account_id)
    templates: dict[FdrReason, int | None] = {}
    if not setting.sends_from_own_account:
        templates = {r: t.id for r, t in (await shipped_defaults(uow, default_account_id)).items()}
    owners = setting.template_owners(default_account_id)
    for reason, template_id in setting.templates.items():
        if setting.sends_from_own_account:
            chosen = await uow.templates.get(template_id)
            if chosen is None or chosen.account_id not in owners:
                continue  # chosen from the Eshopbox connection; not sendable from this one
        templates[reason] = template_id
    return ChannelSettingsView(
        account_id=account_id,
        whatsapp_enabled=setting.whatsapp_enabled,
        sender_connection_id=setting.sender_connection_id,
        templates={r: t for r in FdrReason.known() if (t := templates.get(r)) is not None},
        language=setting.language,
        monthly_template_cap=setting.monthly_template_cap,
        quiet_hours=setting.quiet_hours or quiet_default,
        reminder_delay_minutes=setting.reminder_delay_minutes,
        default_action_cutoff_minutes=setting.default_action_cutoff_minutes,
        default_actions={
            r: setting.default_actions.get(r, DefaultAction.NOTHING) for r in FdrReason.known()
        },
    )


class GetChannelSettings:
    def __init__(self, uow: UnitOfWork, options: NotificationOptions) -> None:
        self._uow = uow
        self._options = options

    async def __call__(self, account_id: int) -> ChannelSettingsView:
        async with self._uow as uow:
            return await settings_view(
                uow, account_id, self._options.default_account_id, self._options.quiet_hours
            )
