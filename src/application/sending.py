"""One template send, shared by the first send and the second look at an unknown one.

Every write here is a compare-and-set at the database (docs/sending.md): the worker never
puts back a status or a state that the status webhook or the shopper's answer wrote first.
"""

from __future__ import annotations

from datetime import datetime

from application.ports.clock import Clock
from application.ports.repositories import UnitOfWork
from application.ports.whatsapp import ThroughputLimiter, WhatsAppGateway
from application.services import attach_early_reports
from domain.conversation import ConversationState
from domain.errors import PermanentSendError, RetryableSendError, SendError, SendOutcomeUnknown
from domain.messages import OutgoingMessage, TemplateMessage
from domain.settings import SenderConnection
from domain.status import MessageStatus


async def take_slot(
    uow: UnitOfWork,
    limiter: ThroughputLimiter,
    clock: Clock,
    message: OutgoingMessage,
    sender: SenderConnection,
) -> bool:
    """Waits for the sender's limiter, then marks the message in flight; False when another
    worker took it meanwhile. Only from here may Meta have it: a worker stopped while it
    waited leaves it ``queued`` (or ``retrying``), and it is sent on the next delivery."""
    await limiter.acquire(sender.phone_number_id)
    message.status = MessageStatus.PENDING
    message.updated_at = clock.now()
    async with uow:
        taken = await uow.messages.advance(message)
        await uow.commit()
    return taken


async def ask_meta(
    gateway: WhatsAppGateway,
    message: OutgoingMessage,
    sender: SenderConnection,
    content: TemplateMessage,
    now: datetime,
) -> SendError | None:
    """Sends and writes Meta's answer on ``message`` (in memory): ``accepted`` with the
    wamid, ``failed``, ``unknown`` or ``retrying``; returns the error, if any."""
    error: SendError | None = None
    try:
        receipt = await gateway.send(
            sender, message.customer_phone, content, client_ref=message.client_ref
        )
    except PermanentSendError as exc:
        error, message.status = exc, MessageStatus.FAILED
    except SendOutcomeUnknown as exc:
        error, message.status = exc, MessageStatus.UNKNOWN
    except RetryableSendError as exc:
        error, message.status = exc, MessageStatus.RETRYING
    else:
        message.message_id = receipt.message_id
        message.status = MessageStatus.ACCEPTED
    message.error_code = error.code if error else None
    message.error_title = error.title[:255] if error else None
    message.updated_at = now
    return error


async def settle(uow: UnitOfWork, message: OutgoingMessage, now: datetime) -> OutgoingMessage:
    """Records Meta's answer (``message`` as the sender saw it) inside ``uow``'s transaction
    and returns the row as it is now stored: when the status webhook moved it first, its
    status stands. The conversation leaves ``pending`` (``failed`` when the template is
    dead) and gets its root, each only if nobody set them before."""
    assert message.id is not None
    await attach_early_reports(uow, message, now)
    if not await uow.messages.advance(message):
        stored = await uow.messages.get(message.id)  # READ COMMITTED: the latest write
        assert stored is not None
        message = stored
    await settle_conversation(uow, message, now)
    return message


async def settle_conversation(uow: UnitOfWork, message: OutgoingMessage, now: datetime) -> None:
    """The conversation of a template as its status says: rooted at its wamid once Meta
    has it, ``open`` once sent, ``failed`` when the template failed."""
    if message.message_id is not None:
        await uow.conversations.set_root(message.conversation_id, message.message_id)
    if message.status is MessageStatus.FAILED:
        await uow.conversations.move(
            message.conversation_id,
            ConversationState.FAILED,
            (ConversationState.PENDING, ConversationState.OPEN),
            now,
        )
    elif message.status.rank > 0 or message.status is MessageStatus.UNKNOWN:
        await uow.conversations.move(
            message.conversation_id, ConversationState.OPEN, (ConversationState.PENDING,), now
        )
