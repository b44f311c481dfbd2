"""Publishing to the workspace's timeline is best effort: one wrapper, applied by the wiring."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence

import pytest
import structlog
from dishka import Provider, Scope

from application.ports.collaborators import ActivityPublisher
from application.timeline import Timeline
from composition.container import build_container
from domain.activity import ActivityEvent, Outcome
from domain.errors import UpstreamUnavailable
from infrastructure.best_effort import NeverFailingActivityPublisher
from infrastructure.config import Config
from infrastructure.local.activity import RecordingActivityPublisher
from tests.support.factories import T0

EVENT = ActivityEvent(
    account_id=379, shipment_id=17148471, reason="oda", outcome=Outcome.SENT, occurred_at=T0
)


class DownPublisher:
    """Pub/Sub unreachable: every publish fails."""

    def __init__(self) -> None:
        self.calls = 0

    async def publish(self, event: ActivityEvent) -> None:
        self.calls += 1
        raise UpstreamUnavailable("Pub/Sub publish failed: connection refused")

    async def publish_many(self, events: Sequence[ActivityEvent]) -> None:
        self.calls += 1
        raise UpstreamUnavailable("Pub/Sub publish failed: connection refused")


async def test_events_pass_through_to_the_publisher() -> None:
    inner = RecordingActivityPublisher()
    publisher = NeverFailingActivityPublisher(inner)
    await publisher.publish(EVENT)
    await publisher.publish_many([EVENT, EVENT])
    assert inner.events == [EVENT, EVENT, EVENT]


async def test_a_failed_publish_is_logged_once_per_kind_and_never_raised() -> None:
    inner = DownPublisher()
    publisher = NeverFailingActivityPublisher(inner)
    with structlog.testing.capture_logs() as logs:
        await publisher.publish(EVENT)
        await publisher.publish(EVENT)
        await publisher.publish_many([EVENT])
    assert inner.calls == 3
    lines = [line for line in logs if line["event"] == "activity not published"]
    assert len(lines) == 1  # an outage does not write a line per event
    assert lines[0]["kind"] == "UpstreamUnavailable"
    assert "exc_info" not in lines[0]  # an outage, not a bug: no traceback


async def test_a_bug_in_the_publisher_is_logged_with_its_traceback() -> None:
    class Broken(RecordingActivityPublisher):
        async def publish(self, event: ActivityEvent) -> None:
            raise KeyError("topic")

    with structlog.testing.capture_logs() as logs:
        await NeverFailingActivityPublisher(Broken()).publish(EVENT)
    [line] = [line for line in logs if line["event"] == "activity not published"]
    assert isinstance(line["exc_info"], KeyError)


@pytest.mark.parametrize("override", [False, True], ids=["configured", "overridden"])
async def test_the_container_gives_every_use_case_a_publisher_that_never_fails(
    override: bool,
) -> None:
    overrides = []
    if override:  # a test or the demo replacing the publisher is wrapped too
        provider = Provider(scope=Scope.APP)
        provider.provide(DownPublisher, provides=ActivityPublisher)
        overrides.append(provider)
    container = build_container(Config(), *overrides)
    try:
        publisher = await container.get(ActivityPublisher)
        assert isinstance(publisher, NeverFailingActivityPublisher)
        await publisher.publish(EVENT)  # does not raise, whichever publisher is inside
    finally:
        await container.close()


class _FlakyPublisher(RecordingActivityPublisher):
    """Fails the first request, records the next ones."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    async def publish_many(self, events: Sequence[ActivityEvent]) -> None:
        self.calls += 1
        if self.calls == 1:
            raise UpstreamUnavailable("Pub/Sub publish failed: connection refused")
        await super().publish_many(events)


async def test_a_pass_s_timeline_logs_a_failed_request_and_still_sends_the_others() -> None:
    """The status pass's timeline keeps the rule: a failed publish is logged, not retried, and
    never stops the events of the other requests (nor the pass)."""
    inner = _FlakyPublisher()
    timeline = Timeline(inner, at_once=1, most=2)
    first = [dataclasses.replace(EVENT, shipment_id=n) for n in range(2)]
    rest = [dataclasses.replace(EVENT, shipment_id=n) for n in range(2, 5)]
    with structlog.testing.capture_logs() as logs:
        timeline.add(first)  # its request starts now, and fails
        timeline.add(rest)  # waits for the next requests
        await timeline.drain()
    assert inner.calls == 3  # [0, 1] failed, then [2, 3] and [4]
    assert inner.events == rest
    lines = [line for line in logs if line["event"] == "activity not published"]
    assert [line["count"] for line in lines] == [2]


class _StuckPublisher:
    """Pub/Sub that takes each request and never answers."""

    def __init__(self) -> None:
        self.calls = 0
        self.answered = 0

    async def publish(self, event: ActivityEvent) -> None:
        await self.publish_many([event])

    async def publish_many(self, events: Sequence[ActivityEvent]) -> None:
        self.calls += 1
        await asyncio.Event().wait()
        self.answered += 1


async def test_a_pass_cancelled_while_its_timeline_drains_leaves_no_request_behind() -> None:
    """Shutdown cancels a pass that outlasts its grace, often in its last wait (the timeline's
    drain): the requests in flight are given up with it, none goes on after the pass."""
    inner = _StuckPublisher()
    timeline = Timeline(inner, at_once=2, most=1)
    for n in range(3):  # two requests in flight, the third event waiting
        timeline.add([dataclasses.replace(EVENT, shipment_id=n)])
    draining = asyncio.create_task(timeline.drain())
    for _ in range(100):
        if inner.calls == 2:
            break
        await asyncio.sleep(0.01)
    draining.cancel()
    with pytest.raises(asyncio.CancelledError):
        await draining
    assert inner.calls == 2
    assert inner.answered == 0
    await asyncio.sleep(0.05)
    assert inner.calls == 2  # the third event was dropped, not sent after the pass
    timeline.add([])
    await asyncio.wait_for(timeline.drain(), 5)  # nothing left in flight
