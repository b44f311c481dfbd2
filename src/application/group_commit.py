"""Group commit: callers hand an item over and wait; the items waiting together go in one write.

The first caller starts a write at once (no timer; with ``gather``, after one turn of the event
loop, so that the callers starting at the same moment join it). Items that arrive while a write
is in flight queue up and go together in the next one, the oldest first, as many as one write
takes (``max_items`` items, ``max_size`` of their ``size``; always at least one). Each caller
learns its own item's result, or what the ``Failure`` policy gives it when the write failed.

Who writes:

- ``tasks=0`` (the default): one write at a time, in the task of the caller that finds none in
  flight (it writes the queue, its own item among it). A unit of work of the owner's is never
  used twice at once, no task is started, and a caller cancelled while it writes cancels that
  write (``Failure`` says what the others of it get).
- ``tasks=n``: up to ``n`` writes in flight, each in a task of its own that writes the queue
  until it is empty. A caller that stops waiting leaves its write alone.

The owners (``InboxWriter``, ``SlotWriter``, ``StartTogether``, ``CloseReplies``) each say in
their docstring which of these they take and why.
"""

from __future__ import annotations

import asyncio
import enum
import itertools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar, cast

Item = TypeVar("Item")
Result = TypeVar("Result")

Write = Callable[[list[Item]], Awaitable[Sequence[Result]]]
"""One write of ``items``: their results, in their order."""


class Failure(enum.Enum):
    """What the callers of a write that failed get: it raised an error, or was cancelled (or
    stopped by another ``BaseException``, which is no error: taken as cancelled)."""

    SHARED = enum.auto()
    """Each the write's error; cancelled, each cancelled (with ``tasks``, the queued ones too:
    no writer may be left for them)."""

    EACH_ALONE = enum.auto()
    """A write of several items done again for each alone, one write each (a write of one: its
    error, to its caller). Cancelled, the items not answered yet go back first in the queue:
    the next caller writes them."""

    NONE = enum.auto()
    """Each None, error or cancelled: each caller goes on without the write."""


@dataclass(slots=True)
class _Waiting(Generic[Item, Result]):
    item: Item
    done: asyncio.Future[Result]


class GroupCommit(Generic[Item, Result]):
    """``await commit(item)``: the item's result once a write that holds it has ended."""

    def __init__(
        self,
        write: Write[Item, Result],
        *,
        failure: Failure,
        gather: bool = False,
        max_items: int | None = None,
        size: Callable[[Item], int] | None = None,
        max_size: int = 0,
        tasks: int = 0,
    ) -> None:
        self._write = write
        self._failure = failure
        self._gather = gather
        self._max_items = max_items
        self._size = size
        self._max_size = max_size
        self._tasks = tasks
        self._queue: list[_Waiting[Item, Result]] = []
        self._lock = asyncio.Lock()  # tasks=0: the write in flight
        self._writers: set[asyncio.Task[None]] = set()  # tasks=n: the writes in flight
        self.writes = 0  # writes begun so far, each alone too (for tests and metrics)

    async def __call__(self, item: Item) -> Result:
        waiting: _Waiting[Item, Result] = _Waiting(item, asyncio.get_running_loop().create_future())
        self._queue.append(waiting)
        if self._tasks:
            if len(self._writers) < self._tasks:
                writer = asyncio.create_task(self._write_queue(), name="group-commit")
                self._writers.add(writer)
                # A writer cancelled before its first step never runs its ``finally``.
                writer.add_done_callback(self._writers.discard)
        else:
            async with self._lock:
                if not waiting.done.done():  # nobody took it while we waited: we write
                    if self._gather:
                        await asyncio.sleep(0)  # the callers starting at this moment join
                    await self._commit(self._take())
        return await waiting.done

    async def _write_queue(self) -> None:
        """One of ``tasks`` writers: what has queued up each time its write ends."""
        try:
            if self._gather:
                await asyncio.sleep(0)
            while self._queue:
                await self._commit(self._take())
        finally:
            # Gone from the writers as soon as the queue is empty (no await in between): a
            # caller that comes after starts a writer of its own.
            writer = asyncio.current_task()
            if writer is not None:
                self._writers.discard(writer)

    def _take(self) -> list[_Waiting[Item, Result]]:
        """The oldest items that fit one write (at least one)."""
        count = len(self._queue) if self._max_items is None else max(self._max_items, 1)
        if self._size is not None:
            total = 0
            for place, waiting in enumerate(itertools.islice(self._queue, count)):
                total += self._size(waiting.item)
                if place and total > self._max_size:
                    count = place
                    break
        group = self._queue[:count]
        del self._queue[:count]
        return group

    async def _commit(self, group: list[_Waiting[Item, Result]]) -> None:
        """``group`` written and each of its callers answered, as ``Failure`` says when the
        write fails (cancelled too, while it is written again item by item): none of them is
        left waiting for an answer nobody will give."""
        try:
            await self._write_and_answer(group)
        except BaseException:  # cancelled, or stopped by what is no error: as if cancelled
            self._cancelled(group)
            raise

    async def _write_and_answer(self, group: list[_Waiting[Item, Result]]) -> None:
        self.writes += 1
        try:
            results = await self._write([w.item for w in group])
        except Exception as exc:
            if self._failure is Failure.EACH_ALONE and len(group) > 1:
                for waiting in group:
                    await self._write_and_answer([waiting])
                return
            self._fail(group, exc)
        else:
            for waiting, result in zip(group, results, strict=True):
                if not waiting.done.done():
                    waiting.done.set_result(result)

    def _cancelled(self, group: list[_Waiting[Item, Result]]) -> None:
        if self._failure is Failure.EACH_ALONE:
            self._queue[:0] = [w for w in group if not w.done.done()]
            return
        if self._failure is Failure.SHARED and self._tasks:
            group, self._queue = [*group, *self._queue], []
        self._fail(group, None)

    def _fail(self, group: list[_Waiting[Item, Result]], error: Exception | None) -> None:
        """Each caller of ``group`` not answered yet given the write's ``error`` (None: the
        write was cancelled), or None with ``Failure.NONE``."""
        for waiting in group:
            if waiting.done.done():
                continue
            if self._failure is Failure.NONE:
                waiting.done.set_result(cast(Result, None))  # Result includes None
            elif error is None:
                waiting.done.cancel()
            else:
                waiting.done.set_exception(error)
