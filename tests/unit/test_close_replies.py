"""The answers of a pump pass close together (``CloseReplies``): Meta's answer to each
follow-up stored and each reply closed, the answers that end together in one transaction,
and one answer's trouble its own (SQLite, one per test)."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import cast

from application.ports.repositories import UnitOfWork
from application.sending import Stored
from application.use_cases.reply.closing import CloseReplies
from domain.messages import CustomerReply, MessageKind, OutgoingMessage
from domain.status import MessageStatus
from tests.conftest import UowFactory, new_id
from tests.support.doubles import FixedClock
from tests.support.factories import CustomerReplyFactory, OutgoingMessageFactory
from tests.support.stack import eventually


async def _answered(new_uow: UowFactory) -> tuple[OutgoingMessage, CustomerReply]:
    """A follow-up recorded in flight and Meta's answer to it (not stored), with its reply."""
    async with new_uow() as uow:
        message = await uow.messages.add(OutgoingMessageFactory.build(kind=MessageKind.TEXT))
        reply = await uow.replies.add(CustomerReplyFactory.build())
        await uow.commit()
    assert reply is not None
    message.answered(None, f"wamid.follow.{new_id()}", FixedClock().now())
    return message, reply


async def test_answers_ending_together_are_closed_in_one_transaction_each_alone_on_trouble(
    new_uow: UowFactory,
) -> None:
    first, second, third = [await _answered(new_uow) for _ in range(3)]
    # Its message is gone: storing Meta's answer to it fails, for it alone.
    assert second[0].id is not None
    gone = (dataclasses.replace(second[0], id=second[0].id + 10**9), second[1])
    closer = CloseReplies(new_uow(), FixedClock())

    results = await asyncio.gather(
        *(closer(message, reply) for message, reply in (first, gone, third)),
        return_exceptions=True,
    )

    assert isinstance(results[1], Exception)
    for (message, _), stored in ((first, results[0]), (third, results[2])):
        assert isinstance(stored, Stored)
        assert (stored.message.id, stored.message.status) == (message.id, MessageStatus.ACCEPTED)
    # The first alone; the two that waited meanwhile together, then each alone.
    assert closer.writes == 4
    async with new_uow() as uow:
        for (message, reply), closed in ((first, True), (second, False), (third, True)):
            assert message.id is not None
            row = await uow.messages.get(message.id)
            assert row is not None
            assert row.status is (MessageStatus.ACCEPTED if closed else MessageStatus.PENDING)
            again = await uow.replies.get(reply.message_id)
            assert again is not None
            assert (again.handled_at is not None) is closed


async def test_a_follow_up_another_run_has_closes_its_reply_only(new_uow: UowFactory) -> None:
    message, reply = await _answered(new_uow)
    closer = CloseReplies(new_uow(), FixedClock())

    assert await closer(None, reply) is None

    async with new_uow() as uow:
        again = await uow.replies.get(reply.message_id)
        assert message.id is not None
        row = await uow.messages.get(message.id)
    assert again is not None
    assert again.handled_at is not None
    assert row is not None
    assert row.status is MessageStatus.PENDING


class _HeldReplies:
    """Replies closed in a write of one only, the one of ``held`` waiting for ``go``."""

    def __init__(self, held: str) -> None:
        self.held = held
        self.go = asyncio.Event()
        self.closed: list[str] = []

    async def close_many(self, ids: set[str], now: object) -> None:
        if len(ids) > 1:
            raise RuntimeError("refused")
        if ids == {self.held}:
            await self.go.wait()
        self.closed.extend(ids)


class _FakeUow:
    def __init__(self, replies: _HeldReplies) -> None:
        self.replies = replies
        self.messages = self

    async def advance_many(self, messages: object) -> set[int]:
        return set()

    async def __aenter__(self) -> _FakeUow:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def commit(self) -> None:
        await asyncio.sleep(0)


async def test_an_answer_cancelled_while_its_group_is_tried_alone_leaves_the_others_closed() -> (
    None
):
    """The answer writing its group is cancelled (its pass ends) while that group, refused,
    is tried again answer by answer: the others' replies are still closed, by the next
    answer to write, and none of them is left waiting."""
    replies = [CustomerReplyFactory.build(message_id=f"wamid.in.{n}") for n in range(3)]
    fake = _HeldReplies(held="wamid.in.1")
    closer = CloseReplies(cast(UnitOfWork, _FakeUow(fake)), FixedClock())
    first = asyncio.create_task(closer(None, replies[0]))  # alone, at once
    others = [asyncio.create_task(closer(None, reply)) for reply in replies[1:]]

    async def second_held_alone() -> bool:  # the first; the two refused together; the second
        return closer.writes == 3

    await eventually(second_held_alone, seconds=10)
    others[0].cancel()
    fake.go.set()
    async with asyncio.timeout(10):
        assert await others[1] is None
    assert await first is None
    assert sorted(fake.closed) == ["wamid.in.0", "wamid.in.1", "wamid.in.2"]
