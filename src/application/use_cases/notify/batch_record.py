"""A batch's records (``notify.batch``, step 2): before anything is sent, in one transaction.

The conversations and queued messages of every send are written together, as
``NotifyFailedDelivery`` writes one event's (the record-before-send rule). A transaction that
fails writes and sends nothing of it: each of its events goes the one-event way. An attempt
another worker took a moment ago goes the one-event way too; a template that does not fit its
event fails the conversation and is that event's skip.
"""

from __future__ import annotations

import structlog

from application.ports.clock import Clock, IdGenerator
from application.ports.repositories import UnitOfWork
from application.services import NotificationOptions
from application.use_cases.notify.batch_event import Handled, Start, isolated
from application.use_cases.notify.planning import render
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

    async def _add(self, uow: UnitOfWork, start: Start) -> None:
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
