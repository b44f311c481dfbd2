"""The one reminder to a shopper who has not answered (docs/scheduler.md).

Run by the scheduler when the reminder is due. Rules: only while the shopper is still silent
(``follow_through.silent_conversation``); never to an opted-out number; never in the
shopper's quiet hours (the job waits for their end); a template (the 24-hour window may have
closed), recorded before it is sent (``reminder_message``) and sent through the one send
step: a job run again after a crash finds it and never sends a second one.
"""

from __future__ import annotations

import structlog

from application.content_codec import content_from_json
from application.follow_through import silent_conversation
from application.ports.clock import Clock
from application.ports.collaborators import ActivityPublisher
from application.ports.repositories import UnitOfWork
from application.reachability import signal_failed_send
from application.sending import SendStep
from application.services import NotificationOptions, SenderResolver, SettingsReader
from application.statuses import tell_early
from application.use_cases.notify.results import outcome_of
from application.use_cases.reminder_message import reminder_message, reminder_template
from domain.activity import ActivityEvent, ActivityKind
from domain.conversation import Conversation
from domain.errors import NotFound, UpstreamRejected, UpstreamUnavailable
from domain.messages import OutgoingMessage, reminder_ref
from domain.notification import tracking_link
from domain.quiet_hours import next_allowed
from domain.scheduling import REMINDER, NotYet, ScheduledJob
from domain.status import MessageStatus

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
        step: SendStep,
        activity: ActivityPublisher,
        clock: Clock,
        options: NotificationOptions,
    ) -> None:
        self._uow = uow
        self._settings = settings
        self._senders = senders
        self._step = step
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
                default_account = self._options.default_account_id
                template = await reminder_template(uow, conversation, setting, default_account)
                if template is None:
                    _log.warning("reminder not sent: no reminder template", key=job.key)
                    return
                link = tracking_link(self._options.tracking_base_url, conversation)
                message = await uow.messages.add(
                    reminder_message(conversation, template, link, now)
                )
                await uow.commit()
        if message.status not in (MessageStatus.QUEUED, MessageStatus.RETRYING):
            # Sent (or tried) by an earlier run of this job, which may have failed before the
            # refusal's signal was written: written now, unless it was (its key).
            await signal_failed_send(self._uow, self._activity, conversation, message, now)
            return
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
        stored = await self._step.close(sent.message)
        message, now = stored.message, self._clock.now()
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
                occurred_at=now,
            )
        )
        # A number that cannot get it: the SMS fallback's cue, as for a template (docs/opt-out.md),
        # read on the message as stored (a failure that raced ahead of the answer included).
        await signal_failed_send(self._uow, self._activity, conversation, message, now)
        await tell_early(self._activity, conversation, stored)
