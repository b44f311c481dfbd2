"""A batch's records (``notify.batch``, step 2): before anything is sent, in one transaction.

The conversations and messages of every send are written together (one multi-row insert
each), as ``NotifyFailedDelivery`` writes one event's (the record-before-send rule): queued,
or in flight when the send's slot has come already (booked before: ``SendPhase.book``). A
transaction that fails writes and sends nothing of it: each of its events goes the one-event
way. An attempt another worker took a moment ago (its conversation refused by the unique key,
that row alone) goes the one-event way too; a template that does not fit its event fails the
conversation and is that event's skip. The monthly cap of a workspace that has one is checked
again first, in the same transaction (``recheck_caps``): a send beyond it is written nothing
and is that event's budget skip, as the plan's would have been (docs/cost.md).
"""

from __future__ import annotations

import structlog

from application.isolation import isolated
from application.ports.clock import Clock, IdGenerator
from application.ports.repositories import UnitOfWork
from application.services import NotificationOptions
from application.use_cases.notify.batch_event import Handled, Start
from application.use_cases.notify.planning import recheck_caps, render
from application.use_cases.notify.recording import OutcomeRecorder
from application.use_cases.notify.rows import new_conversation, new_template_message
from domain.activity import SkipReason
from domain.errors import TemplateMismatch

_log = structlog.get_logger("fdr")


class RecordPhase:
    """Writes the records of the batch's sends before the send."""

    def __init__(
        self,
        uow: UnitOfWork,
        recorder: OutcomeRecorder,
        clock: Clock,
        refs: IdGenerator,
        options: NotificationOptions,
    ) -> None:
        self._uow = uow
        self._recorder = recorder
        self._clock = clock
        self._refs = refs
        self._options = options

    async def record(
        self, starts: list[Start], results: dict[int, Handled], later: list[int]
    ) -> bool:
        """The records before the send, all in one transaction; False when it failed (then
        nothing of it was written)."""
        try:
            async with self._uow as uow:
                await self._add(uow, starts)
                await uow.commit()
        except Exception as exc:
            _log.warning("batch records not written, one by one now", error=str(exc)[:200])
            return False
        for start in starts:
            if start.over_cap is not None:  # the cap was reached meanwhile: nothing written
                skip = start.over_cap
                results[start.index] = await isolated(
                    self._recorder.skip(start.fdr, skip.reason, skip.why, skip.detail)
                )
            elif start.conversation is None:  # another worker took this attempt a moment ago
                later.append(start.index)
            elif start.message is None:  # the template did not fit the event
                results[start.index] = await isolated(
                    self._recorder.skip(
                        start.fdr,
                        start.plan.reason,
                        SkipReason.TEMPLATE_MISMATCH,
                        start.mismatch,
                        start.conversation.id,
                    )
                )
        return True

    async def _add(self, uow: UnitOfWork, starts: list[Start]) -> None:
        """The events' records, as ``NotifyFailedDelivery`` writes one event's: the cap
        checked again (a send beyond it is left out), the conversations in one multi-row
        insert, then the messages in another (an attempt whose conversation exists is left
        out of the second, to go the one-event way)."""
        now = self._clock.now()
        skips = await recheck_caps(uow, [start.plan for start in starts], now)
        for start, skip in zip(starts, skips, strict=True):
            start.over_cap = skip
        starts = [start for start in starts if start.over_cap is None]
        conversations = await uow.conversations.add_many(
            [
                new_conversation(start.fdr, start.plan, start.sender, self._refs.new_ref(), now)
                for start in starts
            ]
        )
        to_send: list[Start] = []
        for start, conversation in zip(starts, conversations, strict=True):
            if conversation is None:
                continue
            start.conversation = conversation
            try:
                start.content = render(start.fdr, start.plan.template, conversation, self._options)
            except TemplateMismatch as exc:
                start.mismatch = str(exc)
                conversation.template_failed()
                await uow.conversations.update(conversation)
                continue
            to_send.append(start)
        messages = [
            new_template_message(
                start.conversation,
                start.plan,
                start.sender,
                start.content,
                self._refs.new_ref(),
                now,
            )
            for start in to_send
            if start.conversation is not None and start.content is not None
        ]
        for start, message in zip(to_send, messages, strict=True):
            if start.come:  # its slot has come: written in flight, sent once this commits
                message.leaves(now)
        messages = await uow.messages.add_many(messages)
        for start, message in zip(to_send, messages, strict=True):
            start.message = message
