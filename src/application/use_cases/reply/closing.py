"""The last transaction of the answers of one pump pass, shared (docs/webhooks.md, "Answers
side by side"): Meta's answer to each follow-up stored and each reply closed.

Each answer's follow-up was recorded before it was sent, and is sent outside any
transaction, as alone; only storing what Meta said is shared. The first answer to get there
writes at once (no timer, no wait when alone); the answers whose sends end while that write
is on its way wait and go together in the next one: one read for statuses that raced ahead,
one compare-and-set for all the messages, one UPDATE closing all the replies, one COMMIT
(``store_answers``). One write at a time, so the pass's unit of work is never used twice at
once. A shared write that fails is tried again for each answer alone, so one answer's
trouble stays its own, as when each closed its own.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from application.ports.clock import Clock
from application.ports.repositories import UnitOfWork
from application.sending import Stored, store_answers
from domain.messages import CustomerReply, OutgoingMessage


@dataclass(slots=True)
class _Closing:
    answer: OutgoingMessage | None  # None: another run has the follow-up (nothing to store)
    reply: CustomerReply
    done: asyncio.Future[Stored | None]


class CloseReplies:
    """One per pass; called by each answer once its follow-up has Meta's answer."""

    def __init__(self, uow: UnitOfWork, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock
        self._waiting: list[_Closing] = []
        self._lock = asyncio.Lock()
        self.writes = 0  # transactions so far (answers per write, for tests)

    async def __call__(self, answer: OutgoingMessage | None, reply: CustomerReply) -> Stored | None:
        """``answer`` stored and ``reply`` closed; the message as it is now stored (with the
        statuses joined to it, which the caller tells: ``FollowUpSender.told``)."""
        closing = _Closing(answer, reply, asyncio.get_running_loop().create_future())
        self._waiting.append(closing)
        async with self._lock:
            if not closing.done.done():
                group, self._waiting = self._waiting, []
                try:
                    await self._write(group)
                except asyncio.CancelledError:  # the next caller writes them
                    self._waiting[:0] = [c for c in group if not c.done.done()]
                    raise
                except Exception as exc:
                    if len(group) > 1:
                        await self._each_alone(group)
                    elif not closing.done.done():
                        closing.done.set_exception(exc)
        return await closing.done

    async def _each_alone(self, group: list[_Closing]) -> None:
        for closing in group:
            try:
                await self._write([closing])
            except Exception as exc:
                if not closing.done.done():
                    closing.done.set_exception(exc)

    async def _write(self, group: list[_Closing]) -> None:
        now = self._clock.now()
        answers = [c.answer for c in group if c.answer is not None]
        self.writes += 1
        async with self._uow as uow:
            stored = iter(await store_answers(uow, answers, now))
            await uow.replies.close_many({c.reply.message_id for c in group}, now)
            await uow.commit()
        for closing in group:
            message = None if closing.answer is None else next(stored)
            if not closing.done.done():
                closing.done.set_result(message)
