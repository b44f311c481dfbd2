"""Ports whose failures must never stop a flow, wrapped once (docs/adr/0007)."""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from application.ports.collaborators import ActivityPublisher
from domain.activity import ActivityEvent
from domain.errors import UpstreamUnavailable
from infrastructure.logging import FailureLog

_log = structlog.get_logger("activity")


class NeverFailingActivityPublisher:
    """Any ``ActivityPublisher`` whose failures are logged, never raised.

    The activity topic feeds the workspace's timeline; a shopper must still get their message,
    their answer or their tracking page when it is down. One line per failure kind every 30 s
    (``FailureLog``), so an outage does not bury the log.
    """

    def __init__(self, inner: ActivityPublisher, failures: FailureLog | None = None) -> None:
        self._inner = inner
        self._failures = failures or FailureLog(_log, expected=(UpstreamUnavailable,))

    async def publish(self, event: ActivityEvent) -> None:
        try:
            await self._inner.publish(event)
        except Exception as exc:
            self._failures.failed("activity not published", exc, outcome=event.outcome.value)

    async def publish_many(self, events: Sequence[ActivityEvent]) -> None:
        try:
            await self._inner.publish_many(events)
        except Exception as exc:
            self._failures.failed("activity not published", exc, count=len(events))
