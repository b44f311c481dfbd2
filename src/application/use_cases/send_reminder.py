"""The one reminder to a shopper who has not answered (docs/scheduler.md).

Run by the scheduler when the reminder is due. It is a template (the 24-hour window may
have closed), stored before it is sent with a ``client_ref`` derived from the conversation:
a job run again after a crash finds it and never sends a second one.
"""

from __future__ import annotations

import structlog

from application.content_codec import content_from_json, content_json
from application.follow_through import silent_conversation
from application.ports.clock import Clock
from application.ports.collaborators import ActivityPublisher
from application.ports.repositories import UnitOfWork
from application.ports.whatsapp import ThroughputLimiter, WhatsAppGateway
from application.sending import SendStep
from application.services import NotificationOptions, SenderResolver, SettingsReader
from application.use_cases.notify.results import outcome_of
from domain.activity import ActivityEvent, ActivityKind
from domain.conversation import Conversation
from domain.errors import NotFound, UpstreamRejected, UpstreamUnavailable
from domain.language import normalise
from domain.messages import MessageKind, OutgoingMessage, reminder_ref
from domain.notification import tracking_link
from domain.quiet_hours import next_allowed
from domain.scheduling import REMINDER, NotYet, ScheduledJob
from domain.settings import ChannelSetting
from domain.status import MessageStatus
from domain.templates import TemplateVariable, WaTemplate

_log = structlog.get_logger("reminders")

#: The reminder template's name (shipped in English and Hindi, migration 0007).
REMINDER_TEMPLATE = "fdr_reminder"


class SendReminder:
    kind = REMINDER

    def __init__(
        self,
        uow: UnitOfWork,
        settings: SettingsReader,
        senders: SenderResolver,
        gateway: WhatsAppGateway,
        limiter: ThroughputLimiter,
        activity: ActivityPublisher,
        clock: Clock,
        options: NotificationOptions,
    ) -> None:
        self._uow = uow
        self._settings = settings
        self._senders = senders
        self._step = SendStep(uow, gateway, limiter, clock)
        self._activity = activity
        self._clock = clock
        self._options = options

    async def __call__(self, job: ScheduledJob) -> None:
        """Raises ``UpstreamUnavailable`` when Meta refused for now (tried again later)."""
        now = self._clock.now()
        async with self._uow as uow:
            conversation = await silent_conversation(uow, job, now)
            if conversation is None or conversation.id is None:
                return
            message = await uow.messages.get_by_client_ref(reminder_ref(conversation.id))
            if message is None:
                setting = await self._settings.get(uow, conversation.account_id)
                if await uow.opt_outs.is_opted_out(
                    conversation.account_id, conversation.customer_phone
                ):
                    _log.info("reminder not sent: the shopper opted out", key=job.key)
                    return  # docs/opt-out.md
                # A business-initiated message: never in the shopper's night (docs/quiet-hours.md).
                allowed = next_allowed(now, setting.quiet_hours or self._options.quiet_hours)
                if allowed > now:
                    raise NotYet(allowed, "quiet hours")
                template = await self._template(uow, conversation, setting)
                if template is None:
                    _log.warning("reminder not sent: no reminder template", key=job.key)
                    return
                content = template.render(_values(conversation, self._link(conversation)), ())
                message = await uow.messages.add(
                    OutgoingMessage(
                        conversation_id=conversation.id,
                        kind=MessageKind.TEMPLATE,
                        client_ref=reminder_ref(conversation.id),
                        shipment_status_log_id=conversation.status_log_id,
                        sender_connection_id=conversation.sender_connection_id,
                        customer_phone=conversation.customer_phone,
                        business_phone="",
                        wa_template_id=template.id,
                        root_message_id=conversation.root_message_id,
                        payload=content_json(content),
                        status=MessageStatus.QUEUED,
                        created_at=now,
                        updated_at=now,
                    )
                )
                await uow.commit()
        if message.status not in (MessageStatus.QUEUED, MessageStatus.RETRYING):
            return  # sent (or tried) by an earlier run of this job
        await self._send(conversation, message)

    async def _send(self, conversation: Conversation, message: OutgoingMessage) -> None:
        try:
            sender = await self._senders.by_connection_id(conversation.sender_connection_id)
        except (NotFound, UpstreamRejected) as exc:
            _log.warning("reminder not sent: sender unavailable", error=str(exc))
            return
        message.business_phone = sender.display_phone_number or sender.phone_number_id
        sent = await self._step(message, sender, content_from_json(message.payload))
        if sent is None:
            return  # another run of the job has it
        if sent.for_now:
            raise UpstreamUnavailable(f"Meta refused the reminder for now: {sent.error}")
        message = await self._step.close(sent.message)
        await self._activity.publish(
            ActivityEvent(
                account_id=conversation.account_id,
                shipment_id=conversation.shipment_id,
                reason=conversation.reason.value,
                outcome=outcome_of(message.status),
                kind=ActivityKind.REMINDER,
                message_id=message.message_id,
                conversation_id=conversation.id,
                error_code=message.error_code,
                error_title=message.error_title,
                occurred_at=self._clock.now(),
            )
        )

    async def _template(
        self, uow: UnitOfWork, conversation: Conversation, setting: ChannelSetting
    ) -> WaTemplate | None:
        """The reminder in the shopper's language, else the workspace's, else English: the
        workspace's own verified one first, else (from the Eshopbox connection) the shipped."""
        language = await uow.conversations.shopper_language(conversation.customer_phone)
        wanted = [language or setting.language, setting.language, "en"]
        default_account = self._options.default_account_id
        for owner in setting.template_owners(default_account):
            found = [
                t
                for t in await uow.templates.for_account(owner)
                if t.template_name == REMINDER_TEMPLATE
                and (owner == default_account or t.is_verified)
            ]
            for code in wanted:
                for template in found:
                    if normalise(template.language) == code:
                        return template
        return None

    def _link(self, conversation: Conversation) -> str:
        return tracking_link(self._options.tracking_base_url, conversation)


def _values(conversation: Conversation, link: str) -> dict[TemplateVariable, str]:
    name = conversation.customer_name.strip()
    return {
        TemplateVariable.FIRST_NAME: name.split()[0] if name else "there",
        TemplateVariable.BRAND: conversation.brand or "your",
        TemplateVariable.ORDER_NUMBER: conversation.order_number
        or conversation.external_shipment_id
        or "-",
        TemplateVariable.TRACKING_LINK: link,
    }
