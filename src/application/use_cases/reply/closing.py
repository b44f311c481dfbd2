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

from dataclasses import dataclass

from application.group_commit import Failure, GroupCommit
from application.ports.clock import Clock
from application.ports.repositories import UnitOfWork
from application.sending import Stored, store_answers
from domain.messages import CustomerReply, OutgoingMessage


@dataclass(slots=True, frozen=True)
class _Closing:
    answer: OutgoingMessage | None  # None: another run has the follow-up (nothing to store)
    reply: CustomerReply


class CloseReplies:
    """One per pass; called by each answer once its follow-up has Meta's answer. Its group
    commit (``GroupCommit``): one write at a time, in the task of the answer that finds none on
    its way (no wait when alone); a shared write that fails done again for each answer alone;
    the answer writing it cancelled, the others' answers wait for the next one to write them."""

    def __init__(self, uow: UnitOfWork, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock
        self._group: GroupCommit[_Closing, Stored | None] = GroupCommit(
            self._write, failure=Failure.EACH_ALONE
        )

    @property
    def writes(self) -> int:
        """Writes begun so far, each alone too (answers per write, for tests)."""
        return self._group.writes

    async def __call__(self, answer: OutgoingMessage | None, reply: CustomerReply) -> Stored | None:
        """``answer`` stored and ``reply`` closed; the message as it is now stored (with the
        statuses joined to it, which the caller tells: ``FollowUpSender.told``)."""
        return await self._group(_Closing(answer, reply))

    async def _write(self, group: list[_Closing]) -> list[Stored | None]:
        now = self._clock.now()
        answers = [c.answer for c in group if c.answer is not None]
        async with self._uow as uow:
            stored = iter(await store_answers(uow, answers, now))
            await uow.replies.close_many({c.reply.message_id for c in group}, now)
            await uow.commit()
        return [None if c.answer is None else next(stored) for c in group]
