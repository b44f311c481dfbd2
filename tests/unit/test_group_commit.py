"""The group commit the service's batchers share (``GroupCommit``): callers that wait together
share a write, a write takes what fits, and each caller learns its own result or what the
failure policy gives it (an error to all, each alone again, None, or put back when cancelled)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

import pytest

from application.group_commit import Failure, GroupCommit
from tests.support.stack import eventually


class Store:
    """A write that records each group, held until ``opened``, failing for the groups
    ``fails`` says."""

    def __init__(self, *, fails: bool | int = False) -> None:
        self.opened = asyncio.Event()
        self.opened.set()
        self.fails = fails  # True: every write; n: the writes of more than n items
        self.groups: list[list[str]] = []
        self.in_flight = 0
        self.most_in_flight = 0

    async def write(self, items: list[str]) -> Sequence[str]:
        self.groups.append(list(items))
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0)  # a write always waits for its database
            await self.opened.wait()
        finally:
            self.in_flight -= 1
        if self.fails is True or (self.fails is not False and len(items) > self.fails):
            raise RuntimeError(f"{len(items)} items refused")
        return [f"stored {item}" for item in items]


async def _until(condition: Callable[[], object]) -> None:
    """Lets the loop run until ``condition()`` holds."""

    async def check() -> bool:
        return bool(condition())

    await eventually(check, seconds=10)


@pytest.mark.parametrize("tasks", [0, 1])
async def test_callers_at_the_same_moment_share_a_write_and_those_behind_it_the_next(
    tasks: int,
) -> None:
    store = Store()
    store.opened.clear()
    commit: GroupCommit[str, str] = GroupCommit(
        store.write, failure=Failure.SHARED, gather=True, tasks=tasks
    )
    first = [asyncio.create_task(commit(f"a{n}")) for n in range(3)]
    await _until(lambda: store.groups)
    behind = [asyncio.create_task(commit(f"b{n}")) for n in range(3)]
    await asyncio.sleep(0.01)
    assert not any(t.done() for t in [*first, *behind])  # nobody answered before its write
    store.opened.set()
    results = await asyncio.gather(*first, *behind)
    assert results == [f"stored {i}" for i in ["a0", "a1", "a2", "b0", "b1", "b2"]]
    assert store.groups == [["a0", "a1", "a2"], ["b0", "b1", "b2"]]
    assert commit.writes == 2


async def test_without_gather_the_first_caller_writes_alone_at_once() -> None:
    store = Store()
    commit: GroupCommit[str, str] = GroupCommit(store.write, failure=Failure.SHARED)
    await asyncio.gather(*(commit(f"a{n}") for n in range(3)))
    assert store.groups == [["a0"], ["a1", "a2"]]


async def test_up_to_tasks_writes_are_in_flight_the_others_queue_for_the_next() -> None:
    store = Store()
    store.opened.clear()
    commit: GroupCommit[str, str] = GroupCommit(store.write, failure=Failure.SHARED, tasks=2)
    first = asyncio.create_task(commit("a"))
    await _until(lambda: len(store.groups) == 1)
    second = asyncio.create_task(commit("b"))
    await _until(lambda: len(store.groups) == 2)  # did not wait for the first to end
    rest = [asyncio.create_task(commit(f"c{n}")) for n in range(5)]
    await asyncio.sleep(0.01)
    assert len(store.groups) == 2  # both in flight: the others wait
    store.opened.set()
    await asyncio.gather(first, second, *rest)
    assert store.most_in_flight == 2
    assert sorted(map(len, store.groups)) == [1, 1, 5]


async def test_one_at_a_time_in_the_callers_own_task_when_no_tasks() -> None:
    store = Store()
    store.opened.clear()
    commit: GroupCommit[str, str] = GroupCommit(store.write, failure=Failure.SHARED)
    callers = [asyncio.create_task(commit(f"a{n}")) for n in range(3)]
    await _until(lambda: store.groups)
    store.opened.set()
    await asyncio.gather(*callers)
    assert store.most_in_flight == 1


async def test_a_caller_right_after_every_writer_ended_starts_one() -> None:
    """A caller whose item came back and calls again at once (its writer still ending) is not
    left waiting for somebody else's call."""
    store = Store()
    commit: GroupCommit[str, str] = GroupCommit(store.write, failure=Failure.SHARED, tasks=1)

    async def twice() -> str:
        await commit("a")
        return await commit("b")

    async with asyncio.timeout(5):
        assert await twice() == "stored b"


@pytest.mark.parametrize("tasks", [0, 2])
async def test_a_write_takes_at_most_its_count_and_size_but_always_one_item(tasks: int) -> None:
    store = Store()
    commit: GroupCommit[str, str] = GroupCommit(
        store.write,
        failure=Failure.SHARED,
        gather=True,
        max_items=3,
        size=len,
        max_size=6,
        tasks=tasks,
    )
    items = ["aa", "bb", "cc", "dd", "eeeeeeeeee", "f", "g"]
    assert await asyncio.gather(*(commit(i) for i in items)) == [f"stored {i}" for i in items]
    assert sorted(store.groups) == [["aa", "bb", "cc"], ["dd"], ["eeeeeeeeee"], ["f", "g"]]


async def test_shared_a_failed_write_is_the_error_of_each_of_its_callers() -> None:
    store = Store(fails=True)
    commit: GroupCommit[str, str] = GroupCommit(store.write, failure=Failure.SHARED, gather=True)
    outcomes = await asyncio.gather(*(commit(f"a{n}") for n in range(3)), return_exceptions=True)
    assert [str(o) for o in outcomes] == ["3 items refused"] * 3
    assert all(isinstance(o, RuntimeError) for o in outcomes)
    store.fails = False
    assert await commit("again") == "stored again"  # the next write is a new one


async def test_each_alone_a_failed_group_is_written_again_item_by_item() -> None:
    store = Store(fails=1)  # a write of one goes; of more, fails
    commit: GroupCommit[str, str] = GroupCommit(store.write, failure=Failure.EACH_ALONE)
    results = await asyncio.gather(*(commit(f"a{n}") for n in range(3)))
    assert results == ["stored a0", "stored a1", "stored a2"]
    assert store.groups == [["a0"], ["a1", "a2"], ["a1"], ["a2"]]
    assert commit.writes == 4
    store.fails = True
    with pytest.raises(RuntimeError, match="1 items refused"):  # alone: its own error
        await commit("b")


async def test_none_a_failed_write_answers_each_none() -> None:
    store = Store(fails=True)
    commit: GroupCommit[str, str | None] = GroupCommit(
        store.write, failure=Failure.NONE, gather=True
    )
    assert await asyncio.gather(*(commit(f"a{n}") for n in range(3))) == [None] * 3


async def test_shared_with_tasks_cancelled_cancels_every_caller_waiting() -> None:
    store = Store()
    store.opened.clear()
    commit: GroupCommit[str, str] = GroupCommit(store.write, failure=Failure.SHARED, tasks=1)
    first = asyncio.create_task(commit("a"))
    await _until(lambda: store.groups)
    queued = asyncio.create_task(commit("b"))
    await asyncio.sleep(0.01)
    (writer,) = [t for t in asyncio.all_tasks() if t.get_name() == "group-commit"]
    writer.cancel()  # shutting down
    outcomes = await asyncio.gather(first, queued, return_exceptions=True)
    assert all(isinstance(o, asyncio.CancelledError) for o in outcomes)


async def test_with_tasks_a_caller_that_stops_waiting_leaves_its_write_alone() -> None:
    store = Store()
    store.opened.clear()
    commit: GroupCommit[str, str] = GroupCommit(store.write, failure=Failure.SHARED, tasks=1)
    gone = asyncio.create_task(commit("a"))
    staying = asyncio.create_task(commit("b"))
    await _until(lambda: store.groups)
    gone.cancel()
    store.opened.set()
    assert await staying == "stored b"
    assert store.groups == [["a", "b"]]


async def test_none_the_writing_caller_cancelled_the_others_get_none() -> None:
    store = Store()
    store.opened.clear()
    commit: GroupCommit[str, str | None] = GroupCommit(
        store.write, failure=Failure.NONE, gather=True
    )
    leader = asyncio.create_task(commit("a"))
    others = [asyncio.create_task(commit(f"b{n}")) for n in range(2)]
    await _until(lambda: store.groups)
    leader.cancel()
    assert await asyncio.gather(*others) == [None, None]
    assert leader.cancelled()


async def test_each_alone_the_writing_caller_cancelled_the_next_caller_writes_the_rest() -> None:
    store = Store()
    store.opened.clear()
    commit: GroupCommit[str, str] = GroupCommit(store.write, failure=Failure.EACH_ALONE)
    leader = asyncio.create_task(commit("a"))
    await _until(lambda: store.groups)
    others = [asyncio.create_task(commit(f"b{n}")) for n in range(2)]
    await asyncio.sleep(0.01)
    leader.cancel()  # while "a" is written alone
    store.opened.set()
    async with asyncio.timeout(5):
        assert await asyncio.gather(*others) == ["stored b0", "stored b1"]
    assert store.groups == [["a"], ["a", "b0", "b1"]]  # put back, written by the next caller


async def test_each_alone_cancelled_while_trying_each_alone_the_rest_are_still_written() -> None:
    groups: list[list[str]] = []
    held = asyncio.Event()

    async def write(items: list[str]) -> list[str]:
        groups.append(list(items))
        if items == ["b0"]:
            await held.wait()
        if len(items) > 1:
            raise RuntimeError("refused")
        return [f"stored {item}" for item in items]

    commit: GroupCommit[str, str] = GroupCommit(write, failure=Failure.EACH_ALONE, gather=True)
    callers = [asyncio.create_task(commit(f"b{n}")) for n in range(3)]
    await _until(lambda: groups[-1:] == [["b0"]])  # the three refused, b0 alone, held
    callers[0].cancel()
    held.set()
    async with asyncio.timeout(5):
        assert await asyncio.gather(*callers[1:]) == ["stored b1", "stored b2"]
    assert callers[0].cancelled()
    # The three put back (b0 was not answered), written by the next caller: refused, alone.
    assert groups[-4:] == [["b0", "b1", "b2"], ["b0"], ["b1"], ["b2"]]


async def test_shared_the_writing_caller_cancelled_the_others_of_its_write_are_cancelled() -> None:
    store = Store()
    store.opened.clear()
    commit: GroupCommit[str, str] = GroupCommit(store.write, failure=Failure.SHARED, gather=True)
    leader = asyncio.create_task(commit("a"))
    others = [asyncio.create_task(commit(f"b{n}")) for n in range(2)]
    await _until(lambda: store.groups)
    leader.cancel()
    outcomes = await asyncio.gather(*others, return_exceptions=True)
    assert all(isinstance(o, asyncio.CancelledError) for o in outcomes)
