"""The shopper's choice about our messages: STOP and START in their own words, Meta's
marketing preference, and the check before a template (docs/opt-out.md)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

import structlog

from application.ports.clock import Clock
from application.ports.collaborators import ActivityPublisher
from application.ports.repositories import UnitOfWork
from application.reachability import Unreached, record_signal
from application.services import NotificationOptions
from domain.activity import ActivityEvent, ActivityKind, Outcome
from domain.conversation import Conversation
from domain.errors import UpstreamUnavailable
from domain.flows import Decision
from domain.language import language_in, normalise
from domain.messages import TextMessage
from domain.opt_out import (
    OPTED_IN_TEXT,
    OPTED_OUT_TEXT,
    OptOut,
    OptOutScope,
    OptOutSource,
    OptWord,
    opt_word,
)
from domain.reachability import Unreachable
from domain.records import WebhookDelivery
from domain.settings import DEFAULT_CONNECTION_ID
from domain.webhook import InboundKind, InboundMessage, ParsedWebhook, PreferenceChange

_log = structlog.get_logger("opt_outs")


def opt_word_of(message: InboundMessage, button_id: str | None) -> OptWord | None:
    """STOP or START typed as the whole message (a tapped button is never one)."""
    if message.kind is not InboundKind.ANSWER or button_id is not None:
        return None
    return opt_word(message.text or message.button_text)


def changed(
    current: OptOut | None,
    *,
    account_id: int,
    phone: str,
    scope: OptOutScope,
    stop: bool,
    source: OptOutSource,
    detail: str,
    at: datetime,
) -> OptOut | None:
    """The number's new row, or None when it says so already."""
    if current is None and not stop:
        return None  # never opted out: nothing to undo
    if current is not None and current.active == stop:
        return None
    return OptOut(
        id=current.id if current else None,
        account_id=account_id,
        customer_phone=phone,
        scope=scope,
        active=stop,
        source=source,
        detail=detail[:255],
        opted_out_at=at if stop or current is None else current.opted_out_at,
        opted_in_at=None if stop else at,
        updated_at=at,
    )


class OptOutReplies:
    """A shopper's STOP or START: recorded for the conversation's workspace, confirmed once
    (the confirmation is the reply's follow-up, keyed by the shopper's message)."""

    def __init__(
        self,
        uow: UnitOfWork,
        activity: ActivityPublisher,
        clock: Clock,
        options: NotificationOptions,
    ) -> None:
        self._uow = uow
        self._activity = activity
        self._clock = clock
        self._options = options

    async def __call__(
        self, conversation: Conversation, message: InboundMessage, word: OptWord
    ) -> Decision:
        stop = word is OptWord.STOP
        now = self._clock.now()
        phone = conversation.customer_phone
        events: list[ActivityEvent] = []
        async with self._uow as uow:
            current = await uow.opt_outs.find(conversation.account_id, phone, OptOutScope.ALL)
            new = changed(
                current,
                account_id=conversation.account_id,
                phone=phone,
                scope=OptOutScope.ALL,
                stop=stop,
                source=OptOutSource.TEXT,
                detail=(message.text or "")[:64],
                at=now,
            )
            if new is not None:
                await uow.opt_outs.save(new)
                events.append(_event(conversation, stop, OptOutSource.TEXT.value, now))
            if stop:
                reached = Unreached.in_conversation(conversation, Unreachable.OPTED_OUT)
                signal = await record_signal(uow, reached, now)
                if signal is not None:
                    events.append(signal)
            language = await self._language(uow, conversation, message)
            await uow.commit()
        for event in events:
            await self._activity.publish(event)
        _log.info("shopper opted out" if stop else "shopper opted in", changed=new is not None)
        texts = self._options.catalogs.texts(language)
        body = texts(OPTED_OUT_TEXT if stop else OPTED_IN_TEXT)
        return Decision(message=TextMessage(body=body), why="opted out" if stop else "opted in")

    async def _language(
        self, uow: UnitOfWork, conversation: Conversation, message: InboundMessage
    ) -> str | None:
        """The words' own language first (रोकें is answered in Hindi, and chooses Hindi for
        later messages, as any Devanagari text does: docs/languages.md), then the shopper's."""
        choice = language_in(message.text)
        phone = conversation.customer_phone
        if choice is not None:
            if await uow.conversations.shopper_language(phone) != choice.language:
                await uow.conversations.remember_language(phone, choice.language, self._clock.now())
            return choice.language
        language = await uow.conversations.shopper_language(phone)
        if language is None and conversation.template_id is not None:
            template = await uow.templates.get(conversation.template_id)
            language = normalise(template.language) if template is not None else None
        return language


class RecordPreferences:
    """Meta's marketing preference, kept for the workspace of the shopper's latest
    conversation through that number; it does not stop our utility templates."""

    def __init__(self, uow: UnitOfWork, activity: ActivityPublisher, clock: Clock) -> None:
        self._uow = uow
        self._activity = activity
        self._clock = clock

    async def __call__(self, change: PreferenceChange, connection_id: int | None) -> bool:
        """False when no conversation tells whose shopper it is (nothing to record)."""
        connection = DEFAULT_CONNECTION_ID if connection_id is None else connection_id
        async with self._uow as uow:
            conversation = await uow.conversations.latest_for_shopper(
                change.wa_id, None, connection
            )
            if conversation is None:
                _log.info("marketing preference of an unknown shopper", stopped=change.stopped)
                return False
            current = await uow.opt_outs.find(
                conversation.account_id, change.wa_id, OptOutScope.MARKETING
            )
            if current is not None and current.updated_at > change.timestamp:
                return True  # a later change is stored already (Meta's order is not ours)
            new = changed(
                current,
                account_id=conversation.account_id,
                phone=change.wa_id,
                scope=OptOutScope.MARKETING,
                stop=change.stopped,
                source=OptOutSource.USER_PREFERENCES,
                detail=change.detail,
                at=change.timestamp,
            )
            if new is not None:
                await uow.opt_outs.save(new)
            await uow.commit()
        if new is not None:
            event = _event(
                conversation, change.stopped, OptOutSource.USER_PREFERENCES, new.updated_at
            )
            await self._activity.publish(event)
        return True


def _event(conversation: Conversation, stop: bool, detail: str, at: datetime) -> ActivityEvent:
    return ActivityEvent(
        account_id=conversation.account_id,
        shipment_id=conversation.shipment_id,
        reason=conversation.reason.value,
        outcome=Outcome.OPTED_OUT if stop else Outcome.OPTED_IN,
        kind=ActivityKind.OPT_OUT,
        conversation_id=conversation.id,
        detail=detail,
        occurred_at=at,
    )


class StoredBody(Protocol):
    """A stored webhook body as the pump holds it (``process_webhooks._Body``)."""

    delivery: WebhookDelivery
    parsed: ParsedWebhook

    def failed(self, element: str, exc: Exception) -> None: ...

    def waits(self, exc: UpstreamUnavailable) -> None: ...


async def record_preferences(
    preferences: RecordPreferences | None, bodies: Sequence[StoredBody]
) -> None:
    """Each preference on its own, like every element of a body (docs/webhooks.md)."""
    for body in bodies:
        for change in body.parsed.preferences:
            if preferences is None:
                _log.info("marketing preference not recorded: no recorder wired")
                continue
            try:
                await preferences(change, body.delivery.connection_id)
            except UpstreamUnavailable as exc:
                body.waits(exc)
            except Exception as exc:
                body.failed(change.element, exc)
