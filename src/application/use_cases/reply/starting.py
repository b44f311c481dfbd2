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

from collections.abc import Awaitable, Callable, Sequence

import structlog

from application.group_commit import Failure, GroupCommit
from application.use_cases.handle_customer_reply import Begun
from domain.errors import describe
from domain.webhook import InboundMessage

_log = structlog.get_logger("replies")

Begin = Callable[[Sequence[InboundMessage]], Awaitable[dict[str, Begun]]]

#: Answers begun in one transaction, at most (BENCHMARKS.md, "Stop 16: answers").
GROUP = 64


class StartTogether:
    """One per pass; called by each answer once it may send. Its group commit
    (``GroupCommit``): one group at a time, in the task of the answer that finds none on its
    way, after one turn of the loop, at most ``group`` answers; a group that could not be
    begun (an error, logged, or the answer writing it cancelled) leaves each of its answers
    to go alone (None), and to find what was written."""

    def __init__(self, begin: Begin, group: int = GROUP) -> None:
        self._begin = begin
        self._group: GroupCommit[InboundMessage, Begun | None] = GroupCommit(
            self._begin_group, failure=Failure.NONE, gather=True, max_items=group
        )

    async def __call__(self, message: InboundMessage) -> Begun | None:
        return await self._group(message)

    async def _begin_group(self, messages: list[InboundMessage]) -> list[Begun | None]:
        try:
            begun = await self._begin(messages)
        except Exception as exc:  # nothing written: each meets the trouble alone
            _log.warning("answers not begun together", error=describe(exc))
            raise
        return [begun.get(message.message_id) for message in messages]
