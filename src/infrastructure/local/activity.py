"""Activity publishers without Pub/Sub: one that keeps events (tests), one that logs them."""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from domain.activity import ActivityEvent


class RecordingActivityPublisher:
    def __init__(self) -> None:
        self.events: list[ActivityEvent] = []

    async def publish(self, event: ActivityEvent) -> None:
        self.events.append(event)

    async def publish_many(self, events: Sequence[ActivityEvent]) -> None:
        self.events.extend(events)


class LoggingActivityPublisher:
    """Used when ``WA_PUBSUB_ACTIVITY_TOPIC`` is unset: the timeline is the log."""

    def __init__(self) -> None:
        self._log = structlog.get_logger("activity")

    async def publish(self, event: ActivityEvent) -> None:
        self._log.info(
            "activity",
            outcome=event.outcome.value,
            account_id=event.account_id,
            shipment_id=event.shipment_id,
            reason=event.reason,
            message_id=event.message_id,
            error_code=event.error_code,
        )

    async def publish_many(self, events: Sequence[ActivityEvent]) -> None:
        for event in events:
            await self.publish(event)
