"""Quiet hours on the failed-delivery path: an event that comes in during the workspace's
quiet hours is not sent then; it is kept as a ``held_send`` scheduled job due when they end,
recorded as ``held``, and acknowledged (docs/quiet-hours.md).

The job's key is the event's key: a redelivered event finds the ``held`` record (or the
job) and is held once. When the job is due, ``ReleaseHeldSend`` runs the event through
``NotifyFailedDelivery`` again with the hold lifted: the usual rules (stale, superseded,
disabled, budget) and the usual send path (record before send, the message's own
``client_ref``) apply then.
"""

from __future__ import annotations

from datetime import UTC
from zoneinfo import ZoneInfo

from application.ports.clock import Clock
from application.ports.collaborators import ActivityPublisher
from application.ports.held_events import FailedDeliveryCodec
from application.ports.repositories import UnitOfWork
from application.services import NotificationOptions
from domain.activity import ActivityEvent, Outcome
from domain.failed_delivery import FailedDelivery
from domain.quiet_hours import QuietHours, format_clock, next_allowed
from domain.reasons import FdrReason
from domain.records import FdrEventRecord
from domain.scheduling import HELD_SEND, ScheduledJob
from domain.settings import ChannelSetting


def held_detail(window: QuietHours, until_local: str, until_utc: str) -> str:
    """``held until 09:00 Asia/Kolkata (2026-11-21T03:30:00Z): quiet hours 21:00-09:00``."""
    return f"held until {until_local} {window.zone} ({until_utc}): quiet hours {window.describe()}"


class HeldSends:
    """Decides whether a failed delivery waits for the end of quiet hours, and holds it."""

    def __init__(
        self,
        uow: UnitOfWork,
        clock: Clock,
        activity: ActivityPublisher,
        options: NotificationOptions,
        codec: FailedDeliveryCodec,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._activity = activity
        self._options = options
        self._codec = codec

    def window(self, setting: ChannelSetting) -> QuietHours:
        return setting.quiet_hours or self._options.quiet_hours

    async def hold(
        self, fdr: FailedDelivery, setting: ChannelSetting, reason: FdrReason, key: str
    ) -> str:
        """Holds ``fdr`` when now is in the workspace's quiet hours: what was recorded
        (``held until ...``); "" when it may be sent now."""
        now = self._clock.now()
        window = self.window(setting)
        due = next_allowed(now, window)
        if due == now:
            return ""
        local = due.astimezone(ZoneInfo(window.zone))
        detail = held_detail(
            window,
            format_clock(local.time()),
            due.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        async with self._uow as uow:
            await uow.jobs.schedule(
                ScheduledJob(
                    kind=HELD_SEND,
                    key=key,
                    account_id=fdr.account_id,
                    due_at=due,
                    payload={"event": self._codec.dump(fdr)},
                    created_at=now,
                )
            )
            record = FdrEventRecord(
                event_key=key,
                account_id=fdr.account_id,
                shipment_id=fdr.shipment_id,
                status_log_id=fdr.status_log_id,
                reason=reason.value,
                outcome=Outcome.HELD,
                detail=detail,
                received_at=now,
            )
            if await uow.fdr_events.add(record) is None:
                await uow.fdr_events.update(record)
            await uow.commit()
        await self._activity.publish(
            ActivityEvent(
                account_id=fdr.account_id,
                shipment_id=fdr.shipment_id,
                reason=reason.value,
                outcome=Outcome.HELD,
                detail=detail,
                occurred_at=now,
            ),
        )
        return detail
