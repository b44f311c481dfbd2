"""The timeline's events of a status pass, published beside its writes instead of between
them (docs/webhooks.md, "The timeline's publish").

A lane of statuses that awaited the publish of its chunk's events before it began the next
chunk spent about half of its time waiting for Pub/Sub (BENCHMARKS.md, "Stop 14: statuses").
A ``Timeline`` takes the events of a committed chunk and returns at once; up to
``PUBLISHES_AT_ONCE`` requests are in flight, each with the events waiting when it starts (at
most ``EVENTS_PER_PUBLISH``). The pass waits for every request
(``drain``) before it marks its bodies processed, as it waited for each chunk's publish
before. The rule for a failed publish is unchanged (docs/adr/0007-best-effort-activity.md):
logged, not retried; the events of the other requests still go.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

import structlog

from application.ports.collaborators import ActivityPublisher
from domain.activity import ActivityEvent

_log = structlog.get_logger("activity")

#: Publish requests in flight at once: as many as the lanes, which each awaited one before.
#: The emulator took 20,700 events/s with two, 38,000-47,000 with four, but with four the
#: POSTs answered during passes waited longer (BENCHMARKS.md, "Stop 15: statuses").
PUBLISHES_AT_ONCE = 2
#: Events per publish request (Pub/Sub takes at most 1000): a chunk's, as before. Writing a
#: request holds the event loop the POSTs are answered on (about 250 KB of JSON for 500
#: events; the loopback's copy is charged to the writer).
EVENTS_PER_PUBLISH = 500


class Timeline:
    def __init__(
        self,
        activity: ActivityPublisher,
        at_once: int = PUBLISHES_AT_ONCE,
        most: int = EVENTS_PER_PUBLISH,
    ) -> None:
        self._activity = activity
        self._at_once = at_once
        self._most = most
        self._waiting: list[ActivityEvent] = []
        self._senders: set[asyncio.Task[None]] = set()

    def add(self, events: Sequence[ActivityEvent]) -> None:
        """``events`` published soon, in this order after the events added before (requests
        in flight at once may reach Pub/Sub in any order, which never promised one)."""
        self._waiting.extend(events)
        if self._waiting and len(self._senders) < self._at_once:
            self._senders.add(asyncio.create_task(self._send()))

    async def drain(self) -> None:
        """Returns once every event added is published (or its failure logged). Cancelled
        while it waits (a pass cancelled at its end), it gives the requests in flight up too
        (``cancel``): none outlives the pass."""
        try:
            while self._senders:
                await asyncio.wait(set(self._senders))
        except asyncio.CancelledError:
            await self.cancel()
            raise

    async def cancel(self) -> None:
        """The requests in flight given up (a pass cancelled); the events waiting dropped."""
        self._waiting = []
        senders = set(self._senders)
        for sender in senders:
            sender.cancel()
        for sender in senders:
            with contextlib.suppress(asyncio.CancelledError):
                await sender

    async def _send(self) -> None:
        try:
            while self._waiting:
                batch = self._waiting[: self._most]
                del self._waiting[: self._most]
                try:
                    await self._activity.publish_many(batch)
                except Exception as exc:
                    # The composition root's publisher never raises (docs/adr/0007); one given
                    # by hand may: the same rule, logged and not retried.
                    _log.warning("activity not published", error=str(exc)[:200], count=len(batch))
        finally:
            # Gone from the senders as soon as nothing waits (no await in between): an
            # ``add`` that comes after starts a sender of its own.
            task = asyncio.current_task()
            if task is not None:
                self._senders.discard(task)
