"""The sweep of statuses stored ahead of their message: linked once their wamid is stored.

A status naming only the wamid that reaches the status pass before the worker has stored
Meta's answer is stored unlinked; the worker's look after its write, or the pass's look after
its commit, links it. That second look is best effort: when it fails, this sweep (run by each
worker's scheduler loop, docs/scheduler.md) links the statuses a little later, applied as the
pass applies them (``application.statuses.sweep_unlinked``; docs/sending.md, "Statuses ahead
of Meta's answer").

Rules: only statuses stored in the window (``WINDOW``, up to ``GRACE`` ago: the younger ones
are the worker's and the pass's to link) are read, at most ``BATCH`` a sweep; their messages
are claimed with ``FOR UPDATE SKIP LOCKED``, so two workers' sweeps never take the same one,
and a status is applied only by whoever links it.
"""

from __future__ import annotations

from datetime import timedelta

import structlog

from application.ports.clock import Clock
from application.ports.collaborators import ActivityPublisher
from application.ports.repositories import UnitOfWork
from application.statuses import Swept, sweep_unlinked

_log = structlog.get_logger("statuses")

#: How far back the sweep looks: a status stored earlier stays unlinked (docs/sending.md).
WINDOW = timedelta(hours=6)
#: Statuses younger than this are left to the worker's and the pass's own looks.
GRACE = timedelta(seconds=30)
#: Statuses read by one sweep at most; a full batch is swept again at the next pass.
BATCH = 500


class LinkEarlyStatuses:
    def __init__(self, uow: UnitOfWork, activity: ActivityPublisher, clock: Clock) -> None:
        self._uow = uow
        self._activity = activity
        self._clock = clock

    async def __call__(self, batch: int = BATCH) -> Swept:
        """One sweep; what it linked (logged when anything)."""
        now = self._clock.now()
        swept = await sweep_unlinked(
            self._uow, self._activity, now - WINDOW, now - GRACE, batch, now
        )
        if swept.statuses:
            _log.info(
                "statuses stored ahead of their message linked by the sweep",
                statuses=swept.statuses,
                messages=list(swept.messages),
            )
        return swept
