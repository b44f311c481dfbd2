"""A template send whose outcome stayed unknown is sent once more, or failed with why.

Meta reports a status for every message it accepts, echoing our ``client_ref``: a send that
timed out and got no status within ``unknown_recheck_seconds`` almost certainly never
reached Meta. The due sends live in the database and are claimed with ``FOR UPDATE SKIP
LOCKED``, so any number of workers share the work and a restart loses none of it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from application.ports.clock import Clock
from application.ports.collaborators import ActivityPublisher
from application.ports.repositories import UnitOfWork
from application.ports.whatsapp import ThroughputLimiter, WhatsAppGateway
from application.reachability import signal_failed_send
from application.sending import ask_meta, settle, settle_conversation, take_slot
from application.services import (
    NotificationOptions,
    SenderResolver,
    SettingsReader,
    publish_quietly,
)
from application.use_cases.notify_failed_delivery import attempt_event_key
from domain.activity import ActivityEvent, Outcome
from domain.conversation import Conversation, ConversationState
from domain.errors import NotFound, SendError, UpstreamRejected
from domain.messages import OutgoingMessage, TemplateMessage
from domain.status import MessageStatus

_log = structlog.get_logger("unknown_sends")

#: Bounds of the age bands the unknown-sends gauge reports (seconds).
AGE_BANDS = (600.0, 3600.0, 6 * 3600.0, 24 * 3600.0)
_STILL_OPEN = (ConversationState.PENDING, ConversationState.OPEN)


@dataclass(frozen=True, slots=True)
class Rechecked:
    resent: int = 0
    failed: int = 0
    answered: int = 0


class RecheckUnknownSends:
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
        self._gateway = gateway
        self._limiter = limiter
        self._activity = activity
        self._clock = clock
        self._options = options

    async def __call__(self, limit: int = 100) -> Rechecked:
        now = self._clock.now()
        older_than = now - timedelta(seconds=self._options.unknown_recheck_seconds)
        to_send: list[tuple[OutgoingMessage, Conversation]] = []
        given_up: list[tuple[OutgoingMessage, Conversation | None]] = []
        answered = 0
        async with self._uow as uow:
            due = await uow.messages.claim_unknown(older_than, limit)
            conversations = await uow.conversations.get_many({m.conversation_id for m in due})
            for message in due:
                conversation = conversations.get(message.conversation_id)
                if message.status is MessageStatus.QUEUED:  # taken before, never sent
                    if conversation is not None:
                        to_send.append((message, conversation))
                    continue
                why = await self._why_not(uow, message, conversation, now)
                if why is _ANSWERED:
                    # The shopper answered its buttons: Meta had it, only its statuses are lost.
                    message.status = MessageStatus.ACCEPTED
                    message.updated_at = now
                    if await uow.messages.advance(message):
                        answered += 1
                        why = "the shopper answered it: Meta had it"
                        await self._record(uow, message, conversation, Outcome.SENT, why, now)
                elif why is not None:
                    message.status = MessageStatus.FAILED
                    message.error_code = None
                    message.error_title = why[:255]
                    message.updated_at = now
                    if await uow.messages.advance(message):
                        await settle_conversation(uow, message, now)
                        await self._record(uow, message, conversation, Outcome.FAILED, why, now)
                        given_up.append((message, conversation))
                else:
                    message.status = MessageStatus.QUEUED
                    message.resent_at = now
                    message.updated_at = now
                    if await uow.messages.advance(message) and conversation is not None:
                        to_send.append((message, conversation))
            await uow.commit()
        for message, conversation in given_up:
            await self._publish(message, conversation, Outcome.FAILED, message.error_title, now)
        resent = 0
        for message, conversation in to_send:
            resent += await self._send_again(message, conversation)
        if resent or given_up or answered:
            _log.info(
                "unknown sends looked at again",
                resent=resent,
                failed=len(given_up),
                answered=answered,
            )
        return Rechecked(resent=resent, failed=len(given_up), answered=answered)

    async def count_by_age(self) -> dict[str, int]:
        """Unknown template sends per age band, for the gauge (``<10m``, ... ``>=24h``)."""
        async with self._uow as uow:
            counts = await uow.messages.count_unknown(self._clock.now(), AGE_BANDS)
        labels = [f"<{_label(b)}" for b in AGE_BANDS] + [f">={_label(AGE_BANDS[-1])}"]
        return dict(zip(labels, counts, strict=True))

    async def _why_not(
        self,
        uow: UnitOfWork,
        message: OutgoingMessage,
        conversation: Conversation | None,
        now: datetime,
    ) -> str | None:
        """Why the send may not go again (None: it may)."""
        if message.resent_at is not None:
            return "no status from Meta after the send was repeated"
        if conversation is None:
            return "not sent again: its conversation is gone"
        if conversation.state.is_answerable and conversation.state is not ConversationState.OPEN:
            return _ANSWERED
        if conversation.state not in _STILL_OPEN:
            return f"not sent again: the conversation is {conversation.state.value}"
        newest = await uow.conversations.latest_for_shipment(conversation.shipment_id)
        if newest is not None and newest.status_log_id > conversation.status_log_id:
            return "not sent again: a newer failed attempt of the shipment was notified"
        age = (now - conversation.created_at).total_seconds()
        if age > self._options.stale_after_seconds:
            return "not sent again: the failed attempt is too old"
        setting = await self._settings.get(uow, conversation.account_id)
        if not setting.whatsapp_enabled:
            return "not sent again: WhatsApp is off for the workspace now"
        if await uow.opt_outs.is_opted_out(conversation.account_id, message.customer_phone):
            return "not sent again: the shopper opted out"  # docs/opt-out.md
        template = (
            await uow.templates.get(message.wa_template_id)
            if message.wa_template_id is not None
            else None
        )
        if template is None:
            return "not sent again: the template was deleted"
        if template.account_id != self._options.default_account_id and template.verified_at is None:
            return "not sent again: the template is no longer verified"
        return None

    async def _send_again(self, message: OutgoingMessage, conversation: Conversation) -> int:
        try:
            sender = await self._senders.by_connection_id(message.sender_connection_id)
        except (NotFound, UpstreamRejected) as exc:
            _log.warning("unknown send not repeated: sender unavailable", error=str(exc))
            return 0  # stays queued: looked at again on the next pass after the wait
        if not await take_slot(self._uow, self._limiter, self._clock, message, sender):
            return 0
        now = self._clock.now()
        error = await ask_meta(
            self._gateway, message, sender, TemplateMessage.described(message.payload), now
        )
        if message.status is MessageStatus.RETRYING:
            # Meta refused for now: unknown again, and a second try is still due.
            message.status, message.resent_at = MessageStatus.UNKNOWN, None
        async with self._uow as uow:
            stored = await settle(uow, message, now)
            outcome = {MessageStatus.FAILED: Outcome.FAILED, MessageStatus.UNKNOWN: None}.get(
                stored.status, Outcome.SENT
            )
            if outcome is not None:
                detail = _detail(error, stored)
                await self._record(uow, stored, conversation, outcome, detail, now)
            await uow.commit()
        if outcome is not None:
            await self._publish(stored, conversation, outcome, _detail(error, stored), now)
        await signal_failed_send(self._uow, self._activity, conversation, stored, now)
        return 1

    async def _record(
        self,
        uow: UnitOfWork,
        message: OutgoingMessage,
        conversation: Conversation | None,
        outcome: Outcome,
        detail: str,
        now: datetime,
    ) -> None:
        """The event's outcome, no longer unknown (the record exists: the send had one)."""
        if conversation is None:
            return
        key = attempt_event_key(conversation.shipment_id, conversation.status_log_id)
        record = await uow.fdr_events.get(key)
        if record is not None:
            await uow.fdr_events.update(
                dataclasses.replace(
                    record,
                    outcome=outcome,
                    detail=detail[:1000],
                    error_code=message.error_code if outcome is Outcome.FAILED else None,
                    received_at=now,
                )
            )

    async def _publish(
        self,
        message: OutgoingMessage,
        conversation: Conversation | None,
        outcome: Outcome,
        detail: str | None,
        now: datetime,
    ) -> None:
        event = ActivityEvent(
            account_id=conversation.account_id if conversation else None,
            shipment_id=conversation.shipment_id if conversation else None,
            reason=conversation.reason.value if conversation else None,
            outcome=outcome,
            message_id=message.message_id,
            conversation_id=message.conversation_id,
            detail=detail,
            error_code=message.error_code,
            error_title=message.error_title,
            occurred_at=now,
        )
        await publish_quietly(self._activity, event)


_ANSWERED = "answered"


def _detail(error: SendError | None, message: OutgoingMessage) -> str:
    if error is not None:
        return f"sent again after no status from Meta: {error}"
    return "sent again after no status from Meta"


def _label(seconds: float) -> str:
    return f"{seconds / 3600:g}h" if seconds >= 3600 else f"{seconds / 60:g}m"
