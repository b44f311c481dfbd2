"""The first transactions of the answers of one pump pass, shared (docs/webhooks.md, "Answers
side by side"): the answers that start at the same moment are bound, stored, decided, moved
and followed up together (``HandleCustomerReply.begin_together``).

An answer asks when it may send at once (it holds a slot of the pass's sends): the first to
ask waits one turn of the event loop, so that the answers starting with it join, and begins
them together, at most ``GROUP`` of them (the first ones asking); the others, and the ones that
ask meanwhile, go together in the next, which starts as soon as that one has committed: the
first group's follow-ups are on their way to Meta while the next is written, instead of all
of them waiting for one large write. So a follow-up recorded
in flight is sent right after its transaction commits, as when each answer began alone, never
left waiting for a slot (a process that dies then leaves it "Meta may have it", never sent
again). An answer that was not begun (``None``: not one for the shared path, or the shared
write could not be done) goes alone, through ``HandleCustomerReply.__call__``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

import structlog

from application.use_cases.handle_customer_reply import Begun
from domain.errors import describe
from domain.webhook import InboundMessage

_log = structlog.get_logger("replies")

Begin = Callable[[Sequence[InboundMessage]], Awaitable[dict[str, Begun]]]

#: Answers begun in one transaction, at most (BENCHMARKS.md, "Stop 16: answers").
GROUP = 64


class StartTogether:
    """One per pass; called by each answer once it may send."""

    def __init__(self, begin: Begin, group: int = GROUP) -> None:
        self._begin = begin
        self._group = group
        self._waiting: list[tuple[InboundMessage, asyncio.Future[Begun | None]]] = []
        self._lock = asyncio.Lock()

    async def __call__(self, message: InboundMessage) -> Begun | None:
        started: asyncio.Future[Begun | None] = asyncio.get_running_loop().create_future()
        self._waiting.append((message, started))
        async with self._lock:
            if not started.done():
                await asyncio.sleep(0)  # the answers starting at this moment join
                group = self._waiting[: self._group]
                del self._waiting[: self._group]  # the rest lead the next group
                begun: dict[str, Begun] = {}
                try:
                    begun = await self._begin([m for m, _ in group])
                except Exception as exc:  # nothing written: each meets the trouble alone
                    _log.warning("answers not begun together", error=describe(exc))
                finally:  # (cancelled: each goes alone, and finds what was written)
                    for waiting, done in group:
                        if not done.done():
                            done.set_result(begun.get(waiting.message_id))
        return await started
