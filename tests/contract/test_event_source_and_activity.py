"""The event source and activity publisher contracts, in memory and on the Pub/Sub emulator."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest
import pytest_asyncio
from gcloud.aio.pubsub import PublisherClient, PubsubMessage

from application.ports.collaborators import EventSource, ReceivedEvent
from domain.activity import ActivityEvent, Outcome
from domain.errors import UpstreamUnavailable
from infrastructure.local.events import InMemoryEventSource
from infrastructure.pubsub.activity import PubSubActivityPublisher
from infrastructure.pubsub.client import PubSubTarget
from infrastructure.pubsub.source import PubSubEventSource
from tests.support.factories import T0
from tests.support.services import unique_name


@dataclass
class SourceUnderTest:
    source: EventSource
    publish: Callable[[bytes], Awaitable[None]]


@pytest.fixture(scope="session")
def pubsub_target(pubsub_emulator_host: str) -> PubSubTarget:
    return PubSubTarget("test", pubsub_emulator_host)


async def _topic_with_subscription(
    target: PubSubTarget, ack_deadline_seconds: int = 10
) -> tuple[str, str]:
    topic = target.topic_path(unique_name("topic"))
    subscription = target.subscription_path(unique_name("sub"))
    publisher = target.publisher()
    subscriber = target.subscriber()
    try:
        await publisher.create_topic(topic)
        await subscriber.create_subscription(
            subscription, topic, {"ackDeadlineSeconds": ack_deadline_seconds}
        )
    finally:
        await publisher.close()
        await subscriber.close()
    return topic, subscription


@pytest_asyncio.fixture(params=["memory", "pubsub"], loop_scope="session")
async def source_under_test(request: pytest.FixtureRequest) -> AsyncIterator[SourceUnderTest]:
    if request.param == "memory":
        memory = InMemoryEventSource()

        async def publish_memory(data: bytes) -> None:
            memory.publish(data)

        yield SourceUnderTest(memory, publish_memory)
        return
    target: PubSubTarget = request.getfixturevalue("pubsub_target")
    topic, subscription = await _topic_with_subscription(target)
    publisher: PublisherClient = target.publisher()
    subscriber = target.subscriber()

    async def publish_pubsub(data: bytes) -> None:
        await publisher.publish(topic, [PubsubMessage(data, source="test")])

    yield SourceUnderTest(
        PubSubEventSource(subscriber, subscription, pull_timeout=2), publish_pubsub
    )
    await publisher.close()
    await subscriber.close()


async def _receive_until(
    source: EventSource, count: int, seconds: float = 60
) -> list[ReceivedEvent]:
    received: list[ReceivedEvent] = []
    deadline = time.monotonic() + seconds
    while len(received) < count and time.monotonic() < deadline:
        received.extend(await source.receive(max_messages=10))
    return received


async def test_a_published_event_arrives_with_its_bytes(source_under_test: SourceUnderTest) -> None:
    payload = json.dumps({"resource": "shipment", "note": "café ✅"}).encode()
    await source_under_test.publish(payload)
    [event] = await _receive_until(source_under_test.source, 1)
    assert event.data == payload
    assert event.message_id
    await source_under_test.source.ack([event.ack_id])


async def test_a_nacked_event_comes_back_and_an_acked_one_does_not(
    source_under_test: SourceUnderTest,
) -> None:
    source = source_under_test.source
    await source_under_test.publish(b'{"n": 1}')
    [first] = await _receive_until(source, 1)
    await source.nack([first.ack_id])
    [again] = await _receive_until(source, 1)
    assert again.message_id == first.message_id
    assert again.data == b'{"n": 1}'
    await source.ack([again.ack_id])
    assert await _receive_until(source, 1, seconds=1.5) == []


async def test_an_event_after_idle_pulls_is_received_at_once(pubsub_target: PubSubTarget) -> None:
    """A pull given up by the client used to stay open at Pub/Sub and take the next message,
    which then came back only after its ack deadline (20 to 50 s late after idle time)."""
    topic, subscription = await _topic_with_subscription(pubsub_target, ack_deadline_seconds=60)
    publisher = pubsub_target.publisher()
    subscriber = pubsub_target.subscriber()
    source = PubSubEventSource(subscriber, subscription, pull_timeout=1)
    try:
        for _ in range(6):  # a worker with nothing to do
            assert await source.receive(max_messages=10) == []
        await publisher.publish(topic, [PubsubMessage(b'{"after": "idle"}')])
        # Far below the ack deadline: a message caught by a forgotten pull would miss this.
        received = await _receive_until(source, 1, seconds=15)
    finally:
        await publisher.close()
        await subscriber.close()
    assert [event.data for event in received] == [b'{"after": "idle"}']


async def test_activity_events_are_published_as_json(pubsub_target: PubSubTarget) -> None:
    topic, subscription = await _topic_with_subscription(pubsub_target)
    publisher = pubsub_target.publisher()
    subscriber = pubsub_target.subscriber()
    try:
        activity = PubSubActivityPublisher(publisher, topic)
        await activity.publish(
            ActivityEvent(
                account_id=379,
                shipment_id=17148471,
                reason="otp_cancellation",
                outcome=Outcome.FAILED,
                message_id=None,
                error_code=131026,
                error_title="Message undeliverable",
                occurred_at=T0,
            )
        )
        [event] = await _receive_until(
            PubSubEventSource(subscriber, subscription, pull_timeout=2), 1
        )
    finally:
        await publisher.close()
        await subscriber.close()
    body = json.loads(event.data)
    assert body == {
        "account_id": 379,
        "shipment_id": 17148471,
        "reason": "otp_cancellation",
        "kind": "fdr",
        "outcome": "failed",
        "message_id": None,
        "conversation_id": None,
        "detail": None,
        "error": {"code": 131026, "title": "Message undeliverable"},
        "automatic": False,  # true only on an NDR action the default action took
        "occurred_at": "2026-11-20T10:30:15.123456+00:00",
    }
    assert event.attributes["outcome"] == "failed"


async def test_activity_events_published_side_by_side_each_arrive_once(
    pubsub_target: PubSubTarget,
) -> None:
    # Answers handled at once publish at once: they share requests, and nothing is lost.
    topic, subscription = await _topic_with_subscription(pubsub_target)
    publisher = pubsub_target.publisher()
    subscriber = pubsub_target.subscriber()
    try:
        activity = PubSubActivityPublisher(publisher, topic)
        events = [
            ActivityEvent(
                account_id=379,
                shipment_id=shipment_id,
                reason="otp_cancellation",
                outcome=Outcome.ANSWERED,
                occurred_at=T0,
            )
            for shipment_id in range(1, 41)
        ]
        await asyncio.gather(*(activity.publish(e) for e in events))
        received = await _receive_until(
            PubSubEventSource(subscriber, subscription, pull_timeout=2), len(events)
        )
    finally:
        await publisher.close()
        await subscriber.close()
    shipments = sorted(json.loads(r.data)["shipment_id"] for r in received)
    assert shipments == list(range(1, 41))


async def test_each_caller_hears_that_its_activity_event_was_not_published(
    pubsub_target: PubSubTarget,
) -> None:
    publisher = pubsub_target.publisher()
    try:
        activity = PubSubActivityPublisher(
            publisher, pubsub_target.topic_path(unique_name("no-such-topic"))
        )
        event = ActivityEvent(
            account_id=379,
            shipment_id=1,
            reason="otp_cancellation",
            outcome=Outcome.ANSWERED,
            occurred_at=T0,
        )
        outcomes = await asyncio.gather(
            *(activity.publish(event) for _ in range(3)), return_exceptions=True
        )
    finally:
        await publisher.close()
    assert [type(o) for o in outcomes] == [UpstreamUnavailable] * 3
