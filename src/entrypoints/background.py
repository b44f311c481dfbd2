"""The webhook pump: processes stored webhook bodies soon after they arrive, and sweeps.

Each POST stores its body and kicks the pump; the pump works in batches (one transaction for
all statuses in a batch). A sweep every few seconds picks up what is left: bodies of a
crashed process, or answers waiting for Meta or the ESB to come back.

The pump runs in ``serve`` (``WA_WEBHOOK_PUMP=inline``) or in a process of its own
(``fdr-whatsapp pump``, ``run_pump``), which hears no kicks and looks for new bodies every
``WA_WEBHOOK_POLL_SECONDS`` instead (docs/webhooks.md, "The pump in a process of its own").
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import timedelta

import structlog
from dishka import AsyncContainer

from application.use_cases.measure_webhook_backlog import MeasureWebhookBacklog
from application.use_cases.process_webhooks import ProcessWebhooks
from domain.errors import UpstreamUnavailable
from infrastructure.logging import FailureLog
from infrastructure.metrics import (
    WEBHOOK_BACKLOG,
    WEBHOOK_BACKLOG_AGE,
    WEBHOOK_PROBLEMS,
    WEBHOOK_UPDATES,
)

_log = structlog.get_logger("pump")


class WebhookPump:
    def __init__(
        self,
        container: AsyncContainer,
        *,
        batch_size: int = 500,
        sweep_seconds: float = 5.0,
        stale_after: timedelta = timedelta(seconds=10),
        poll_seconds: float | None = None,
    ) -> None:
        """``poll_seconds``: a pump in a process of its own takes every body not claimed by
        another pump that often (no POST kicks it); ``None``: kicked by this process's POSTs,
        it takes fresh bodies when kicked and only those left behind on a sweep."""
        self._container = container
        self._poll = poll_seconds
        self._stopping = False
        self._batch = batch_size
        self._sweep = sweep_seconds
        self._failures = FailureLog(_log, expected=(UpstreamUnavailable,))
        self._stale_after = stale_after
        self._kicked = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.idle = asyncio.Event()  # set whenever a pass found nothing more to do
        self._measured_at = 0.0

    def kick(self) -> None:
        self._kicked.set()

    def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="webhook-pump")

    async def stop(self, grace: float = 0.0) -> None:
        """Stops after the pass in progress when it ends within ``grace`` seconds; cancels it
        otherwise (its bodies are taken again once their claim has passed)."""
        if self._task is None:
            return
        self._stopping = True
        self._kicked.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._task), grace)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def drain(self) -> None:
        """Processes everything pending now (tests, shutdown)."""
        while await self._pass(None, retry_early=True):
            pass

    async def _run(self) -> None:
        while not self._stopping:
            kicked = False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._kicked.wait(), self._poll or self._sweep)
                kicked = True
            self._kicked.clear()
            if self._stopping:
                return
            self.idle.clear()
            try:
                # A kick means fresh bodies of ours; a sweep takes only those left behind.
                # A pump of its own process takes whatever no other pump has claimed.
                min_age = None if kicked or self._poll else self._stale_after
                while await self._pass(min_age) and not self._stopping:
                    pass
            except Exception as exc:
                self._failures.failed("webhook pass failed; the next sweep retries", exc)
            await self._measure()
            self.idle.set()

    async def _measure(self) -> None:
        """The backlog gauges, at most once per sweep interval (kicks come with every POST)."""
        now = time.monotonic()
        if now - self._measured_at < self._sweep:
            return
        self._measured_at = now
        try:
            async with self._container() as request:
                backlog = await (await request.get(MeasureWebhookBacklog))()
        except Exception as exc:
            self._failures.failed("webhook backlog not measured", exc)
            return
        WEBHOOK_BACKLOG.set(backlog.pending)
        WEBHOOK_BACKLOG_AGE.set(backlog.oldest_seconds)

    async def _pass(self, min_age: timedelta | None, *, retry_early: bool = False) -> bool:
        """One pass; whether another one now could find more."""
        async with self._container() as request:
            process = await request.get(ProcessWebhooks)
            batch = await process(limit=self._batch, min_age=min_age, retry_early=retry_early)
        for kind, count in (
            ("status", batch.statuses),
            ("reply", batch.replies),
            ("refused_answer", batch.refused),
            ("unmatched_message", batch.unmatched),
            ("template_change", batch.template_changes),
            ("malformed_body", batch.malformed),
            ("waiting_body", len(batch.waiting)),
        ):
            if count:
                WEBHOOK_UPDATES.labels(kind).inc(count)
        for kind, count in batch.problems.items():
            WEBHOOK_PROBLEMS.labels(kind).inc(count)
        if batch.taken:
            _log.debug(
                "webhooks processed",
                taken=batch.taken,
                statuses=batch.statuses,
                replies=batch.replies,
                template_changes=batch.template_changes,
                waiting=len(batch.waiting),
            )
        return batch.more_may_wait
