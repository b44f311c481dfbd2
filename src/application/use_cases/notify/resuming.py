"""A failed delivery seen before: finish what is unfinished, never send twice (docs/sending.md).

Rules: a template that certainly never reached Meta (``queued``, ``retrying``) is sent now; one
another worker is sending is looked at again later; one a worker died sending is ``unknown``
and never sent again at once; an answer stored without its outcome gets its record; a template
deleted or a sender gone meanwhile fails the send.
"""

from __future__ import annotations

from application.ports.clock import Clock
from application.ports.repositories import UnitOfWork
from application.services import NotificationOptions, SenderResolver
from application.use_cases.notify.planning import render
from application.use_cases.notify.recording import OutcomeRecorder
from application.use_cases.notify.results import (
    Disposition,
    Notified,
    event_key,
    in_flight,
    outcome_of,
)
from application.use_cases.notify.template_send import TemplateSend
from domain.activity import SkipReason
from domain.conversation import Conversation
from domain.errors import NotFound, PermanentSendError, SendOutcomeUnknown, UpstreamRejected
from domain.failed_delivery import FailedDelivery
from domain.messages import MessageKind
from domain.status import MessageStatus


class Resume:
    def __init__(
        self,
        uow: UnitOfWork,
        senders: SenderResolver,
        clock: Clock,
        options: NotificationOptions,
        recorder: OutcomeRecorder,
        send: TemplateSend,
    ) -> None:
        self._uow = uow
        self._senders = senders
        self._clock = clock
        self._options = options
        self._recorder = recorder
        self._send = send

    async def __call__(self, fdr: FailedDelivery, conversation: Conversation) -> Notified:
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
            return await self._recorder.skip(
                fdr, conversation.reason, SkipReason.TEMPLATE_MISMATCH, why, conversation.id
            )
        if template.status in (MessageStatus.QUEUED, MessageStatus.RETRYING):
            # Certainly never reached Meta: send it now (stored_template is checked below).
            pass
        elif template.in_flight:
            age = (self._clock.now() - template.updated_at).total_seconds()
            if age < self._options.in_flight_grace_seconds:
                # Another worker is sending right now; look again once it must have finished.
                return in_flight(
                    conversation, template, self._options.in_flight_grace_seconds - age
                )
            # A worker died mid-send: Meta may have the message. Do not send it again; the
            # status webhook or the second look at unknown sends settles it.
            template.stopped_mid_send(self._clock.now())
            stopped = SendOutcomeUnknown(None, "worker stopped during the send")
            return await self._recorder.finish(fdr, conversation, template, stopped)
        elif recorded is None:
            # Meta's answer is stored but not the outcome (the worker stopped in between, or
            # its write failed): complete the record instead of acknowledging without one.
            return await self._recorder.finish(fdr, conversation, template, None, answered=False)
        else:
            return Notified(
                disposition=Disposition.ACK,
                outcome=outcome_of(template.status),
                conversation_id=conversation.id,
                message_id=template.message_id,
                duplicate=True,
            )
        if stored_template is None:
            gone = PermanentSendError(None, "template deleted before it could be sent")
            template.fail(gone.title, self._clock.now())
            return await self._recorder.finish(fdr, conversation, template, gone)
        try:
            sender = await self._senders.by_connection_id(conversation.sender_connection_id)
        except (NotFound, UpstreamRejected) as exc:
            unavailable = PermanentSendError(None, f"sender unavailable: {exc}")
            template.fail(unavailable.title, self._clock.now())
            return await self._recorder.finish(fdr, conversation, template, unavailable)
        content = render(fdr, stored_template, conversation, self._options)
        return await self._send(fdr, conversation, template, sender, content)
