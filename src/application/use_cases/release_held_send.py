"""The scheduler's handler for sends held through quiet hours (docs/quiet-hours.md).

Rules: the held event goes through ``NotifyFailedDelivery`` again with the hold lifted (every
rule of a fresh event applies then); a send that could not finish now fails the job, which the
scheduler tries again after its backoff.
"""

from __future__ import annotations

from application.ports.held_events import FailedDeliveryCodec
from application.use_cases.notify_failed_delivery import Disposition, NotifyFailedDelivery
from domain.scheduling import HELD_SEND, ScheduledJob


class HeldSendNotDone(Exception):
    """The send could not finish now (Meta busy, another worker mid-send): the scheduler
    tries the job again after its backoff."""


class ReleaseHeldSend:
    """Sends a held failed delivery when quiet hours end, through the normal send path: the
    event's conversation and message are recorded before the send, under the same keys as
    any other event, so a worker killed mid-way and the job run again send it once."""

    kind = HELD_SEND

    def __init__(self, notify: NotifyFailedDelivery, codec: FailedDeliveryCodec) -> None:
        self._notify = notify
        self._codec = codec

    async def __call__(self, job: ScheduledJob) -> None:
        fdr = self._codec.load(job.payload["event"])
        result = await self._notify(fdr, released=True)
        if result.disposition is Disposition.RETRY:
            raise HeldSendNotDone(result.detail or "the send is not finished yet")
