"""The answers of a pump pass begun together (``StartTogether``): those starting at the same
moment in groups of at most ``group``, one group after the other, each answer told what its
group wrote for it; and how many a pass sends at once (``sends_at_once``)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

from application.use_cases.handle_customer_reply import Begun
from application.use_cases.process_webhooks import SENDS_AT_ONCE, sends_at_once
from application.use_cases.reply.starting import StartTogether
from domain.webhook import InboundMessage


def _tap(n: int) -> InboundMessage:
    return InboundMessage(
        message_id=f"wamid.tap.{n}",
        from_phone=f"9190000{n:05d}",
        timestamp=datetime(2026, 1, 1, tzinfo=UTC),
        type="button",
        context_message_id=f"wamid.template.{n}",
    )


async def test_answers_starting_together_are_begun_in_groups_of_at_most_the_limit() -> None:
    groups: list[list[str]] = []
    writing = 0

    async def begin(messages: Sequence[InboundMessage]) -> dict[str, Begun]:
        nonlocal writing
        writing += 1
        assert writing == 1, "one group written at a time"
        groups.append([m.message_id for m in messages])
        await asyncio.sleep(0.01)
        writing -= 1
        # The third answer is not one to begin together: it goes alone (None).
        return {m.message_id: cast(Any, m.message_id) for m in messages if m.message_id[-1] != "2"}

    start = StartTogether(begin, group=2)
    taps = [_tap(n) for n in range(5)]

    results: list[object] = list(await asyncio.gather(*(start(t) for t in taps)))

    # In the order they asked: the first two, the next two, the last one.
    assert groups == [
        ["wamid.tap.0", "wamid.tap.1"],
        ["wamid.tap.2", "wamid.tap.3"],
        ["wamid.tap.4"],
    ]
    assert results == ["wamid.tap.0", "wamid.tap.1", None, "wamid.tap.3", "wamid.tap.4"]


async def test_a_group_that_fails_leaves_its_answers_alone_and_the_next_group_goes_on() -> None:
    calls = 0

    async def begin(messages: Sequence[InboundMessage]) -> dict[str, Begun]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("database away")
        return {m.message_id: cast(Any, m.message_id) for m in messages}

    start = StartTogether(begin, group=2)

    results: list[object] = list(await asyncio.gather(*(start(_tap(n)) for n in range(3))))

    assert results == [None, None, "wamid.tap.2"]


def test_a_faster_sender_sends_more_answers_at_once_never_fewer_than_before() -> None:
    assert sends_at_once(80) == SENDS_AT_ONCE == 64  # the default limit: as before
    assert sends_at_once(1000) == 250  # a quarter of a second of its sends


class _Stopped(BaseException):
    """Something that ends a task without being an error (as ``GeneratorExit`` does)."""


async def test_a_group_stopped_by_what_is_no_error_leaves_its_other_answers_to_go_alone() -> None:
    """The answer writing the group is stopped by a ``BaseException`` that is neither an error
    nor a cancellation: the other answers of its group are not left waiting, each goes alone."""

    groups: list[list[str]] = []

    async def begin(messages: Sequence[InboundMessage]) -> dict[str, Begun]:
        groups.append([m.message_id for m in messages])
        await asyncio.sleep(0)
        if len(groups) == 1:
            raise _Stopped
        return {}

    start = StartTogether(begin)
    answers = [asyncio.create_task(start(_tap(n))) for n in range(3)]
    async with asyncio.timeout(10):
        outcomes = await asyncio.gather(*answers, return_exceptions=True)
    assert isinstance(outcomes[0], _Stopped)
    assert outcomes[1:] == [None, None]
    assert groups == [["wamid.tap.0", "wamid.tap.1", "wamid.tap.2"]]
