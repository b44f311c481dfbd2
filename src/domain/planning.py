"""Whether a failed delivery is notified, decided from what was read: each rule once, pure.

The use case reads (settings, the newest conversation of the shipment, the template, the
month's count) and asks these functions in order; the first that answers a ``Skip`` ends it
(docs/sending.md, docs/cost.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from domain.activity import SkipReason
from domain.cost import cap_reached
from domain.errors import InvalidPhoneNumber
from domain.phone import PhoneNumber
from domain.reason_rules import Classification
from domain.reasons import FdrReason
from domain.settings import ChannelSetting
from domain.templates import WaTemplate


@dataclass(frozen=True, slots=True)
class Skip:
    """Not notified: why, under its reason when one is known (it still counts in the stats)."""

    reason: FdrReason | None
    why: SkipReason
    detail: str


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything decided before the conversation is written."""

    setting: ChannelSetting
    reason: FdrReason
    phone: PhoneNumber
    template: WaTemplate


def screen(
    classification: Classification,
    setting: ChannelSetting,
    *,
    failed_at: datetime | None,
    now: datetime,
    stale_after_seconds: float,
) -> Skip | None:
    """WhatsApp off, a reason we cannot name, or an attempt too old for an answer to help."""
    reason = classification.reason
    if not setting.whatsapp_enabled:
        known = None if reason is FdrReason.UNKNOWN else reason
        return Skip(known, SkipReason.DISABLED, "WhatsApp is off for the workspace")
    if reason is FdrReason.UNKNOWN:
        return Skip(None, SkipReason.UNKNOWN_REASON, classification.matched or "(no reason text)")
    if failed_at is not None:
        age = (now - failed_at).total_seconds()
        if age > stale_after_seconds:
            hours = stale_after_seconds / 3600
            why = f"the attempt failed {age / 3600:.0f} h ago, more than {hours:g} h"
            return Skip(reason, SkipReason.STALE, why)
    return None


def superseded(reason: FdrReason, status_log_id: int, newest_notified: int | None) -> Skip | None:
    """The shopper already has a newer attempt's message: an older one now would only
    expire the buttons they are about to tap."""
    if newest_notified is not None and newest_notified > status_log_id:
        why = f"a newer failed attempt (status log {newest_notified}) was notified"
        return Skip(reason, SkipReason.SUPERSEDED, why)
    return None


def phone_of(reason: FdrReason, raw: str) -> PhoneNumber | Skip:
    try:
        return PhoneNumber.parse(raw)
    except InvalidPhoneNumber as exc:
        return Skip(reason, SkipReason.BAD_PHONE, str(exc))


def no_template(reason: FdrReason, setting: ChannelSetting) -> Skip:
    if setting.sends_from_own_account:
        why = (
            f"no template of the workspace for {reason}: it sends from its own "
            "WhatsApp account, where Eshopbox's templates do not exist"
        )
    else:
        why = f"no template for {reason}"
    return Skip(reason, SkipReason.NO_TEMPLATE, why)


def over_cap(reason: FdrReason, cap: int | None, started: int) -> Skip | None:
    """The workspace's monthly template cap is reached (docs/cost.md)."""
    if cap is not None and cap_reached(started, cap):
        return Skip(reason, SkipReason.BUDGET, f"monthly cap of {cap} templates reached")
    return None


def verified_elsewhere(reason: FdrReason, template: WaTemplate, waba_id: str | None) -> Skip | None:
    """Meta refuses a template verified on another business account than the sender's."""
    if template.verified_elsewhere(waba_id):
        why = (
            f"template {template.template_name!r} was verified on another WhatsApp "
            "Business Account than the sender's"
        )
        return Skip(reason, SkipReason.NO_TEMPLATE, why)
    return None
