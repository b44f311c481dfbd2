"""Publishing activity events to the workspace timeline topic, as JSON."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import aiohttp
import msgspec

from domain.activity import ActivityEvent
from domain.errors import UpstreamUnavailable
from infrastructure.pubsub.client import EncodedPublisherClient

_encoder = msgspec.json.Encoder()
MAX_BATCH = 1000


class _Message(msgspec.Struct):
    """A message of a Pub/Sub publish request: msgspec writes ``bytes`` as base64."""

    data: bytes
    attributes: dict[str, str]


class _Publish(msgspec.Struct):
    messages: list[_Message]


def publish_request(events: Sequence[ActivityEvent]) -> bytes:
    """The body of one publish request of ``events`` (at most ``MAX_BATCH``): each event's
    JSON as the data, its kind, outcome and account as attributes (filters read them)."""
    return _encoder.encode(
        _Publish(
            [
                _Message(
                    encode_activity(event),
                    {
                        "kind": event.kind,
                        "outcome": event.outcome,
                        "account_id": str(event.account_id or ""),
                    },
                )
                for event in events
            ]
        )
    )


def encode_activity(event: ActivityEvent) -> bytes:
    """The event as the notification service reads it: flat JSON, times in ISO 8601 UTC."""
    return _encoder.encode(
        {
            "account_id": event.account_id,
            "shipment_id": event.shipment_id,
            "reason": event.reason,
            # StrEnums: msgspec writes their value (``.value`` costs a property lookup each).
            "kind": event.kind,
            "outcome": event.outcome,
            "message_id": event.message_id,
            "conversation_id": event.conversation_id,
            "detail": event.detail,
            "error": (
                None
                if event.error_code is None and event.error_title is None
                else {"code": event.error_code, "title": event.error_title}
            ),
            "automatic": event.automatic,
            "occurred_at": event.occurred_at.isoformat(),
        }
    )


class PubSubActivityPublisher:
    """One event goes at once; events published while a request is in flight go together in
    the next one (docs/adr/0007-best-effort-activity.md): under load, the answers handled side by
    side share requests. Each caller waits for the request that carries its event and hears
    its error, as if it had sent it alone."""

    def __init__(self, client: EncodedPublisherClient, topic_path: str) -> None:
        self._client = client
        self._topic = topic_path
        self._waiting: list[tuple[ActivityEvent, asyncio.Future[None]]] = []
        self._sending: asyncio.Task[None] | None = None

    async def publish(self, event: ActivityEvent) -> None:
        done = asyncio.get_running_loop().create_future()
        self._waiting.append((event, done))
        if self._sending is None or self._sending.done():
            self._sending = asyncio.create_task(self._send_waiting())
        await done

    async def _send_waiting(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
            error: BaseException | None = None
            try:
                await self.publish_many([event for event, _ in batch])
            except Exception as exc:
                error = exc
            for _, done in batch:
                if done.done():  # its caller was cancelled
                    continue
                if error is None:
                    done.set_result(None)
                else:
                    done.set_exception(error)

    async def publish_many(self, events: Sequence[ActivityEvent]) -> None:
        try:
            # Pub/Sub takes at most 1000 messages per publish request.
            for start in range(0, len(events), MAX_BATCH):
                body = publish_request(events[start : start + MAX_BATCH])
                await self._client.publish_encoded(self._topic, body)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise UpstreamUnavailable(f"Pub/Sub publish failed: {exc}") from exc
