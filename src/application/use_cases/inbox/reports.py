"""A pass's delivery reports and template changes (docs/webhooks.md, "Isolation").

Delivery reports are recorded a chunk of messages at a time; when a chunk is refused for
good, each message's ticks are tried on their own, so the one that cannot be stored is found
and the others are kept. Template changes are recorded in one call. What may heal
(``UpstreamUnavailable``) makes the bodies concerned wait; anything else is recorded as a
problem of their body. The user ids seen in the reports are remembered.

``StatusLanes`` records the statuses of a pass while its bodies are still being decoded
(docs/webhooks.md, "Lanes"): each body's statuses are handed to it as soon as it is decoded,
each message always to the same one of ``STATUS_LANES`` lanes, and a lane records a chunk in
a unit of work of its own as soon as it holds one (or decoding has ended). A lane does its
chunks one after the other, so a message's ticks are applied in the order of the bodies, and
the ticks of a message that wait in a lane together are ordered and applied together. The
timeline's events of each chunk go to the pass's ``Timeline`` after its commit, published
while the lane goes on with its next chunk.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Protocol

from application.timeline import Timeline
from application.use_cases.inbox.bodies import (
    STATUSES_PER_TRANSACTION,
    Body,
    ProcessedBatch,
    by_message,
)
from application.use_cases.record_delivery_reports import RecordDeliveryReports
from application.use_cases.record_template_status import RecordTemplateStatus
from domain.errors import UpstreamUnavailable
from domain.webhook import StatusUpdate

#: Lanes of a pass when the caller gives recorders (each chunk of a lane a transaction).
STATUS_LANES = 2

Item = tuple[Body, StatusUpdate]


class ReportRecorders(Protocol):
    """Each call opens a recorder with a unit of work of its own, so chunks can run at once."""

    def __call__(self) -> AbstractAsyncContextManager[RecordDeliveryReports]: ...


class _Lane:
    """The statuses waiting for one lane, by message in the order they came."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._groups: dict[str, list[Item]] = {}
        self._order: deque[str] = deque()
        self._count = 0
        self.closed = False
        self.ready = asyncio.Event()  # a chunk is full, or nothing more will come

    def add(self, item: Item) -> None:
        wamid = item[1].message_id
        group = self._groups.get(wamid)
        if group is None:
            self._groups[wamid] = [item]
            self._order.append(wamid)
        else:
            group.append(item)
        self._count += 1
        if self._count >= self._size:
            self.ready.set()

    @property
    def waiting(self) -> int:
        return self._count

    def close(self) -> None:
        self.closed = True
        self.ready.set()

    def take(self) -> list[Item]:
        """The next chunk: about ``size`` statuses, every waiting tick of a message in it."""
        chunk: list[Item] = []
        while self._order:
            group = self._groups[self._order[0]]
            if chunk and len(chunk) + len(group) > self._size:
                break
            del self._groups[self._order.popleft()]
            chunk.extend(group)
        self._count -= len(chunk)
        if self._count < self._size and not self.closed:
            self.ready.clear()
        return chunk


class StatusLanes:
    """``async with StatusLanes(...) as lanes: lanes.add(body)`` for each body as it is
    decoded; on leaving, every status is recorded (and its events published) or its body
    marked to wait or to carry the problem."""

    def __init__(
        self,
        recorders: ReportRecorders,
        timeline: Timeline,
        batch: ProcessedBatch,
        *,
        lanes: int = STATUS_LANES,
        size: int = STATUSES_PER_TRANSACTION,
    ) -> None:
        self._recorders = recorders
        self._timeline = timeline
        self._batch = batch
        self._size = size
        # Until every body is in, a lane waits for a full chunk: a message's ticks in the
        # next bodies are then more often ordered together with those already waiting.
        self._lanes = [_Lane(size) for _ in range(lanes)]
        self._tasks: list[asyncio.Task[None]] = []
        self.user_ids: list[StatusUpdate] = []

    async def __aenter__(self) -> StatusLanes:
        self._tasks = [asyncio.create_task(self._run(lane)) for lane in self._lanes]
        return self

    def add(self, body: Body) -> None:
        lanes = self._lanes
        for status in body.parsed.statuses:
            # The same lane for every tick of a message, within this process's pass.
            lanes[hash(status.message_id) % len(lanes)].add((body, status))
            if status.recipient_user_id:
                self.user_ids.append(status)

    @property
    def busy(self) -> bool:
        """Whether a full chunk waits for the lanes (they have work for a while yet)."""
        return sum(lane.waiting for lane in self._lanes) >= self._size

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if error is not None:
            # Decoding failed (or the pass was cancelled): the lanes stop where they are;
            # their bodies are not marked, so they are taken again.
            await self._stop(error)
            return
        for lane in self._lanes:
            lane.close()
        try:
            await asyncio.gather(*self._tasks)
        except BaseException as failed:
            await self._stop(failed)
            raise
        await self._timeline.drain()

    async def _stop(self, error: BaseException) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if isinstance(error, asyncio.CancelledError):
            await self._timeline.cancel()
        else:
            # The chunks committed before the failure are told all the same (best effort).
            await self._timeline.drain()

    async def _run(self, lane: _Lane) -> None:
        async with contextlib.AsyncExitStack() as scope:
            recorder: RecordDeliveryReports | None = None
            while True:
                if _cancelling():  # a write cancelled that ended in another error: stop here
                    raise asyncio.CancelledError
                await lane.ready.wait()
                chunk = lane.take()
                if not chunk:
                    if lane.closed:
                        return
                    continue
                if recorder is None:  # a unit of work opened only for a lane with work
                    recorder = await scope.enter_async_context(self._recorders())
                await _record_chunk(recorder, chunk, self._batch, self._timeline)


def _cancelling() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def _record_chunk(
    reports: RecordDeliveryReports,
    chunk: list[Item],
    batch: ProcessedBatch,
    timeline: Timeline,
) -> None:
    try:
        await _record(reports, chunk, batch, timeline)
    except Exception:
        # Something in the chunk is refused for good: each message's ticks on their own, so
        # the one that cannot be stored is found and the others are kept.
        for group in by_message(chunk, size=1):
            try:
                await _record(reports, group, batch, timeline)
            except Exception as exc:
                for body, status in group:
                    body.failed(status.element, exc)


async def _record(
    reports: RecordDeliveryReports, items: list[Item], batch: ProcessedBatch, timeline: Timeline
) -> None:
    """``items`` in one transaction; what may heal makes their bodies wait, anything else
    is raised (refused for good)."""
    try:
        # Awaited before the sum: ``batch`` is shared with the other lanes.
        fresh = await reports([s for _, s in items], timeline)
        batch.statuses += fresh
    except UpstreamUnavailable as exc:
        for body, _ in items:
            body.waits(exc)


async def record_template_changes(
    templates: RecordTemplateStatus, bodies: list[Body], batch: ProcessedBatch
) -> None:
    with_changes = [b for b in bodies if b.parsed.template_changes]
    if not with_changes:
        return
    changes = [c for b in with_changes for c in b.parsed.template_changes]
    try:
        await templates(changes)
        batch.template_changes = len(changes)
    except UpstreamUnavailable as exc:
        for body in with_changes:
            body.waits(exc)
    except Exception as exc:
        for body in with_changes:
            body.failed("message_template_status_update", exc)
