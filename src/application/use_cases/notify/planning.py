"""Reads what the rules of ``domain.planning`` need; renders the template to send."""

from __future__ import annotations

from application.ports.clock import Clock
from application.ports.repositories import UnitOfWork
from application.services import NotificationOptions, ReasonBook, SettingsReader, in_language
from domain.conversation import Conversation
from domain.cost import month_start
from domain.failed_delivery import FailedDelivery
from domain.messages import TemplateMessage
from domain.notification import button_payload, template_values
from domain.planning import Plan, Skip, no_template, over_cap, phone_of, screen, superseded
from domain.reason_rules import classify
from domain.reasons import FdrReason
from domain.settings import ChannelSetting
from domain.templates import WaTemplate


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
        """Reads what ``domain.planning`` needs, in the order its rules ask for it."""
        # The reason first, so that even a skipped event counts under its reason in the stats.
        classification = classify(fdr, await self._rules.rules(uow))
        reason = classification.reason
        setting = await self._settings.get(uow, fdr.account_id)
        now, stale_after = self._clock.now(), self._options.stale_after_seconds
        if skip := screen(
            classification,
            setting,
            failed_at=fdr.failed_at,
            now=now,
            stale_after_seconds=stale_after,
        ):
            return skip
        newest = await uow.conversations.latest_for_shipment(fdr.shipment_id)
        newest_id = newest.status_log_id if newest is not None else None
        if skip := superseded(reason, fdr.status_log_id, newest_id):
            return skip
        phone = phone_of(reason, fdr.customer_phone)
        if isinstance(phone, Skip):
            return phone
        template = await self._template(uow, setting, reason)
        if template is None:
            return no_template(reason, setting)
        # In the shopper's language, else the workspace's (docs/languages.md).
        language = await uow.conversations.shopper_language(phone.digits) or setting.language
        template = await in_language(uow, template, language, self._options.default_account_id)
        cap = setting.monthly_template_cap
        started = (
            0
            if cap is None
            else await uow.conversations.count_started(setting.account_id, month_start(now))
        )
        if skip := over_cap(reason, cap, started):
            return skip
        return Plan(setting=setting, reason=reason, phone=phone, template=template)

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
