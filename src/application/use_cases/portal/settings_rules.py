"""The rules a workspace's settings change must keep; each broken one is named by its field.

Rules: a reason key is a known reason (not ``unknown``); a template is the workspace's or the
shipped one, for that reason, sendable from the chosen connection's account (the workspace's
own templates verified with Meta, on that account); the language is one we speak; quiet hours
are ``HH:MM`` and an IANA zone (a part left out is the deployment's); a default action is one
of ``DefaultAction`` (``nothing`` is not stored).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from domain.language import ENGLISH, LANGUAGES
from domain.quiet_hours import QuietHours, check_zone, parse_clock
from domain.reasons import FdrReason
from domain.scheduling import DefaultAction
from domain.settings import DEFAULT_ACTION_CUTOFF_MINUTES, DEFAULT_REMINDER_DELAY_MINUTES
from domain.templates import WaTemplate


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


def language_problem(language: str) -> str | None:
    if language in LANGUAGES:
        return None
    return f"unknown language {language[:16]!r}; one of " + ", ".join(LANGUAGES)


def quiet_hours_of(
    change: SettingsChange, default: QuietHours, errors: dict[str, str]
) -> QuietHours | None:
    """The workspace's window, or None for the deployment's; a wrong part goes to
    ``errors`` under its field's name."""
    parts = (change.quiet_hours_start, change.quiet_hours_end, change.quiet_hours_zone)
    if all(part is None for part in parts):
        return None
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


def default_actions_of(
    chosen: Mapping[str, str], errors: dict[str, str]
) -> dict[FdrReason, DefaultAction]:
    """The reasons whose silence leads to an action (``nothing`` is not stored)."""
    actions: dict[FdrReason, DefaultAction] = {}
    for key, value in chosen.items():
        field = f"default_actions.{key[:64]}"
        reason = known_reason(key)
        if reason is None:
            known = ", ".join(r.value for r in FdrReason.known())
            errors[field] = f"unknown reason {key[:64]!r}; one of {known}"
        elif value not in DefaultAction.__members__.values():
            names = ", ".join(a.value for a in DefaultAction)
            errors[field] = f"unknown default action {value[:32]!r}; one of {names}"
        elif (action := DefaultAction(value)) is not DefaultAction.NOTHING:
            actions[reason] = action
    return actions


def known_reason(key: str) -> FdrReason | None:
    try:
        reason = FdrReason(key)
    except ValueError:
        return None
    return None if reason is FdrReason.UNKNOWN else reason


def template_problem(
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
