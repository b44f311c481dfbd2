"""Ports whose failures must never stop a flow, wrapped (docs/adr/0007-best-effort-activity.md)."""

from __future__ import annotations

from dishka import Provider, decorate

from application.ports.collaborators import ActivityPublisher
from infrastructure.best_effort import NeverFailingActivityPublisher


class BestEffortProvider(Provider):
    """Wraps, after every override, the ports whose failures must never stop a flow."""

    @decorate
    def activity(self, inner: ActivityPublisher) -> ActivityPublisher:
        return NeverFailingActivityPublisher(inner)
