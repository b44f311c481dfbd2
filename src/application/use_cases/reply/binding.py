"""Which conversation an inbound message answers, and the reply stored once
(docs/webhooks.md, "Binding")."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from application.follow_through import cancel_follow_through, cancel_follow_through_of
from application.ports.repositories import UnitOfWork
from application.services import SenderResolver
from application.use_cases.reply.reading import NO_READS, ReadAhead
from domain.answers import why_not_bound
from domain.conversation import Conversation
from domain.messages import CustomerReply, OutgoingMessage, ReplyType
from domain.notification import ButtonPayload, parse_button_payload, reference_matches
from domain.settings import DEFAULT_CONNECTION_ID
from domain.webhook import InboundMessage


@dataclass(frozen=True, slots=True)
class Found:
    conversation: Conversation | None
    context: OutgoingMessage | None  # the message of ours it quotes, when it is that one's
    refused: str | None = None  # why the conversation it named may not be driven by it


async def find_conversation(
    uow: UnitOfWork,
    senders: SenderResolver,
    message: InboundMessage,
    payload: ButtonPayload | None,
    reads: ReadAhead = NO_READS,
) -> Found:
    """The conversation the message answers: the message of ours it quotes, else the one
    its button payload names with the right reference, else the shopper's latest through
    this connection; kept only when the message is bound to it (``domain.answers``). Read
    inside ``uow``'s transaction (the one that stores the answer), unless ``reads`` has it."""
    connection_id = (
        DEFAULT_CONNECTION_ID if message.connection_id is None else message.connection_id
    )
    quoted = (
        await reads.quoted_message(uow, message.context_message_id)
        if message.context_message_id
        else None
    )
    context, conversation = quoted if quoted is not None else (None, None)
    if conversation is None and payload is not None:
        named = await uow.conversations.get(payload.conversation_id)
        if named is not None and reference_matches(named, payload):
            conversation = named
    if conversation is None:
        conversation = await uow.conversations.latest_for_shopper(
            message.from_phone, message.from_user_id, connection_id
        )
    if conversation is None:
        return Found(None, None)
    sender = await senders.by_connection_id(conversation.sender_connection_id)
    refused = why_not_bound(
        conversation,
        message,
        connection_id=connection_id,
        conversation_number_id=sender.phone_number_id,
        via_context=context is not None and context.conversation_id == conversation.id,
    )
    if refused is not None:
        return Found(None, None, refused)
    return Found(conversation, context)


def button_of(message: InboundMessage) -> tuple[str | None, ButtonPayload | None]:
    """The answer's button id, and our payload on a template's button (template taps)."""
    if message.type == "button":
        parsed = parse_button_payload(message.button_payload or "")
        if parsed is not None:
            return parsed.button_id, parsed
        return None, None  # not a payload of ours: read like free text
    if message.type == "interactive":
        return message.reply_id, None
    return None, None


def reply_type(message: InboundMessage) -> ReplyType:
    if message.type == "button":
        return ReplyType.BUTTON
    if message.type == "interactive":
        return ReplyType.INTERACTIVE
    if message.type == "text":
        return ReplyType.TEXT
    return ReplyType.OTHER


async def root_id(
    uow: UnitOfWork, context: OutgoingMessage | None, conversation: Conversation | None
) -> int | None:
    """The seed's rule: the template itself when it was answered, else the template it roots."""
    if context is not None and context.root_message_id is None:
        return context.id
    root_wamid = context.root_message_id if context is not None else None
    if root_wamid is None and conversation is not None:
        root_wamid = conversation.root_message_id
    if root_wamid is None:
        return None
    root = await uow.messages.get_by_message_id(root_wamid)
    return root.id if root is not None else None


def new_reply(
    message: InboundMessage, button_id: str | None, root: int | None, now: datetime
) -> CustomerReply:
    return CustomerReply(
        message_id=message.message_id,
        customer_phone=message.from_phone,
        customer_user_id=message.from_user_id,
        context_message_id=message.context_message_id,
        root_id=root,
        kind=reply_type(message),
        value=message.button_text or message.reply_title or message.text or message.type,
        button_id=button_id,
        payload=message.payload,
        sent_at=message.timestamp,
        created_at=now,
    )


async def note_answer(
    uow: UnitOfWork,
    conversation: Conversation,
    message: InboundMessage,
    now: datetime,
    *,
    with_the_move: bool = False,
) -> None:
    """A new answer's marks on its conversation, inside ``uow``'s transaction: the shopper's
    username, when it was not known; the time of the latest message (the 24-hour window); no
    reminder or default action any more (docs/scheduler.md). ``with_the_move``: the time is
    written by the conversation's move in this transaction (``ReplyActions``), not here."""
    assert conversation.id is not None
    if message.from_user_id and conversation.customer_user_id is None:
        await uow.conversations.remember_user_id(conversation.id, message.from_user_id)
    if not with_the_move:
        await uow.conversations.note_customer_message(conversation.id, message.timestamp)
    await cancel_follow_through(uow, conversation.id, now)
    _noted(conversation, message)


async def note_answers(
    uow: UnitOfWork, answered: Sequence[tuple[Conversation, InboundMessage]], now: datetime
) -> None:
    """``note_answer`` of each (``with_the_move``), the follow-through of all cancelled in one
    statement."""
    for conversation, message in answered:
        if message.from_user_id and conversation.customer_user_id is None:
            assert conversation.id is not None
            await uow.conversations.remember_user_id(conversation.id, message.from_user_id)
        _noted(conversation, message)
    await cancel_follow_through_of(uow, [c.id for c, _ in answered if c.id is not None], now)


def _noted(conversation: Conversation, message: InboundMessage) -> None:
    last = conversation.last_customer_message_at
    if last is None or message.timestamp > last:
        conversation.last_customer_message_at = message.timestamp
