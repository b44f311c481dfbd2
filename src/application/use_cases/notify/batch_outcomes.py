"""A batch's outcomes (``notify.batch``, step 4): one transaction for all sends, one publish.

Meta's answers and the outcomes are written together; when that transaction fails, each send's
outcome is written on its own, as one event records it, so one bad row costs no other event its
record. A send refused for now (``RetryableSendError``) is that event's to deliver again. When
the publish fails, the outcomes stay recorded and the events are delivered again to tell them.
"""

from __future__ import annotations

import structlog

from application.isolation import isolated
from application.ports.clock import Clock
from application.ports.repositories import UnitOfWork
from application.services import NotificationOptions
from application.use_cases.notify.batch_event import Handled, Start
from application.use_cases.notify.batch_finish import write_finishes
from application.use_cases.notify.finished import Finished
from application.use_cases.notify.recording import OutcomeRecorder
from application.use_cases.notify.results import Notified
from application.use_cases.notify.template_send import refused_for_now
from domain.errors import RetryableSendError

_log = structlog.get_logger("fdr")


class OutcomePhase:
    """Records what Meta answered to the batch's sends."""

    def __init__(
        self,
        uow: UnitOfWork,
        recorder: OutcomeRecorder,
        options: NotificationOptions,
        clock: Clock,
    ) -> None:
        self._uow = uow
        self._recorder = recorder
        self._options = options
        self._clock = clock

    async def outcomes(self, finished: list[Start]) -> dict[int, Handled]:
        """Meta's answers and the outcomes, one transaction; when it fails, each on its own
        (as one event records it), so one bad row costs no other event its record."""
        try:
            async with self._uow as uow:
                written = await self._write_outcomes(uow, finished)
                await uow.commit()
        except Exception as exc:
            _log.warning("batch outcomes not written, one by one now", error=str(exc)[:200])
            return {start.index: await isolated(self._outcome(start)) for start in finished}
        try:
            await self._recorder.announce([d for d in written if isinstance(d, Finished)])
        except Exception as exc:  # as one event: recorded, but delivered again to tell it
            return {start.index: exc for start in finished}
        return {
            start.index: done.notified if isinstance(done, Finished) else done
            for start, done in zip(finished, written, strict=True)
        }

    async def _write_outcomes(
        self, uow: UnitOfWork, finished: list[Start]
    ) -> list[Finished | Notified]:
        """Each send's outcome, in their order: a refusal for now stored on its own (rare),
        the others together (``write_finishes``)."""
        answered = [s for s in finished if not isinstance(s.error, RetryableSendError)]
        together = iter(await write_finishes(uow, answered, self._clock.now()))
        written: list[Finished | Notified] = []
        for start in finished:
            if isinstance(start.error, RetryableSendError):
                assert start.message is not None
                assert start.conversation is not None
                await uow.messages.advance(start.message)
                written.append(
                    refused_for_now(start.fdr, start.conversation, start.error, self._options)
                )
            else:
                written.append(next(together))
        return written

    async def _outcome(self, start: Start) -> Notified:
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
