"""The in-flight marks of a fan-out's sends written together (``SlotWriter``): the send whose
task writes the marks of the others cancelled, none of the others is left waiting."""

from __future__ import annotations

import asyncio
from typing import cast

from application.ports.repositories import UnitOfWork
from application.use_cases.notify.batch_send import SlotWriter
from domain.messages import OutgoingMessage
from tests.support.factories import OutgoingMessageFactory
from tests.support.stack import eventually


class _HeldMarks:
    """A unit of work whose in-flight marks wait for ``go``."""

    def __init__(self) -> None:
        self.go = asyncio.Event()
        self.marking = 0
        self.messages = self

    async def advance_many(self, messages: list[OutgoingMessage]) -> set[int]:
        self.marking += 1
        await self.go.wait()
        return {m.id for m in messages if m.id is not None}

    async def __aenter__(self) -> _HeldMarks:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def commit(self) -> None:
        return None


async def test_the_send_writing_the_marks_cancelled_leaves_no_other_send_waiting() -> None:
    uow = _HeldMarks()
    slots = SlotWriter(cast(UnitOfWork, uow))
    messages = [OutgoingMessageFactory.build(id=n) for n in range(1, 4)]
    sends = [asyncio.create_task(slots.take(m)) for m in messages]

    async def marking() -> bool:
        return uow.marking == 1

    await eventually(marking, seconds=10)
    sends[0].cancel()  # the first send writes the three marks
    async with asyncio.timeout(10):
        outcomes = await asyncio.gather(*sends[1:], return_exceptions=True)
    # Nobody is left to tell them whether their marks were written: each is cancelled too.
    assert all(isinstance(o, asyncio.CancelledError) for o in outcomes)
