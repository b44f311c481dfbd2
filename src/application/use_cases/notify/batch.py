"""The failed deliveries of one pull, planned together and written together (docs/sending.md).

The rules are those of one event (``NotifyFailedDelivery``), and so are the keys: only the
number of transactions changes. A batch is:

1. **plan** (``batch_plan``): one read transaction for all of them; the settings, templates
   and month counts read once per workspace (``BatchReads``); the conversations of its
   shipments, its outcome records, opt-outs and languages with one read each. An attempt seen
   before (a conversation or an outcome recorded), or a second event of the same shipment in
   the batch, goes the one-event way after the batch, so it sees what the batch wrote. It
   writes nothing: the worker reads it ahead, while the pull waits for room (``plan``).
2. **record** (``batch_record``): the sends' slots booked (``SendPhase.book``), then the
   conversations and messages of every send in one transaction, before anything is sent (the
   record-before-send rule); a message whose slot has come is written in flight, the others
   queued. A transaction that fails sends nothing of it: each of its events goes the
   one-event way.
3. **send** (``batch_send``): concurrently, each through its sender's limiter; a queued
   message's slot come is written (``in flight``) before the send, the slots of the sends
   waiting together written together (``SlotWriter``).
4. **outcomes** (``batch_outcomes``): one transaction for the outcomes of all sends;
   published in one call.

One event's problem stays its own (``batch_event``): a skip, a hold, a refusal or a failure
at Meta is that event's outcome, and an error in one event's step makes only that event retry.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import structlog

from application.ports.repositories import UnitOfWork
from application.use_cases.notify.batch_event import Handled, Start
from application.use_cases.notify.batch_outcomes import OutcomePhase
from application.use_cases.notify.batch_plan import Planned, PlanPhase
from application.use_cases.notify.batch_record import RecordPhase
from application.use_cases.notify.batch_send import SendPhase
from domain.failed_delivery import FailedDelivery

T = TypeVar("T")

__all__ = ["BatchNotify", "Handled", "NotifiedBatch", "Planned"]

_log = structlog.get_logger("fdr")


@dataclass(frozen=True, slots=True)
class NotifiedBatch:
    """``NotifyFailedDelivery.batch``: each event's outcome (or error), in their order, and
    the shipments of the batch that had no conversation before it (none when its plan
    failed: then each event finds out on its own)."""

    results: list[Handled]
    unmessaged: set[int]


class BatchNotify:
    """``NotifyFailedDelivery.many``: see the module's docstring."""

    def __init__(
        self,
        uow: UnitOfWork,
        plans: PlanPhase,
        records: RecordPhase,
        sends: SendPhase,
        outcomes: OutcomePhase,
    ) -> None:
        self._uow = uow
        self._plans = plans
        self._records = records
        self._sends = sends
        self._outcomes = outcomes

    async def plan(self, fdrs: Sequence[FailedDelivery]) -> Planned | None:
        """The batch's plan (``PlanPhase.read``, nothing written), read ahead of the batch;
        None when it could not be read (the batch then reads it when it starts)."""
        try:
            return await self._plans.read(fdrs)
        except Exception:
            return None

    async def __call__(
        self, fdrs: Sequence[FailedDelivery], planned: Planned | None = None
    ) -> tuple[dict[int, Handled], list[int], set[int]]:
        """The outcomes of the events handled here (by their index), the indexes of those
        left to the one-event way, in their order, and the batch's shipments the plan found
        never messaged before it (none known when the plan failed). ``planned``: the plan of
        these very events read before (``plan``), else read now."""
        if planned is None or planned.fdrs != tuple(fdrs):
            try:
                planned = await self._plans.read(fdrs)
            except Exception as exc:  # whatever it was, one by one each event meets it alone
                _log.warning("batch not planned, one by one now", error=str(exc)[:200])
                return {}, list(range(len(fdrs))), set()
        results: dict[int, Handled] = {}
        later = list(planned.later)
        try:
            await self._handle(fdrs, planned, results, later)
        finally:
            await self._uow.release_ahead()
        later.sort()
        return results, later, planned.unmessaged

    async def _handle(
        self,
        fdrs: Sequence[FailedDelivery],
        planned: Planned,
        results: dict[int, Handled],
        later: list[int],
    ) -> None:
        """Steps 2-4 for the plans to send. The connection of the records is taken while the
        slots are booked, and that of the outcomes while Meta answers (``connect_ahead``):
        the pool's pre-ping of each is off the time the batch's events count."""
        starts: list[Start] = []
        for index, plan in await self._plans.skip(planned, results):
            start = await self._plans.screen(fdrs[index], index, plan, results)
            if start is not None:
                starts.append(start)
        if starts:
            await self._beside(self._sends.book(starts))
        if starts and not await self._records.record(starts, results, later):
            later.extend(start.index for start in starts)
            starts = []
        sends = [s for s in starts if s.message is not None]
        if not sends:
            return
        finished = await self._beside(self._sends.send_all(sends, results))
        if finished:
            results.update(await self._outcomes.outcomes(finished))

    async def _beside(self, step: Awaitable[T]) -> T:
        """``step`` with ``connect_ahead`` beside it. Both are waited for, also when ``step``
        fails first: else the connection would come after ``release_ahead`` and stay held."""
        done, _ = await asyncio.gather(step, self._uow.connect_ahead(), return_exceptions=True)
        if isinstance(done, BaseException):
            raise done
        return done
