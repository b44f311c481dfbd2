"""A workspace changes its WhatsApp settings; the worker sees the change on its next event.

Rules: the change is saved whole or not at all (every broken rule of ``settings_rules`` named
by its field, 422); the sender connection is an active one of the workspace; a shipped default
template chosen is not stored (the workspace follows later defaults); the settings cache forgets
the workspace after the commit.
"""

from __future__ import annotations

import contextlib

import structlog

from application.ports.collaborators import ConnectionDirectory
from application.ports.repositories import UnitOfWork
from application.services import NotificationOptions, SenderResolver, SettingsReader
from application.use_cases.portal._templates import shipped_defaults
from application.use_cases.portal.get_channel_settings import ChannelSettingsView, settings_view
from application.use_cases.portal.settings_rules import (
    SettingsChange,
    default_actions_of,
    known_reason,
    language_problem,
    quiet_hours_of,
    template_problem,
)
from domain.errors import InvalidSettings, NotFound, UpstreamRejected, UpstreamUnavailable
from domain.reasons import FdrReason
from domain.settings import (
    DEFAULT_CONNECTION_ID,
    ChannelSetting,
)

_log = structlog.get_logger("portal")

__all__ = ["SettingsChange", "UpdateChannelSettings"]


class UpdateChannelSettings:
    """Saves a workspace's settings, or raises ``InvalidSettings`` naming every wrong field by
    its ``SettingsChange`` name (``templates.<reason>``, ``default_actions.<reason>`` for one
    entry); the HTTP layer renames them to its own."""

    def __init__(
        self,
        uow: UnitOfWork,
        directory: ConnectionDirectory,
        senders: SenderResolver,
        settings: SettingsReader,
        options: NotificationOptions,
    ) -> None:
        self._uow = uow
        self._directory = directory
        self._senders = senders
        self._settings = settings
        self._options = options

    async def __call__(self, account_id: int, change: SettingsChange) -> ChannelSettingsView:
        errors: dict[str, str] = {}
        connection_id = change.sender_connection_id
        if connection_id == DEFAULT_CONNECTION_ID:
            connection_id = None
        if connection_id is not None:
            installed = {c.connection_id for c in await self._directory.connections(account_id)}
            if connection_id not in installed:
                errors["sender_connection_id"] = (
                    f"connection {connection_id} is not an active WhatsApp connection of this "
                    "workspace"
                )
        if (problem := language_problem(change.language)) is not None:
            errors["language"] = problem
        quiet_hours = quiet_hours_of(change, self._options.quiet_hours, errors)
        waba_id = await self._waba_of(connection_id, errors)
        default_account = self._options.default_account_id
        owners = ChannelSetting(
            account_id=account_id, sender_connection_id=connection_id
        ).template_owners(default_account)
        async with self._uow as uow:
            defaults = await shipped_defaults(uow, default_account)
            chosen: dict[FdrReason, int] = {}
            for key, template_id in change.templates.items():
                field = f"templates.{key[:64]}"
                reason = known_reason(key)
                if reason is None:
                    known = ", ".join(r.value for r in FdrReason.known())
                    errors[field] = f"unknown reason {key[:64]!r}; one of {known}"
                    continue
                template = await uow.templates.get(template_id)
                problem = template_problem(
                    template,
                    template_id,
                    reason,
                    account_id,
                    default_account,
                    owners=owners,
                    waba_id=waba_id,
                )
                if problem is not None:
                    errors[field] = problem
                elif (default := defaults.get(reason)) is None or default.id != template_id:
                    # The shipped default is not stored: the workspace follows later defaults.
                    chosen[reason] = template_id
            actions = default_actions_of(change.default_actions, errors)
            if errors:
                raise InvalidSettings(errors)
            await uow.settings.save(
                ChannelSetting(
                    account_id=account_id,
                    whatsapp_enabled=change.whatsapp_enabled,
                    sender_connection_id=connection_id,
                    templates=chosen,
                    language=change.language,
                    monthly_template_cap=change.monthly_template_cap,
                    quiet_hours=quiet_hours,
                    reminder_delay_minutes=change.reminder_delay_minutes,
                    default_action_cutoff_minutes=change.default_action_cutoff_minutes,
                    default_actions=actions,
                )
            )
            await uow.commit()
        with contextlib.suppress(UpstreamUnavailable):
            # Readers fall back to the database while the cache is down; an entry cached
            # before the outage lives at most its TTL.
            await self._settings.forget(account_id)
        _log.info(
            "workspace settings changed",
            account_id=account_id,
            enabled=change.whatsapp_enabled,
            connection_id=connection_id,
        )
        async with self._uow as uow:
            return await settings_view(uow, account_id, default_account, self._options.quiet_hours)

    async def _waba_of(self, connection_id: int | None, errors: dict[str, str]) -> str | None:
        """The business account messages will leave from (None when the connection is bad)."""
        if connection_id is None:
            return self._senders.default.waba_id
        if "sender_connection_id" in errors:
            return None
        try:
            return (await self._senders.by_connection_id(connection_id)).waba_id
        except (NotFound, UpstreamRejected) as exc:
            errors["sender_connection_id"] = f"connection {connection_id} cannot send: {exc}"
            return None
