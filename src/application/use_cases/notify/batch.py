"""The failed deliveries of one pull, planned together and written together (docs/sending.md).

The rules are those of one event (``NotifyFailedDelivery``), and so are the keys: only the
number of transactions changes. A batch is:

1. **plan**: one read transaction for all of them; the settings, templates and month counts
   read once per workspace (``BatchReads``), the shipments never messaged found with one read
   (their conversations are not looked up one by one). An attempt seen before (a conversation or an
   outcome recorded), or a second event of the same shipment in the batch, goes the one-event
   way after the batch, so it sees what the batch wrote.
2. **record**: the conversations and queued messages of every send in one transaction,
   before anything is sent (the record-before-send rule). A transaction that fails sends
   nothing of it: each of its events goes the one-event way.
3. **send**: concurrently, each through its sender's limiter; a slot taken is written
   (``in flight``) before the send, the slots of the sends waiting together written
   together (``SlotWriter``).
4. **outcomes**: one transaction for the outcomes of all sends; published in one call.

One event's problem stays its own: a skip, a hold, a refusal or a failure at Meta is that
event's outcome, and an error in one event's step makes only that event retry.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass

import structlog

from application.ports.clock import Clock, IdGenerator
from application.ports.repositories import UnitOfWork
from application.ports.whatsapp import ThroughputLimiter, WhatsAppGateway
from application.sending import ask_meta
from application.services import NotificationOptions, SenderResolver
from application.use_cases.held_sends import HeldSends
from application.use_cases.notify.planning import BatchReads, NotificationPlanner, render
from application.use_cases.notify.recording import Finished, OutcomeRecorder
from application.use_cases.notify.results import Disposition, Notified, event_key, in_flight
from application.use_cases.notify.rows import new_conversation, new_template_message
from application.use_cases.notify.template_send import refused_for_now
from domain.activity import Outcome, SkipReason
from domain.conversation import Conversation
from domain.errors import (
    NotFound,
    RetryableSendError,
    SendError,
    TemplateMismatch,
    UpstreamRejected,
)
from domain.failed_delivery import FailedDelivery
from domain.messages import OutgoingMessage, TemplateMessage
from domain.planning import Plan, Skip, verified_elsewhere
from domain.settings import SenderConnection

_log = structlog.get_logger("fdr")

#: An event's outcome, or the error that makes it one to deliver again.
Handled = Notified | Exception


@dataclass(slots=True)
class _Start:
    """An event to be sent: its plan, then its records."""

    index: int
    fdr: FailedDelivery
    plan: Plan
    sender: SenderConnection
    conversation: Conversation | None = None
    message: OutgoingMessage | None = None
    content: TemplateMessage | None = None
    mismatch: str = ""
    error: SendError | None = None


class SlotWriter:
    """Marks messages in flight, the ones that wait together in one transaction: while one
    write is on its way, the slots taken meanwhile gather for the next (a group commit).
    Writes one at a time, so the batch's unit of work is never used twice at once."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow
        self._waiting: list[tuple[OutgoingMessage, asyncio.Future[bool]]] = []
        self._lock = asyncio.Lock()

    async def take(self, message: OutgoingMessage) -> bool:
        """True when the message is now in flight; False when another worker took it."""
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((message, done))
        async with self._lock:
            if not done.done():
                group, self._waiting = self._waiting, []
                try:
                    async with self._uow as uow:
                        taken = await uow.messages.advance_many([m for m, _ in group])
                        await uow.commit()
                except Exception as exc:
                    for _, waiting in group:
                        waiting.set_exception(exc)
                else:
                    for written, waiting in group:
                        waiting.set_result(written.id in taken)
        return await done


class BatchNotify:
    """``NotifyFailedDelivery.many``: see the module's docstring."""

    def __init__(
        self,
        uow: UnitOfWork,
        planner: NotificationPlanner,
        recorder: OutcomeRecorder,
        senders: SenderResolver,
        gateway: WhatsAppGateway,
        limiter: ThroughputLimiter,
        held: HeldSends,
        clock: Clock,
        refs: IdGenerator,
        options: NotificationOptions,
    ) -> None:
        self._uow = uow
        self._planner = planner
        self._recorder = recorder
        self._senders = senders
        self._gateway = gateway
        self._limiter = limiter
        self._held = held
        self._clock = clock
        self._refs = refs
        self._options = options

    async def __call__(
        self, fdrs: Sequence[FailedDelivery]
    ) -> tuple[dict[int, Handled], list[int]]:
        """The outcomes of the events handled here (by their index) and the indexes of those
        left to the one-event way, in their order."""
        results: dict[int, Handled] = {}
        later: list[int] = []
        first = self._firsts(fdrs, later)
        try:
            plans = await self._plan(fdrs, first, results, later)
        except Exception as exc:  # whatever it was, one by one each event meets it alone
            _log.warning("batch not planned, one by one now", error=str(exc)[:200])
            return {}, sorted(range(len(fdrs)))
        starts: list[_Start] = []
        for index, plan in plans:
            start = await self._screen(fdrs[index], index, plan, results)
            if start is not None:
                starts.append(start)
        if starts and not await self._record(starts, results, later):
            later.extend(start.index for start in starts)
            starts = []
        await self._send_all([s for s in starts if s.message is not None], results)
        later.sort()
        return results, later

    @staticmethod
    def _firsts(fdrs: Sequence[FailedDelivery], later: list[int]) -> list[int]:
        """The first event of each shipment; the others wait for the one-event way."""
        shipments: set[int] = set()
        first: list[int] = []
        for index, fdr in enumerate(fdrs):
            if fdr.shipment_id in shipments:
                later.append(index)
            else:
                shipments.add(fdr.shipment_id)
                first.append(index)
        return first

    async def _plan(
        self,
        fdrs: Sequence[FailedDelivery],
        first: list[int],
        results: dict[int, Handled],
        later: list[int],
    ) -> list[tuple[int, Plan]]:
        """One read transaction: what to do about each new attempt."""
        reads = BatchReads()
        plans: list[tuple[int, Plan | Skip]] = []
        async with self._uow as uow:
            shipments = {fdrs[index].shipment_id for index in first}
            reads.fresh = shipments - await uow.outcomes.messaged(shipments)
            for index in first:
                fdr = fdrs[index]
                seen = (
                    None
                    if fdr.shipment_id in reads.fresh
                    else await uow.conversations.get_by_attempt(fdr.shipment_id, fdr.status_log_id)
                )
                if seen is not None or await uow.fdr_events.get(event_key(fdr)) is not None:
                    later.append(index)  # seen before: resumed (or acknowledged) one by one
                    continue
                plans.append((index, await self._planner.plan(uow, fdr, reads)))
        ready: list[tuple[int, Plan]] = []
        for index, plan in plans:
            if isinstance(plan, Skip):
                results[index] = await _isolated(
                    self._recorder.skip(fdrs[index], plan.reason, plan.why, plan.detail)
                )
            else:
                ready.append((index, plan))
        return ready

    async def _screen(
        self, fdr: FailedDelivery, index: int, plan: Plan, results: dict[int, Handled]
    ) -> _Start | None:
        """Quiet hours, the sender and where its template is verified, as one event does."""
        try:
            if held := await self._held.hold(fdr, plan.setting, plan.reason, event_key(fdr)):
                results[index] = Notified(
                    disposition=Disposition.ACK, outcome=Outcome.HELD, detail=held
                )
                return None
            try:
                sender = await self._senders.for_setting(plan.setting)
            except (NotFound, UpstreamRejected) as exc:
                results[index] = await self._recorder.skip(
                    fdr, plan.reason, SkipReason.NO_SENDER, str(exc)
                )
                return None
            if skip := verified_elsewhere(plan.reason, plan.template, sender.waba_id):
                results[index] = await self._recorder.skip(fdr, skip.reason, skip.why, skip.detail)
                return None
        except Exception as exc:
            results[index] = exc
            return None
        return _Start(index, fdr, plan, sender)

    async def _record(
        self, starts: list[_Start], results: dict[int, Handled], later: list[int]
    ) -> bool:
        """The records before the send, all in one transaction; False when it failed (then
        nothing of it was written)."""
        try:
            async with self._uow as uow:
                for start in starts:
                    await self._add(uow, start)
                await uow.commit()
        except Exception as exc:
            _log.warning("batch records not written, one by one now", error=str(exc)[:200])
            return False
        for start in starts:
            if start.conversation is None:  # another worker took this attempt a moment ago
                later.append(start.index)
            elif start.message is None:  # the template did not fit the event
                results[start.index] = await _isolated(
                    self._recorder.skip(
                        start.fdr,
                        start.plan.reason,
                        SkipReason.TEMPLATE_MISMATCH,
                        start.mismatch,
                        start.conversation.id,
                    )
                )
        return True

    async def _add(self, uow: UnitOfWork, start: _Start) -> None:
        """One event's records, as ``NotifyFailedDelivery`` writes them."""
        fdr, plan, sender = start.fdr, start.plan, start.sender
        now = self._clock.now()
        conversation = await uow.conversations.add(
            new_conversation(fdr, plan, sender, self._refs.new_ref(), now)
        )
        if conversation is None:
            return
        start.conversation = conversation
        assert conversation.id is not None
        try:
            start.content = render(fdr, plan.template, conversation, self._options)
        except TemplateMismatch as exc:
            start.mismatch = str(exc)
            conversation.template_failed()
            await uow.conversations.update(conversation)
            return
        ref = self._refs.new_ref()
        start.message = await uow.messages.add(
            new_template_message(conversation, plan, sender, start.content, ref, now)
        )

    async def _send_all(self, starts: list[_Start], results: dict[int, Handled]) -> None:
        """Each through its limiter and to Meta, at the same time; then the outcomes."""
        slots = SlotWriter(self._uow)
        answers = await asyncio.gather(
            *(self._send(start, slots) for start in starts), return_exceptions=True
        )
        finished: list[_Start] = []
        for start, answer in zip(starts, answers, strict=True):
            if isinstance(answer, Notified):
                results[start.index] = answer
            elif isinstance(answer, BaseException):
                if not isinstance(answer, Exception):
                    raise answer
                results[start.index] = answer
            else:
                finished.append(start)
        if finished:
            results.update(await self._outcomes(finished))

    async def _send(self, start: _Start, slots: SlotWriter) -> Notified | None:
        """``TemplateSend`` of one event, up to Meta's answer; None: answered, to record."""
        message, conversation = start.message, start.conversation
        assert message is not None
        assert conversation is not None
        assert start.content is not None
        await self._limiter.acquire(start.sender.phone_number_id)
        message.leaves(self._clock.now())
        if not await slots.take(message):
            # Another worker has taken this send since we wrote it: look again later.
            return in_flight(conversation, message, self._options.in_flight_grace_seconds)
        start.error = await ask_meta(
            self._gateway, message, start.sender, start.content, self._clock.now()
        )
        return None

    async def _outcomes(self, finished: list[_Start]) -> dict[int, Handled]:
        """Meta's answers and the outcomes, one transaction; when it fails, each on its own
        (as one event records it), so one bad row costs no other event its record."""
        try:
            async with self._uow as uow:
                written = [await self._write_outcome(uow, start) for start in finished]
                await uow.commit()
        except Exception as exc:
            _log.warning("batch outcomes not written, one by one now", error=str(exc)[:200])
            return {start.index: await _isolated(self._outcome(start)) for start in finished}
        try:
            await self._recorder.announce([d for d in written if isinstance(d, Finished)])
        except Exception as exc:  # as one event: recorded, but delivered again to tell it
            return {start.index: exc for start in finished}
        return {
            start.index: done.notified if isinstance(done, Finished) else done
            for start, done in zip(finished, written, strict=True)
        }

    async def _write_outcome(self, uow: UnitOfWork, start: _Start) -> Finished | Notified:
        assert start.message is not None
        assert start.conversation is not None
        if isinstance(start.error, RetryableSendError):
            await uow.messages.advance(start.message)
            return refused_for_now(start.fdr, start.conversation, start.error, self._options)
        return await self._recorder.write_finish(
            uow, start.fdr, start.conversation, start.message, start.error
        )

    async def _outcome(self, start: _Start) -> Notified:
        """One send's outcome in a transaction of its own (``TemplateSend``'s tail)."""
        assert start.message is not None
        assert start.conversation is not None
        if isinstance(start.error, RetryableSendError):
            async with self._uow as uow:
                await uow.messages.advance(start.message)
                await uow.commit()
            return refused_for_now(start.fdr, start.conversation, start.error, self._options)
        return await self._recorder.finish(
            start.fdr, start.conversation, start.message, start.error
        )


async def _isolated(step: Awaitable[Notified]) -> Handled:
    """One event's step; its error is that event's (to be delivered again), not the batch's."""
    try:
        return await step
    except Exception as exc:
        return exc
