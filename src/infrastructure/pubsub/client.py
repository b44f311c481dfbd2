"""Building gcloud-aio clients that talk to Pub/Sub, or to its emulator when one is configured."""

from __future__ import annotations

import json
from dataclasses import dataclass

import msgspec
from gcloud.aio.pubsub import PublisherClient, SubscriberClient, SubscriberMessage

from application.ports.collaborators import ReceivedEvent


class _Message(msgspec.Struct):
    data: bytes = b""  # base64 in the JSON: msgspec decodes it
    messageId: str | None = None
    attributes: dict[str, str] | None = None


class _Received(msgspec.Struct):
    ackId: str
    message: _Message
    deliveryAttempt: int | None = None


class _Pulled(msgspec.Struct):
    receivedMessages: list[_Received] = msgspec.field(default_factory=list)


_pulled = msgspec.json.Decoder(_Pulled)


class PollingSubscriberClient(SubscriberClient):
    """gcloud-aio's subscriber, with a pull that answers at once (``returnImmediately``).

    A long-poll pull the client gives up on stays open at Pub/Sub (the emulator holds it about
    90 s) and takes the next message there: nobody reads the answer, so the message comes back
    only after its ack deadline, tens of seconds late after any idle time. A pull that returns
    at once never outlives its caller (docs/outages.md).
    """

    async def pull_now(
        self, subscription: str, max_messages: int, *, request_seconds: float = 10.0
    ) -> list[SubscriberMessage]:
        data = json.loads(await self._pull(subscription, max_messages, request_seconds))
        return [SubscriberMessage.from_repr(m) for m in data.get("receivedMessages", [])]

    async def pull_events(
        self, subscription: str, max_messages: int, *, request_seconds: float = 10.0
    ) -> list[ReceivedEvent]:
        """``pull_now``, the answer decoded straight into the events the worker handles (one
        msgspec call, the data's base64 with it: no JSON tree, no ``SubscriberMessage``, no
        publish time parsed); a message without an id goes by its ack id."""
        body = await self._pull(subscription, max_messages, request_seconds)
        pulled = _pulled.decode(body)
        return [
            ReceivedEvent(
                ack_id=m.ackId,
                message_id=m.message.messageId or m.ackId,
                data=m.message.data,
                attributes=m.message.attributes or {},
                delivery_attempt=m.deliveryAttempt or 1,
            )
            for m in pulled.receivedMessages
        ]

    async def _pull(self, subscription: str, max_messages: int, request_seconds: float) -> bytes:
        """The pull's answer as it came."""
        # gcloud-aio's own pull() cannot send returnImmediately; the request is the same.
        payload = {"maxMessages": max_messages, "returnImmediately": True}
        response = await self.session.post(
            f"{self._api_root}/{subscription}:pull",
            data=json.dumps(payload).encode(),
            headers=await self._headers(),
            timeout=request_seconds,
        )
        return await response.read()


class EncodedPublisherClient(PublisherClient):
    """gcloud-aio's publisher, with a publish request whose body the caller has encoded.

    gcloud-aio builds a ``PubsubMessage`` per message, base64s its data in Python and
    ``json.dumps`` the request: about 4 µs of CPU per message, for a pass of 1000 statuses
    about as much as storing them. ``infrastructure.pubsub.activity`` encodes the request in
    one msgspec call instead (BENCHMARKS.md, "Stop 14: statuses").
    """

    async def publish_encoded(self, topic: str, body: bytes) -> None:
        """Sends a publish request (``{"messages": [...]}``, the data base64) as it is; an
        error answer raises as gcloud-aio's ``publish`` does (with its 10 s timeout)."""
        headers = await self._headers()
        headers["Content-Length"] = str(len(body))
        response = await self.session.post(
            f"{self._api_root}/{topic}:publish", data=body, headers=headers, timeout=10
        )
        await response.read()


@dataclass(frozen=True, slots=True)
class PubSubTarget:
    project: str
    emulator_host: str | None = None

    @property
    def api_root(self) -> str | None:
        return f"http://{self.emulator_host}/v1" if self.emulator_host else None

    def topic_path(self, topic: str) -> str:
        return topic if topic.startswith("projects/") else f"projects/{self.project}/topics/{topic}"

    def subscription_path(self, subscription: str) -> str:
        if subscription.startswith("projects/"):
            return subscription
        return f"projects/{self.project}/subscriptions/{subscription}"

    def publisher(self) -> EncodedPublisherClient:
        if self.emulator_host:
            return EncodedPublisherClient(api_root=self.api_root, api_is_dev=True)
        return EncodedPublisherClient()

    def subscriber(self) -> PollingSubscriberClient:
        if self.emulator_host:
            return PollingSubscriberClient(api_root=self.api_root, api_is_dev=True)
        return PollingSubscriberClient()
