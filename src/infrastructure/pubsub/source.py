"""Pulling shipment events from a Pub/Sub subscription."""

from __future__ import annotations

import asyncio

import aiohttp
import msgspec

from application.ports.collaborators import ReceivedEvent
from domain.errors import UpstreamUnavailable
from infrastructure.pubsub.client import PollingSubscriberClient

#: Pub/Sub's longest ack deadline; a nack with a delay keeps the message this long at most.
MAX_ACK_DEADLINE = 600


class PubSubEventSource:
    """Polls: a pull answers at once, and an empty one is followed by ``idle_wait`` seconds
    of rest, so a new event is picked up within about that long after any idle time."""

    def __init__(
        self,
        client: PollingSubscriberClient,
        subscription_path: str,
        pull_timeout: float = 10.0,
        idle_wait: float = 0.5,
    ) -> None:
        self._client = client
        self._subscription = subscription_path
        self._pull_timeout = pull_timeout  # of the request: Pub/Sub answers a pull at once
        self._idle_wait = idle_wait

    async def receive(self, max_messages: int) -> list[ReceivedEvent]:
        try:
            events = await self._client.pull_events(
                self._subscription, max_messages, request_seconds=self._pull_timeout
            )
        except (aiohttp.ClientError, TimeoutError, msgspec.DecodeError) as exc:
            raise UpstreamUnavailable(f"Pub/Sub pull failed: {exc}") from exc
        if not events:
            await asyncio.sleep(self._idle_wait)
        return events

    async def ack(self, ack_ids: list[str]) -> None:
        if ack_ids:
            await self._call(self._client.acknowledge(self._subscription, ack_ids))

    async def nack(self, ack_ids: list[str], delay_seconds: int = 0) -> None:
        if ack_ids:
            deadline = max(0, min(delay_seconds, MAX_ACK_DEADLINE))
            await self._call(
                self._client.modify_ack_deadline(self._subscription, ack_ids, deadline)
            )

    async def _call(self, call: object) -> None:
        assert asyncio.iscoroutine(call)
        try:
            await call
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise UpstreamUnavailable(f"Pub/Sub call failed: {exc}") from exc
