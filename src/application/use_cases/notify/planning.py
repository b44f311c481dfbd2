"""Reads what the rules of ``domain.planning`` need; renders the template to send."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from application.ports.clock import Clock
from application.ports.repositories import UnitOfWork
from application.services import NotificationOptions, ReasonBook, SettingsReader, in_language
from domain.activity import SkipReason
from domain.conversation import Conversation
from domain.cost import month_start
from domain.errors import InvalidPhoneNumber
from domain.failed_delivery import FailedDelivery
from domain.messages import TemplateMessage
from domain.notification import button_payload, template_values, tracking_link
from domain.phone import PhoneNumber
from domain.planning import Plan, Skip, no_template, over_cap, phone_of, screen, superseded
from domain.reason_rules import classify
from domain.reasons import FdrReason
from domain.settings import ChannelSetting
from domain.templates import WaTemplate


class BatchReads:
    """What the events of one pull share, read once per batch (per workspace, template,
    language): a batch's memo, dropped with the batch, not a cache (``application.ttl_cache``
    is the one cache). The month's count of started conversations is read once per workspace
    and counted up by the batch's own plans, so a batch cannot pass the cap by itself; the
    records check it again (``recheck_caps``) against what other batches recorded since."""

    def __init__(self) -> None:
        self.settings: dict[int, ChannelSetting] = {}
        self.templates: dict[int, WaTemplate | None] = {}
        self.defaults: dict[FdrReason, WaTemplate | None] = {}
        self.languages: dict[tuple[int | None, str], WaTemplate] = {}
        self.started: dict[int, int] = {}
        #: The newest attempt of each shipment whose conversations the batch read (one read
        #: for all, ``read_shipments``); a shipment read and absent here was never messaged.
        self.shipments: set[int] = set()
        self.newest: dict[int, Conversation] = {}
        #: (shipment, status log id) of every attempt of the shipments read.
        self.attempts: set[tuple[int, int]] = set()
        #: (workspace, number) of the batch's events whose opt-out and shopper's language
        #: were read for all of them (``read_numbers``); the opted out among them; the
        #: languages the shoppers chose, by number.
        self.numbers: set[tuple[int, str]] = set()
        self.opted_out: set[tuple[int, str]] = set()
        self.chosen: dict[str, str] = {}
        #: The numbers ``read_numbers`` parsed, as the events gave them: parsed once a batch.
        self.phones: dict[str, PhoneNumber] = {}

    async def read_shipments(self, uow: UnitOfWork, shipments: set[int]) -> None:
        """The conversations of these shipments, one read: which attempts were seen, which
        is each shipment's newest."""
        for c in await uow.conversations.for_shipments(shipments):
            self.attempts.add((c.shipment_id, c.status_log_id))
            newest = self.newest.get(c.shipment_id)
            if newest is None or (newest.status_log_id, newest.id or 0) < (
                c.status_log_id,
                c.id or 0,
            ):
                self.newest[c.shipment_id] = c
        self.shipments |= shipments

    async def read_numbers(self, uow: UnitOfWork, fdrs: Iterable[FailedDelivery]) -> None:
        """The opt-outs and the shoppers' languages of these events' numbers, one read each
        (a number that does not parse is the plan's skip, not read)."""
        numbers: set[tuple[int, str]] = set()
        for fdr in fdrs:
            phone = self.phones.get(fdr.customer_phone)
            if phone is None:
                try:
                    phone = PhoneNumber.parse(fdr.customer_phone)
                except InvalidPhoneNumber:
                    continue
                self.phones[fdr.customer_phone] = phone
            numbers.add((fdr.account_id, phone.digits))
        if numbers:
            self.opted_out = await uow.opt_outs.opted_out_among(numbers)
            self.chosen = await uow.conversations.shopper_languages({n for _, n in numbers})
            self.numbers = numbers


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

    async def plan(
        self, uow: UnitOfWork, fdr: FailedDelivery, reads: BatchReads | None = None
    ) -> Plan | Skip:
        """Reads what ``domain.planning`` needs, in the order its rules ask for it; with
        ``reads``, what the batch read before is not read again."""
        reads = reads or BatchReads()
        # The reason first, so that even a skipped event counts under its reason in the stats.
        classification = classify(fdr, await self._rules.rules(uow))
        reason = classification.reason
        setting = reads.settings.get(fdr.account_id)
        if setting is None:
            setting = await self._settings.get(uow, fdr.account_id)
            reads.settings[fdr.account_id] = setting
        now, stale_after = self._clock.now(), self._options.stale_after_seconds
        if skip := screen(
            classification,
            setting,
            failed_at=fdr.failed_at,
            now=now,
            stale_after_seconds=stale_after,
        ):
            return skip
        newest = (
            reads.newest.get(fdr.shipment_id)
            if fdr.shipment_id in reads.shipments
            else await uow.conversations.latest_for_shipment(fdr.shipment_id)
        )
        newest_id = newest.status_log_id if newest is not None else None
        if skip := superseded(reason, fdr.status_log_id, newest_id):
            return skip
        phone = reads.phones.get(fdr.customer_phone) or phone_of(reason, fdr.customer_phone)
        if isinstance(phone, Skip):
            return phone
        number = (fdr.account_id, phone.digits)
        if number in reads.numbers:  # read for the whole batch
            opted_out, chosen = number in reads.opted_out, reads.chosen.get(phone.digits)
        else:
            opted_out = await uow.opt_outs.is_opted_out(*number)
            chosen = None if opted_out else await uow.conversations.shopper_language(number[1])
        if opted_out:  # docs/opt-out.md
            return Skip(reason, SkipReason.OPTED_OUT, "the shopper opted out of our messages")
        template = await self._template(uow, setting, reason, reads)
        if template is None:
            return no_template(reason, setting)
        # In the shopper's language, else the workspace's (docs/languages.md).
        language = chosen or setting.language
        template = await self._in_language(uow, template, language, reads)
        cap = setting.monthly_template_cap
        started = 0
        if cap is not None:
            if setting.account_id not in reads.started:
                since = month_start(now)
                counted = await uow.conversations.count_started(setting.account_id, since)
                reads.started[setting.account_id] = counted
            started = reads.started[setting.account_id]
        if skip := over_cap(reason, cap, started):
            return skip
        if cap is not None:
            reads.started[setting.account_id] += 1
        return Plan(setting=setting, reason=reason, phone=phone, template=template)

    async def _template(
        self, uow: UnitOfWork, setting: ChannelSetting, reason: FdrReason, reads: BatchReads
    ) -> WaTemplate | None:
        chosen_id = setting.templates.get(reason)
        if chosen_id is not None:
            if chosen_id not in reads.templates:
                reads.templates[chosen_id] = await uow.templates.get(chosen_id)
            chosen = reads.templates[chosen_id]
            owners = setting.template_owners(self._options.default_account_id)
            if chosen is not None and chosen.account_id in owners:
                return chosen
        if setting.sends_from_own_account:
            return None
        if reason not in reads.defaults:
            default = self._options.default_account_id
            reads.defaults[reason] = await uow.templates.default_for(default, reason)
        return reads.defaults[reason]

    async def _in_language(
        self, uow: UnitOfWork, template: WaTemplate, language: str, reads: BatchReads
    ) -> WaTemplate:
        key = (template.id, language)
        found = reads.languages.get(key)
        if found is None:
            default = self._options.default_account_id
            found = await in_language(uow, template, language, default)
            reads.languages[key] = found
        return found


async def recheck_caps(uow: UnitOfWork, plans: Sequence[Plan], now: datetime) -> list[Skip | None]:
    """The monthly cap checked again in the transaction that records these plans'
    conversations, before they are written (docs/cost.md, "The monthly cap"): for each
    workspace whose plans have a cap, its settings row locked (``lock_cap``: the transactions
    recording its new conversations go one at a time, each sees those committed before it)
    and its month's conversations counted; the plans beyond the cap, in their order, are
    budget skips (None: record and send it). The workspaces are locked in account order, so
    two batches never wait for each other crosswise. A workspace without a cap costs
    nothing: no lock, no read."""
    capped = {p.setting.account_id for p in plans if p.setting.monthly_template_cap is not None}
    caps: dict[int, int] = {}  # the workspaces still capped as committed now ...
    started: dict[int, int] = {}  # ... and their month's conversations, counted up
    for account in sorted(capped):
        cap = await uow.settings.lock_cap(account)
        if cap is not None:
            caps[account] = cap
            started[account] = await uow.conversations.count_started(account, month_start(now))
    skips: list[Skip | None] = []
    for plan in plans:
        account = plan.setting.account_id
        skip = None
        if account in caps:
            skip = over_cap(plan.reason, caps[account], started[account])
            if skip is None:
                started[account] += 1
        skips.append(skip)
    return skips


def render(
    fdr: FailedDelivery,
    template: WaTemplate,
    conversation: Conversation,
    options: NotificationOptions,
) -> TemplateMessage:
    assert conversation.id is not None
    values = template_values(
        fdr,
        tracking_link=tracking_link(options.tracking_base_url, conversation),
        support_phone=options.support_phone,
        support_email=options.support_email,
    )
    payloads = tuple(button_payload(conversation, b.id) for b in template.buttons)
    return template.render(values, payloads)
