"""A batch's sends (``notify.batch``, step 3): concurrently, each through its sender's limiter.

The slots of the sends from one number are booked in one call (``SendStep.reserve_slots``:
the slots one call each would book at that instant), before the records are written
(``book``): a message whose slot has come then is written in flight with its records and
leaves at once. For a queued one, its slot come is written (``in flight``) before the send,
the slots of the sends waiting together written together (``SlotWriter``); a send another
worker has taken since it was written is that event's to look at again later. Meta's answer
is kept on the event for the outcomes (``batch_outcomes``); an error in one send is that
event's alone.
"""

from __future__ import annotations

import asyncio

from application.group_commit import Failure, GroupCommit
from application.ports.clock import Clock
from application.ports.repositories import UnitOfWork
from application.sending import SendStep
from application.services import NotificationOptions
from application.use_cases.notify.batch_event import Handled, Start
from application.use_cases.notify.results import Notified, in_flight
from domain.messages import OutgoingMessage


class SlotWriter:
    """Marks messages in flight, the ones that wait together in one transaction: while one
    write is on its way, the slots taken meanwhile gather for the next (a group commit,
    ``GroupCommit``). Writes one at a time, in the task of the send that finds none on its
    way, so the batch's unit of work is never used twice at once; one turn of the loop
    first, so that the sends whose slots came at the same moment (a burst booked together)
    join that write instead of waiting for the next one; a failed write's error to each of
    its sends; the send writing it cancelled, the others of it cancelled too (nobody is left
    to tell them whether their marks were written)."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow
        self._group: GroupCommit[OutgoingMessage, bool] = GroupCommit(
            self._write, failure=Failure.SHARED, gather=True
        )

    async def take(self, message: OutgoingMessage) -> bool:
        """True when the message is now in flight; False when another worker took it."""
        return await self._group(message)

    async def _write(self, messages: list[OutgoingMessage]) -> list[bool]:
        async with self._uow as uow:
            taken = await uow.messages.advance_many(messages)
            await uow.commit()
        return [message.id in taken for message in messages]


class SendPhase:
    """Sends the batch's messages to Meta, at the same time."""

    def __init__(
        self,
        uow: UnitOfWork,
        step: SendStep,
        clock: Clock,
        options: NotificationOptions,
    ) -> None:
        self._uow = uow
        self._step = step
        self._clock = clock
        self._options = options

    async def book(self, starts: list[Start]) -> None:
        """Each start's slot (``Start.slot``), booked with the others from its number in one
        call, before the records are written; ``Start.come`` when it has come already (the
        message is then written in flight with the records, and sent without waiting)."""
        for start, slot in zip(starts, await self._book(starts), strict=True):
            start.slot = slot
            start.come = not isinstance(slot, Exception) and self._step.come(slot)

    async def send_all(self, starts: list[Start], results: dict[int, Handled]) -> list[Start]:
        """Each through its limiter (booked by ``book``) and to Meta, at the same time; the
        sends Meta answered (their outcomes still to record)."""
        slots = SlotWriter(self._uow)
        answers = await asyncio.gather(
            *(self._send(start, slots) for start in starts),
            return_exceptions=True,
        )
        finished: list[Start] = []
        for start, answer in zip(starts, answers, strict=True):
            if isinstance(answer, Notified):
                results[start.index] = answer
            elif isinstance(answer, BaseException):
                if not isinstance(answer, Exception):
                    raise answer
                results[start.index] = answer
            else:
                finished.append(start)
        return finished

    async def _book(self, starts: list[Start]) -> list[float | Exception]:
        """Each start's slot, booked with the others from its number in one call (in the
        order of ``starts``); a booking that failed is the error of each of its sends."""
        numbers: dict[str, list[int]] = {}
        for place, start in enumerate(starts):
            numbers.setdefault(start.sender.phone_number_id, []).append(place)
        booked: list[float | Exception] = [0.0] * len(starts)
        for places in numbers.values():
            slots: list[float | Exception]
            try:
                slots = [*await self._step.reserve_slots(starts[places[0]].sender, len(places))]
            except Exception as exc:
                slots = [exc] * len(places)
            for place, slot in zip(places, slots, strict=True):
                booked[place] = slot
        return booked

    async def _send(self, start: Start, slots: SlotWriter) -> Notified | None:
        """``TemplateSend`` of one event from its slot, up to Meta's answer; None: answered,
        to record. A message written in flight with its records (its slot had come) goes
        at once: it was never ``queued``, so no other worker can have taken it."""
        message, conversation, slot = start.message, start.conversation, start.slot
        assert message is not None
        assert conversation is not None
        assert start.content is not None
        if isinstance(slot, Exception):
            raise slot
        if not message.in_flight:
            await self._step.wait_for(slot)
            message.leaves(self._clock.now())
            if not await slots.take(message):
                # Another worker has taken this send since we wrote it: look again later.
                return in_flight(conversation, message, self._options.in_flight_grace_seconds)
        start.error = await self._step.ask(message, start.sender, start.content)
        return None
