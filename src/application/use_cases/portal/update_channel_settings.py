"""A workspace changes its WhatsApp settings; the worker sees the change on its next event."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

import structlog

from application.ports.collaborators import ConnectionDirectory
from application.ports.repositories import UnitOfWork
from application.services import NotificationOptions, SenderResolver, SettingsReader
from application.use_cases.portal._templates import shipped_defaults
from application.use_cases.portal.get_channel_settings import ChannelSettingsView, settings_view
from domain.errors import InvalidSettings, NotFound, UpstreamRejected, UpstreamUnavailable
from domain.language import ENGLISH, LANGUAGES
from domain.quiet_hours import QuietHours, check_zone, parse_clock
from domain.reasons import FdrReason
from domain.scheduling import DefaultAction
from domain.settings import (
    DEFAULT_ACTION_CUTOFF_MINUTES,
    DEFAULT_CONNECTION_ID,
    DEFAULT_REMINDER_DELAY_MINUTES,
    ChannelSetting,
)
from domain.templates import WaTemplate

_log = structlog.get_logger("portal")


@dataclass(frozen=True, slots=True, kw_only=True)
class SettingsChange:
    whatsapp_enabled: bool
    sender_connection_id: int | None  # None or 0: the Eshopbox default connection
    templates: Mapping[str, int]  # reason key -> wa_templates id; a reason left out: the default
    language: str = ENGLISH  # shoppers without a language of their own read this one
    monthly_template_cap: int | None = None  # None: no cap (docs/cost.md)
    # "HH:MM" and an IANA zone; None: the deployment's default for that part; all three None:
    # the deployment's window (docs/quiet-hours.md).
    quiet_hours_start: str | None = None
    quiet_hours_end: str | None = None
    quiet_hours_zone: str | None = None
    reminder_delay_minutes: int = DEFAULT_REMINDER_DELAY_MINUTES  # 0: no reminder
    default_action_cutoff_minutes: int = DEFAULT_ACTION_CUTOFF_MINUTES
    default_actions: Mapping[str, str] = dataclasses.field(default_factory=dict)  # reason: action


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
        if change.language not in LANGUAGES:
            errors["language"] = f"unknown language {change.language[:16]!r}; one of " + ", ".join(
                LANGUAGES
            )
        quiet_hours = self._quiet_hours(change, errors)
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
                reason = _known_reason(key)
                if reason is None:
                    known = ", ".join(r.value for r in FdrReason.known())
                    errors[field] = f"unknown reason {key[:64]!r}; one of {known}"
                    continue
                template = await uow.templates.get(template_id)
                problem = _template_problem(
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
            actions = _default_actions(change.default_actions, errors)
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

    def _quiet_hours(self, change: SettingsChange, errors: dict[str, str]) -> QuietHours | None:
        """The workspace's window, or None for the deployment's; a wrong part goes to
        ``errors`` under its field's name."""
        parts = (change.quiet_hours_start, change.quiet_hours_end, change.quiet_hours_zone)
        if all(part is None for part in parts):
            return None
        default = self._options.quiet_hours
        start, end, zone = default.start, default.end, default.zone
        try:
            if change.quiet_hours_start is not None:
                start = parse_clock(change.quiet_hours_start)
        except ValueError as exc:
            errors["quiet_hours_start"] = str(exc)
        try:
            if change.quiet_hours_end is not None:
                end = parse_clock(change.quiet_hours_end)
        except ValueError as exc:
            errors["quiet_hours_end"] = str(exc)
        try:
            if change.quiet_hours_zone is not None:
                zone = check_zone(change.quiet_hours_zone)
        except ValueError as exc:
            errors["quiet_hours_zone"] = str(exc)
        return QuietHours(start, end, zone)

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


def _default_actions(
    chosen: Mapping[str, str], errors: dict[str, str]
) -> dict[FdrReason, DefaultAction]:
    """The reasons whose silence leads to an action (``nothing`` is not stored)."""
    actions: dict[FdrReason, DefaultAction] = {}
    for key, value in chosen.items():
        field = f"default_actions.{key[:64]}"
        reason = _known_reason(key)
        if reason is None:
            known = ", ".join(r.value for r in FdrReason.known())
            errors[field] = f"unknown reason {key[:64]!r}; one of {known}"
        elif value not in DefaultAction.__members__.values():
            names = ", ".join(a.value for a in DefaultAction)
            errors[field] = f"unknown default action {value[:32]!r}; one of {names}"
        elif (action := DefaultAction(value)) is not DefaultAction.NOTHING:
            actions[reason] = action
    return actions


def _known_reason(key: str) -> FdrReason | None:
    try:
        reason = FdrReason(key)
    except ValueError:
        return None
    return None if reason is FdrReason.UNKNOWN else reason


def _template_problem(
    template: WaTemplate | None,
    template_id: int,
    reason: FdrReason,
    account_id: int,
    default_account: int,
    *,
    owners: tuple[int, ...],
    waba_id: str | None,
) -> str | None:
    if template is None or template.account_id not in (account_id, default_account):
        return f"template {template_id} not found"
    if template.account_id not in owners:
        return (
            f"template {template_id} is Eshopbox's: it cannot be sent from the workspace's own "
            "WhatsApp account; choose a template of the workspace, verified on that account"
        )
    if template.reason is not None and template.reason is not reason:
        return f"template {template_id} is for {template.reason.value}, not {reason.value}"
    if template.account_id != default_account and not template.is_verified:
        return f"template {template_id} is not verified with Meta; verify it first"
    if template.account_id == account_id and template.verified_elsewhere(waba_id):
        return (
            f"template {template_id} was verified on another WhatsApp Business Account than "
            "this connection's; verify it again with this connection chosen"
        )
    return None
