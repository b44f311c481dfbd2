"""The one send step (limit, send, classify, close) of templates, reminders and follow-ups.

Each caller records its message first (``uq_outgoing_client_ref``), then hands it to
``SendStep``: a slot of the sender's limiter, Meta asked, the answer classified on the
message (``OutgoingMessage.answered``), a refusal for now stored at once; ``SendStep.close``
stores the rest (a first template stores it with its outcome record instead: ``settle``).
One ``SendStep`` a request, from the container (``composition.providers.services``); a batch's
sends and the second send of an unknown template use its pieces (``take_slot``, ``ask``).

Every write here is a compare-and-set at the database (docs/sending.md): the worker never
puts back a status or a state that the status webhook or the shopper's answer wrote first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from application.ports.clock import Clock
from application.ports.repositories import UnitOfWork
from application.ports.whatsapp import ThroughputLimiter, WhatsAppGateway
from application.services import attach_early_reports
from domain.conversation import template_move
from domain.errors import RetryableSendError, SendError
from domain.messages import Content, DeliveryReport, OutgoingMessage
from domain.settings import SenderConnection


@dataclass(frozen=True, slots=True)
class Sent:
    """Meta's answer to one send, written on ``message`` (not stored yet unless ``for_now``)."""

    message: OutgoingMessage
    error: SendError | None = None

    @property
    def for_now(self) -> bool:
        """Meta refused for now: the ``retrying`` status is stored; the caller retries later."""
        return isinstance(self.error, RetryableSendError)


@dataclass(frozen=True, slots=True)
class Stored:
    """Meta's answer as stored (``store_answer``): the message as the row is now, and the
    statuses that raced ahead of the answer and moved it when they were joined, in Meta's
    order. The caller tells those to the timeline after its commit, as the status pass tells
    the statuses it applies (``statuses.status_events``; docs/sending.md)."""

    message: OutgoingMessage
    early: tuple[DeliveryReport, ...] = ()


class SendStep:
    """Rules: only a message marked in flight may reach Meta (``take_slot``; a follow-up is
    recorded in flight); one request per message; a refusal for now is stored before the
    caller hears of it; every write is a compare-and-set (docs/sending.md)."""

    def __init__(
        self, uow: UnitOfWork, gateway: WhatsAppGateway, limiter: ThroughputLimiter, clock: Clock
    ) -> None:
        self._uow = uow
        self._gateway = gateway
        self._limiter = limiter
        self._clock = clock
        #: The step's unit of work, one write at a time: the follow-ups begun together are
        #: finished through one step (``HandleCustomerReply.finish``), whose writes share it.
        self.storing = asyncio.Lock()

    async def __call__(
        self,
        message: OutgoingMessage,
        sender: SenderConnection,
        content: Content,
        *,
        context_message_id: str | None = None,
        slot: float | None = None,
    ) -> Sent | None:
        """Sends ``message`` once; None when another worker took it meanwhile. ``slot``: a
        slot of the sender's limiter booked for it already (``reserve_slots``)."""
        if message.in_flight:  # recorded in flight: the slot is the limiter's alone
            await (self.wait_for(slot) if slot is not None else self.wait_for_slot(sender))
        elif not await self.take_slot(message, sender):
            return None
        error = await self.ask(message, sender, content, context_message_id=context_message_id)
        if isinstance(error, RetryableSendError):
            # One at a time: the follow-ups begun together are sent through one step.
            async with self.storing, self._uow as uow:
                await uow.messages.advance(message)  # a compare-and-set (docs/sending.md)
                await uow.commit()
        return Sent(message, error)

    async def wait_for_slot(self, sender: SenderConnection) -> None:
        """Waits for a slot of the sender's limiter (the caller marks the message in flight)."""
        await self._limiter.acquire(sender.phone_number_id)

    async def reserve_slots(self, sender: SenderConnection, count: int) -> list[float]:
        """Books ``count`` slots of the sender's limiter at once (a batch's sends from one
        number: one call); each send waits for its own (``wait_for``), then is marked in
        flight by the caller."""
        return await self._limiter.reserve(sender.phone_number_id, count)

    async def wait_for(self, slot: float) -> None:
        await self._limiter.wait_for(slot)

    def come(self, slot: float) -> bool:
        """Whether ``slot`` (one of ``reserve_slots``') has come: its send need not wait."""
        return self._limiter.come(slot)

    async def take_slot(self, message: OutgoingMessage, sender: SenderConnection) -> bool:
        """``take_slot`` with this step's limiter: False when another worker took it."""
        return await take_slot(self._uow, self._limiter, self._clock, message, sender)

    async def ask(
        self,
        message: OutgoingMessage,
        sender: SenderConnection,
        content: Content,
        *,
        now: datetime | None = None,
        context_message_id: str | None = None,
    ) -> SendError | None:
        """``ask_meta``: Meta's answer written on ``message`` (not stored) as of ``now`` (the
        clock's, unless given); the error, if any. The request waits for room in this
        process's last second of requests from the sender (``ThroughputLimiter.depart``)."""
        await self._limiter.depart(sender.phone_number_id)
        return await ask_meta(
            self._gateway,
            message,
            sender,
            content,
            now or self._clock.now(),
            context_message_id=context_message_id,
        )

    async def close(self, message: OutgoingMessage) -> Stored:
        """Stores Meta's answer in a transaction of its own (``store_answer``): the message as
        it is now stored, with the statuses joined to it that the caller tells."""
        async with self._uow as uow:
            stored = await store_answer(uow, message, message.updated_at)
            await uow.commit()
        return stored


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
    message.leaves(clock.now())
    async with uow:
        taken = await uow.messages.advance(message)
        await uow.commit()
    return taken


async def ask_meta(
    gateway: WhatsAppGateway,
    message: OutgoingMessage,
    sender: SenderConnection,
    content: Content,
    now: datetime,
    *,
    context_message_id: str | None = None,
) -> SendError | None:
    """Sends and writes Meta's answer on ``message`` (in memory, ``OutgoingMessage.answered``);
    returns the error, if any. Templates and follow-ups alike."""
    try:
        receipt = await gateway.send(
            sender,
            message.customer_phone,
            content,
            client_ref=message.client_ref,
            context_message_id=context_message_id,
        )
    except SendError as exc:
        message.answered(exc, None, now)
        return exc
    message.answered(None, receipt.message_id, now)
    return None


async def store_answer(uow: UnitOfWork, message: OutgoingMessage, now: datetime) -> Stored:
    """Records Meta's answer (``message`` as the sender saw it) inside ``uow``'s transaction
    and returns the row as it is now stored: a compare-and-set, so a status the webhook
    recorded meanwhile stands; then statuses that raced ahead of the answer are joined (the
    caller tells those that moved it after its commit). The wamid is written before that
    look: a status pass that found no message looks again after its commit and waits for
    this row (docs/sending.md, "Statuses ahead of Meta's answer")."""
    assert message.id is not None
    if not await uow.messages.advance(message):
        message = await _stored(uow, message.id)
    wamid = message.message_id
    if wamid is None or not await uow.delivery_reports.unlinked({wamid}):
        return Stored(message)
    return await _join_early(uow, message, now)


async def store_answers(
    uow: UnitOfWork, messages: Sequence[OutgoingMessage], now: datetime
) -> list[Stored]:
    """``store_answer`` of each, in a few statements for all (a batch's outcomes, the answers
    of a pump pass closed together): one compare-and-set writes them all (a message another
    writer moved since is read back), then one read finds the wamids with statuses that
    raced ahead (each joined as alone; the wamids written before that look, as alone). The
    messages as they are now stored, in their order."""
    written = await uow.messages.advance_many(messages)
    stored = [m if m.id in written else await _stored(uow, m.id or 0) for m in messages]
    wamids = {m.message_id for m in stored if m.message_id is not None}
    early = await uow.delivery_reports.unlinked(wamids) if wamids else set()
    return [
        await _join_early(uow, message, now) if message.message_id in early else Stored(message)
        for message in stored
    ]


async def _join_early(uow: UnitOfWork, message: OutgoingMessage, now: datetime) -> Stored:
    """The statuses that raced ahead of ``message``'s answer joined to it; moved by them, it
    is written again (a status another writer stored meanwhile stands, and those statuses,
    not written, are not told: that writer tells its own)."""
    moved = await attach_early_reports(uow, message, now)
    if moved and not await uow.messages.advance(message):
        assert message.id is not None
        return Stored(await _stored(uow, message.id))
    return Stored(message, tuple(moved))


async def _stored(uow: UnitOfWork, message_id: int) -> OutgoingMessage:
    """The row as stored: READ COMMITTED, the latest write."""
    stored = await uow.messages.get(message_id)
    assert stored is not None
    return stored


async def settle(uow: UnitOfWork, message: OutgoingMessage, now: datetime) -> Stored:
    """A template's answer stored (``store_answer``), then its conversation settled: it
    leaves ``pending`` (``failed`` when the template is dead) and gets its root, each only
    if nobody set them before."""
    stored = await store_answer(uow, message, now)
    await settle_conversation(uow, stored.message, now)
    return stored


async def settle_conversation(uow: UnitOfWork, message: OutgoingMessage, now: datetime) -> None:
    """The conversation of a template as its status says: rooted at its wamid once Meta
    has it, then moved as ``domain.conversation.template_move`` says (compare-and-set)."""
    if message.message_id is not None:
        await uow.conversations.set_root(message.conversation_id, message.message_id)
    move = template_move(message.status)
    if move is not None:
        await uow.conversations.move(message.conversation_id, move[0], move[1], now)
