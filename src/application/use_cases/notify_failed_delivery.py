"""A failed delivery becomes exactly one WhatsApp template message (or a recorded reason why not).

At-least-once delivery of events is made exactly-once sending by the conversation's unique key
(shipment, attempt) and by recording the message *before* it is sent: a redelivered event
finds the record and either stops (sent, failed, unknown) or sends what certainly never
left (``queued``, ``retrying``). The rules are written down in docs/sending.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import structlog

from application.follow_through import schedule_follow_through
from application.ports.clock import Clock, IdGenerator
from application.ports.collaborators import ActivityPublisher
from application.ports.repositories import UnitOfWork
from application.ports.whatsapp import ThroughputLimiter, WhatsAppGateway
from application.sending import ask_meta, settle, settle_conversation, take_slot
from application.services import (
    NotificationOptions,
    ReasonBook,
    SenderResolver,
    SettingsReader,
    in_language,
    publish_quietly,
)
from application.use_cases.held_sends import HeldSends
from domain.activity import ActivityEvent, Outcome, SkipReason
from domain.conversation import Conversation, ConversationState
from domain.cost import cap_reached, month_start
from domain.errors import (
    InvalidPhoneNumber,
    NotFound,
    PermanentSendError,
    RetryableSendError,
    SendError,
    SendOutcomeUnknown,
    TemplateMismatch,
    UpstreamRejected,
)
from domain.failed_delivery import FailedDelivery
from domain.messages import MessageKind, OutgoingMessage, TemplateMessage
from domain.notification import button_payload, template_values
from domain.phone import PhoneNumber
from domain.reason_rules import classify
from domain.reasons import FdrReason
from domain.records import FdrEventRecord
from domain.settings import ChannelSetting, SenderConnection
from domain.status import MessageStatus
from domain.templates import WaTemplate

_log = structlog.get_logger("fdr")


class Disposition(StrEnum):
    ACK = "ack"  # the outcome is recorded: never deliver this event again
    RETRY = "retry"  # nothing final happened: deliver it again after ``retry_after``


@dataclass(frozen=True, slots=True, kw_only=True)
class Notified:
    disposition: Disposition
    outcome: Outcome
    detail: str = ""
    retry_after: int | None = None
    conversation_id: int | None = None
    message_id: str | None = None
    duplicate: bool = False


def event_key(fdr: FailedDelivery) -> str:
    return attempt_event_key(fdr.shipment_id, fdr.status_log_id)


def attempt_event_key(shipment_id: int, status_log_id: int) -> str:
    return f"fdr:{shipment_id}:{status_log_id}"


@dataclass(frozen=True, slots=True)
class _Skip:
    reason: FdrReason | None
    why: SkipReason
    detail: str


@dataclass(frozen=True, slots=True)
class _Plan:
    """Everything decided before the conversation is written."""

    setting: ChannelSetting
    reason: FdrReason
    phone: PhoneNumber
    template: WaTemplate


class NotifyFailedDelivery:
    def __init__(
        self,
        uow: UnitOfWork,
        settings: SettingsReader,
        rules: ReasonBook,
        senders: SenderResolver,
        gateway: WhatsAppGateway,
        limiter: ThroughputLimiter,
        activity: ActivityPublisher,
        clock: Clock,
        refs: IdGenerator,
        options: NotificationOptions,
        held: HeldSends,
    ) -> None:
        self._uow = uow
        self._held = held
        self._settings = settings
        self._rules = rules
        self._senders = senders
        self._gateway = gateway
        self._limiter = limiter
        self._activity = activity
        self._clock = clock
        self._refs = refs
        self._options = options

    async def __call__(self, fdr: FailedDelivery, *, released: bool = False) -> Notified:
        """``released``: the scheduler sends an event held through quiet hours (held_sends)."""
        async with self._uow as uow:
            existing = await uow.conversations.get_by_attempt(fdr.shipment_id, fdr.status_log_id)
            if existing is None:
                prior = await uow.fdr_events.get(event_key(fdr))
                if prior is not None and (
                    prior.outcome is Outcome.SKIPPED
                    or (prior.outcome is Outcome.HELD and not released)
                ):
                    return Notified(
                        disposition=Disposition.ACK,
                        outcome=prior.outcome,
                        detail=prior.detail,
                        duplicate=True,
                    )
                plan = await self._plan(uow, fdr)
        if existing is not None:
            return await self._resume(fdr, existing)
        if isinstance(plan, _Skip):
            return await self._skip(fdr, plan.reason, plan.why, plan.detail)
        if not released and (
            held := await self._held.hold(fdr, plan.setting, plan.reason, event_key(fdr))
        ):
            return Notified(disposition=Disposition.ACK, outcome=Outcome.HELD, detail=held)
        return await self._start(fdr, plan)

    async def _plan(self, uow: UnitOfWork, fdr: FailedDelivery) -> _Plan | _Skip:
        # The reason first, so that even a skipped event counts under its reason in the stats.
        classification = classify(fdr, await self._rules.rules(uow))
        reason = classification.reason
        setting = await self._settings.get(uow, fdr.account_id)
        if not setting.whatsapp_enabled:
            known = None if reason is FdrReason.UNKNOWN else reason
            return _Skip(known, SkipReason.DISABLED, "WhatsApp is off for the workspace")
        if reason is FdrReason.UNKNOWN:
            text = classification.matched or "(no reason text)"
            return _Skip(None, SkipReason.UNKNOWN_REASON, text)
        if fdr.failed_at is not None:
            age = (self._clock.now() - fdr.failed_at).total_seconds()
            if age > self._options.stale_after_seconds:
                hours = self._options.stale_after_seconds / 3600
                why = f"the attempt failed {age / 3600:.0f} h ago, more than {hours:g} h"
                return _Skip(reason, SkipReason.STALE, why)
        newest = await uow.conversations.latest_for_shipment(fdr.shipment_id)
        if newest is not None and newest.status_log_id > fdr.status_log_id:
            # The shopper already has the newer attempt's message: an older one now would
            # only expire the buttons they are about to tap.
            why = f"a newer failed attempt (status log {newest.status_log_id}) was notified"
            return _Skip(reason, SkipReason.SUPERSEDED, why)
        try:
            phone = PhoneNumber.parse(fdr.customer_phone)
        except InvalidPhoneNumber as exc:
            return _Skip(reason, SkipReason.BAD_PHONE, str(exc))
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
            return _Skip(reason, SkipReason.NO_TEMPLATE, why)
        if over := await self._over_budget(uow, setting):
            return _Skip(reason, SkipReason.BUDGET, over)
        return _Plan(setting=setting, reason=reason, phone=phone, template=template)

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

    async def _start(self, fdr: FailedDelivery, plan: _Plan) -> Notified:
        try:
            sender = await self._senders.for_setting(plan.setting)
        except (NotFound, UpstreamRejected) as exc:
            return await self._skip(fdr, plan.reason, SkipReason.NO_SENDER, str(exc))
        if plan.template.verified_elsewhere(sender.waba_id):
            why = (
                f"template {plan.template.template_name!r} was verified on another WhatsApp "
                "Business Account than the sender's"
            )
            return await self._skip(fdr, plan.reason, SkipReason.NO_TEMPLATE, why)
        now = self._clock.now()
        async with self._uow as uow:
            conversation = await uow.conversations.add(
                Conversation(
                    account_id=fdr.account_id,
                    shipment_id=fdr.shipment_id,
                    external_shipment_id=fdr.external_shipment_id,
                    status_log_id=fdr.status_log_id,
                    order_number=fdr.order_number,
                    tracking_id=fdr.tracking_id,
                    courier=fdr.courier[:128],
                    tracking_domain=fdr.tracking_domain,
                    reason=plan.reason,
                    customer_phone=plan.phone.digits,
                    customer_name=fdr.customer_name,
                    brand=fdr.brand or fdr.account_slug,
                    sender_connection_id=sender.connection_id,
                    template_id=plan.template.id,
                    state=ConversationState.PENDING,
                    reply_ref=self._refs.new_ref()[:32],
                    created_at=now,
                    updated_at=now,
                )
            )
            if conversation is None:  # another worker took this attempt a moment ago
                await uow.rollback()
                raced = await uow.conversations.get_by_attempt(fdr.shipment_id, fdr.status_log_id)
            else:
                try:
                    content = self._render(fdr, plan.template, conversation)
                except TemplateMismatch as exc:
                    mismatch = str(exc)
                    conversation.state = ConversationState.FAILED
                    await uow.conversations.update(conversation)
                    content = None
                assert conversation.id is not None
                if content is None:
                    message = None
                else:
                    message = await uow.messages.add(
                        OutgoingMessage(
                            conversation_id=conversation.id,
                            kind=MessageKind.TEMPLATE,
                            client_ref=self._refs.new_ref(),
                            shipment_status_log_id=fdr.status_log_id,
                            sender_connection_id=sender.connection_id,
                            customer_phone=plan.phone.digits,
                            business_phone=sender.display_phone_number or sender.phone_number_id,
                            wa_template_id=plan.template.id,
                            payload=content.describe(),
                            status=MessageStatus.QUEUED,
                            created_at=now,
                            updated_at=now,
                        )
                    )
                await uow.commit()
        if conversation is None:
            assert raced is not None
            return await self._resume(fdr, raced)
        if content is None or message is None:
            return await self._skip(
                fdr, plan.reason, SkipReason.TEMPLATE_MISMATCH, mismatch, conversation.id
            )
        return await self._send(fdr, conversation, message, sender, content)

    def _render(
        self, fdr: FailedDelivery, template: WaTemplate, conversation: Conversation
    ) -> TemplateMessage:
        assert conversation.id is not None
        values = template_values(
            fdr,
            tracking_link=f"{self._options.tracking_base_url}/track/whatsapp/{fdr.shipment_id}",
            support_phone=self._options.support_phone,
            support_email=self._options.support_email,
        )
        payloads = tuple(button_payload(conversation, b.id) for b in template.buttons)
        return template.render(values, payloads)

    async def _send(
        self,
        fdr: FailedDelivery,
        conversation: Conversation,
        message: OutgoingMessage,
        sender: SenderConnection,
        content: TemplateMessage,
    ) -> Notified:
        if not await take_slot(self._uow, self._limiter, self._clock, message, sender):
            # Another worker has taken this send since we read it: look again later.
            return self._in_flight(conversation, message, self._options.in_flight_grace_seconds)
        error = await ask_meta(self._gateway, message, sender, content, self._clock.now())
        if isinstance(error, RetryableSendError):
            async with self._uow as uow:
                await uow.messages.advance(message)
                await uow.commit()
            delay = int(error.retry_after or self._options.retry_delay_seconds)
            _log.warning("send refused for now", code=error.code, shipment_id=fdr.shipment_id)
            return Notified(
                disposition=Disposition.RETRY,
                outcome=Outcome.UNKNOWN,
                detail=str(error),
                retry_after=delay,
                conversation_id=conversation.id,
            )
        return await self._finish(fdr, conversation, message, error)

    def _in_flight(
        self, conversation: Conversation, message: OutgoingMessage, wait: float
    ) -> Notified:
        return Notified(
            disposition=Disposition.RETRY,
            outcome=Outcome.UNKNOWN,
            retry_after=int(wait) + 1,
            conversation_id=conversation.id,
            message_id=message.message_id,
            duplicate=True,
        )

    async def _finish(
        self,
        fdr: FailedDelivery,
        conversation: Conversation,
        message: OutgoingMessage,
        error: SendError | None,
        *,
        answered: bool = True,
    ) -> Notified:
        """Records the send's outcome, the message's status and the conversation's state in
        one transaction; ``answered=False`` completes the record of a send whose status is
        stored already (a worker stopped before recording its outcome)."""
        now = self._clock.now()
        async with self._uow as uow:
            if answered:
                message = await settle(uow, message, now)
            else:
                await settle_conversation(uow, message, now)
            outcome = _outcome_of(message.status)
            detail = str(error) if error else ""
            if not detail and message.status is MessageStatus.FAILED:
                detail = message.error_title or ""
            await self._record(
                uow,
                fdr,
                conversation.reason,
                outcome,
                detail=detail,
                conversation_id=conversation.id,
                error_code=message.error_code if outcome is Outcome.FAILED else None,
            )
            if outcome in (Outcome.SENT, Outcome.UNKNOWN):  # the reminder, the default action
                await schedule_follow_through(uow, conversation, fdr.failed_at, now)
            await uow.commit()
        await self._publish(
            ActivityEvent(
                account_id=fdr.account_id,
                shipment_id=fdr.shipment_id,
                reason=conversation.reason.value,
                outcome=outcome,
                message_id=message.message_id,
                conversation_id=conversation.id,
                error_code=message.error_code,
                error_title=message.error_title,
                occurred_at=now,
            )
        )
        return Notified(
            disposition=Disposition.ACK,
            outcome=outcome,
            detail=detail,
            conversation_id=conversation.id,
            message_id=message.message_id,
        )

    async def _resume(self, fdr: FailedDelivery, conversation: Conversation) -> Notified:
        """The attempt was seen before: finish what is unfinished, never send twice."""
        assert conversation.id is not None
        async with self._uow as uow:
            thread = await uow.messages.for_conversation(conversation.id)
            template = next((m for m in thread if m.kind is MessageKind.TEMPLATE), None)
            recorded = await uow.fdr_events.get(event_key(fdr))
            stored_template = (
                await uow.templates.get(conversation.template_id)
                if conversation.template_id is not None
                else None
            )
        if template is None:
            if recorded is not None:
                return Notified(
                    disposition=Disposition.ACK,
                    outcome=recorded.outcome,
                    detail=recorded.detail,
                    conversation_id=conversation.id,
                    duplicate=True,
                )
            # Stopped between storing a conversation whose template did not fit and its record.
            why = "the template did not fit the event"
            return await self._skip(
                fdr, conversation.reason, SkipReason.TEMPLATE_MISMATCH, why, conversation.id
            )
        if template.status in (MessageStatus.QUEUED, MessageStatus.RETRYING):
            # Certainly never reached Meta: send it now (stored_template is checked below).
            pass
        elif template.in_flight:
            age = (self._clock.now() - template.updated_at).total_seconds()
            if age < self._options.in_flight_grace_seconds:
                # Another worker is sending right now; look again once it must have finished.
                return self._in_flight(
                    conversation, template, self._options.in_flight_grace_seconds - age
                )
            # A worker died mid-send: Meta may have the message. Do not send it again; the
            # status webhook or the second look at unknown sends settles it.
            template.status = MessageStatus.UNKNOWN
            template.updated_at = self._clock.now()
            stopped = SendOutcomeUnknown(None, "worker stopped during the send")
            return await self._finish(fdr, conversation, template, stopped)
        elif recorded is None:
            # Meta's answer is stored but not the outcome (the worker stopped in between, or
            # its write failed): complete the record instead of acknowledging without one.
            return await self._finish(fdr, conversation, template, None, answered=False)
        else:
            return Notified(
                disposition=Disposition.ACK,
                outcome=_outcome_of(template.status),
                conversation_id=conversation.id,
                message_id=template.message_id,
                duplicate=True,
            )
        if stored_template is None:
            gone = PermanentSendError(None, "template deleted before it could be sent")
            template.status = MessageStatus.FAILED
            template.error_title = gone.title
            template.updated_at = self._clock.now()
            return await self._finish(fdr, conversation, template, gone)
        try:
            sender = await self._senders.by_connection_id(conversation.sender_connection_id)
        except (NotFound, UpstreamRejected) as exc:
            unavailable = PermanentSendError(None, f"sender unavailable: {exc}")
            template.status = MessageStatus.FAILED
            template.error_title = unavailable.title[:255]
            template.updated_at = self._clock.now()
            return await self._finish(fdr, conversation, template, unavailable)
        content = self._render(fdr, stored_template, conversation)
        return await self._send(fdr, conversation, template, sender, content)

    async def _skip(
        self,
        fdr: FailedDelivery,
        reason: FdrReason | None,
        why: SkipReason,
        detail: str,
        conversation_id: int | None = None,
    ) -> Notified:
        text = f"{why.value}: {detail}"[:1000]
        async with self._uow as uow:
            await self._record(
                uow, fdr, reason, Outcome.SKIPPED, detail=text, conversation_id=conversation_id
            )
            await uow.commit()
        await self._publish(
            ActivityEvent(
                account_id=fdr.account_id,
                shipment_id=fdr.shipment_id,
                reason=reason.value if reason else None,
                outcome=Outcome.SKIPPED,
                conversation_id=conversation_id,
                detail=text,
                occurred_at=self._clock.now(),
            )
        )
        return Notified(
            disposition=Disposition.ACK,
            outcome=Outcome.SKIPPED,
            detail=text,
            conversation_id=conversation_id,
        )

    async def _record(
        self,
        uow: UnitOfWork,
        fdr: FailedDelivery,
        reason: FdrReason | None,
        outcome: Outcome,
        *,
        detail: str,
        conversation_id: int | None,
        error_code: int | None = None,
    ) -> None:
        record = FdrEventRecord(
            event_key=event_key(fdr),
            account_id=fdr.account_id,
            shipment_id=fdr.shipment_id,
            status_log_id=fdr.status_log_id,
            reason=reason.value if reason else FdrReason.UNKNOWN.value,
            outcome=outcome,
            detail=detail,
            conversation_id=conversation_id,
            error_code=error_code,
            received_at=self._clock.now(),
        )
        if await uow.fdr_events.add(record) is None:
            await uow.fdr_events.update(record)

    async def _publish(self, event: ActivityEvent) -> None:
        await publish_quietly(self._activity, event)


def _outcome_of(status: MessageStatus) -> Outcome:
    if status is MessageStatus.FAILED:
        return Outcome.FAILED
    if status.rank == 0:  # queued, in flight, retrying, unknown
        return Outcome.UNKNOWN
    return Outcome.SENT
