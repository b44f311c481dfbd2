"""Publishing activity events to the workspace timeline topic, as JSON."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, tzinfo

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


class _Error(msgspec.Struct):
    code: int | None
    title: str | None


class _Event(msgspec.Struct):
    """An event's JSON: these keys in this order (a Struct is written as a dict would be,
    cheaper to build than one)."""

    account_id: int | None
    shipment_id: int | None
    reason: str | None
    kind: str  # StrEnums: msgspec writes their value (``.value`` costs a property lookup)
    outcome: str
    message_id: str | None
    conversation_id: int | None
    detail: str | None
    error: _Error | None
    automatic: bool
    occurred_at: str  # ISO 8601 with its offset, as ``datetime.isoformat`` writes it


def publish_request(events: Sequence[ActivityEvent]) -> bytes:
    """The body of one publish request of ``events`` (at most ``MAX_BATCH``): each event's
    JSON as the data, its kind, outcome and account as attributes (filters read them)."""
    # A status pass's events share a handful of instants and attribute sets: each made once.
    # An instant by its zone too: the same instant in another zone is written with its offset;
    # and by its ``fold``: a repeated local hour's two instants are equal in their zone.
    times: dict[tuple[datetime, tzinfo | None, int], str] = {}
    attributes: dict[tuple[str, str, int | None], dict[str, str]] = {}
    messages = []
    for event in events:
        at = event.occurred_at
        iso = times.get((at, at.tzinfo, at.fold))
        if iso is None:
            iso = times[at, at.tzinfo, at.fold] = at.isoformat()
        key = (event.kind, event.outcome, event.account_id)
        named = attributes.get(key)
        if named is None:
            named = attributes[key] = {
                "kind": event.kind,
                "outcome": event.outcome,
                "account_id": str(event.account_id or ""),
            }
        messages.append(_Message(_encoder.encode(_event(event, iso)), named))
    return _encoder.encode(_Publish(messages))


def encode_activity(event: ActivityEvent) -> bytes:
    """The event as the notification service reads it: flat JSON, times in ISO 8601 UTC."""
    return _encoder.encode(_event(event, event.occurred_at.isoformat()))


def _event(event: ActivityEvent, occurred_at: str) -> _Event:
    return _Event(
        event.account_id,
        event.shipment_id,
        event.reason,
        event.kind,
        event.outcome,
        event.message_id,
        event.conversation_id,
        event.detail,
        None
        if event.error_code is None and event.error_title is None
        else _Error(event.error_code, event.error_title),
        event.automatic,
        occurred_at,
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
