"""An in-process event source with Pub/Sub's contract: unacked events come back."""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import Mapping

from application.ports.collaborators import ReceivedEvent


class InMemoryEventSource:
    def __init__(self) -> None:
        self._ready: deque[tuple[str, bytes, dict[str, str], int]] = deque()
        self._leased: dict[str, tuple[str, bytes, dict[str, str], int]] = {}
        self._ids = itertools.count(1)
        self._arrived = asyncio.Event()
        self.acked: list[str] = []  # message ids, in ack order

    def publish(self, data: bytes, attributes: Mapping[str, str] | None = None) -> str:
        message_id = str(next(self._ids))
        self._ready.append((message_id, data, dict(attributes or {}), 1))
        self._arrived.set()
        return message_id

    async def receive(self, max_messages: int) -> list[ReceivedEvent]:
        if not self._ready:
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), timeout=0.2)
            except TimeoutError:
                return []
        batch: list[ReceivedEvent] = []
        while self._ready and len(batch) < max_messages:
            message_id, data, attributes, attempt = self._ready.popleft()
            ack_id = f"{message_id}#{attempt}"
            self._leased[ack_id] = (message_id, data, attributes, attempt)
            batch.append(
                ReceivedEvent(
                    ack_id=ack_id,
                    message_id=message_id,
                    data=data,
                    attributes=attributes,
                    delivery_attempt=attempt,
                )
            )
        return batch

    async def ack(self, ack_ids: list[str]) -> None:
        for ack_id in ack_ids:
            leased = self._leased.pop(ack_id, None)
            if leased is not None:
                self.acked.append(leased[0])

    async def nack(self, ack_ids: list[str], delay_seconds: int = 0) -> None:
        for ack_id in ack_ids:
            leased = self._leased.pop(ack_id, None)
            if leased is not None:
                message_id, data, attributes, attempt = leased
                self._ready.append((message_id, data, attributes, attempt + 1))
                self._arrived.set()

    @property
    def outstanding(self) -> int:
        return len(self._ready) + len(self._leased)
