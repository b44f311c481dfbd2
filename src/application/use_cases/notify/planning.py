"""Everything decided before a conversation is written: why not, or what to send."""

from __future__ import annotations

from dataclasses import dataclass

from application.ports.clock import Clock
from application.ports.repositories import UnitOfWork
from application.services import NotificationOptions, ReasonBook, SettingsReader, in_language
from domain.activity import SkipReason
from domain.conversation import Conversation
from domain.cost import cap_reached, month_start
from domain.errors import InvalidPhoneNumber
from domain.failed_delivery import FailedDelivery
from domain.messages import TemplateMessage
from domain.notification import button_payload, template_values
from domain.phone import PhoneNumber
from domain.reason_rules import classify
from domain.reasons import FdrReason
from domain.settings import ChannelSetting
from domain.templates import WaTemplate


@dataclass(frozen=True, slots=True)
class Skip:
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


class NotificationPlanner:
    def __init__(
        self,
        settings: SettingsReader,
        rules: ReasonBook,
        clock: Clock,
        options: NotificationOptions,
    ) -> None:
        self._settings = settings
        self._rules = rules
        self._clock = clock
        self._options = options

    async def plan(self, uow: UnitOfWork, fdr: FailedDelivery) -> Plan | Skip:
        # The reason first, so that even a skipped event counts under its reason in the stats.
        classification = classify(fdr, await self._rules.rules(uow))
        reason = classification.reason
        setting = await self._settings.get(uow, fdr.account_id)
        if not setting.whatsapp_enabled:
            known = None if reason is FdrReason.UNKNOWN else reason
            return Skip(known, SkipReason.DISABLED, "WhatsApp is off for the workspace")
        if reason is FdrReason.UNKNOWN:
            text = classification.matched or "(no reason text)"
            return Skip(None, SkipReason.UNKNOWN_REASON, text)
        if fdr.failed_at is not None:
            age = (self._clock.now() - fdr.failed_at).total_seconds()
            if age > self._options.stale_after_seconds:
                hours = self._options.stale_after_seconds / 3600
                why = f"the attempt failed {age / 3600:.0f} h ago, more than {hours:g} h"
                return Skip(reason, SkipReason.STALE, why)
        newest = await uow.conversations.latest_for_shipment(fdr.shipment_id)
        if newest is not None and newest.status_log_id > fdr.status_log_id:
            # The shopper already has the newer attempt's message: an older one now would
            # only expire the buttons they are about to tap.
            why = f"a newer failed attempt (status log {newest.status_log_id}) was notified"
            return Skip(reason, SkipReason.SUPERSEDED, why)
        try:
            phone = PhoneNumber.parse(fdr.customer_phone)
        except InvalidPhoneNumber as exc:
            return Skip(reason, SkipReason.BAD_PHONE, str(exc))
        template = await self._template(uow, setting, reason)
        if template is not None:  # in the shopper's language, else the workspace's
            language = await uow.conversations.shopper_language(phone.digits) or setting.language
            default_account = self._options.default_account_id
            template = await in_language(uow, template, language, default_account)
        if template is None:
            if setting.sends_from_own_account:
                why = (
                    f"no template of the workspace for {reason}: it sends from its own "
                    "WhatsApp account, where Eshopbox's templates do not exist"
                )
            else:
                why = f"no template for {reason}"
            return Skip(reason, SkipReason.NO_TEMPLATE, why)
        if over := await self._over_budget(uow, setting):
            return Skip(reason, SkipReason.BUDGET, over)
        return Plan(setting=setting, reason=reason, phone=phone, template=template)

    async def _over_budget(self, uow: UnitOfWork, setting: ChannelSetting) -> str:
        """Why the workspace's monthly cap stops this template, or "" (docs/cost.md)."""
        cap = setting.monthly_template_cap
        if cap is None:
            return ""
        started = await uow.conversations.count_started(
            setting.account_id, month_start(self._clock.now())
        )
        return f"monthly cap of {cap} templates reached" if cap_reached(started, cap) else ""

    async def _template(
        self, uow: UnitOfWork, setting: ChannelSetting, reason: FdrReason
    ) -> WaTemplate | None:
        chosen_id = setting.templates.get(reason)
        if chosen_id is not None:
            chosen = await uow.templates.get(chosen_id)
            owners = setting.template_owners(self._options.default_account_id)
            if chosen is not None and chosen.account_id in owners:
                return chosen
        if setting.sends_from_own_account:
            return None
        return await uow.templates.default_for(self._options.default_account_id, reason)


def render(
    fdr: FailedDelivery,
    template: WaTemplate,
    conversation: Conversation,
    options: NotificationOptions,
) -> TemplateMessage:
    assert conversation.id is not None
    values = template_values(
        fdr,
        tracking_link=f"{options.tracking_base_url}/track/whatsapp/{fdr.shipment_id}",
        support_phone=options.support_phone,
        support_email=options.support_email,
    )
    payloads = tuple(button_payload(conversation, b.id) for b in template.buttons)
    return template.render(values, payloads)
