"""The other outside systems, each with its local stand-in: the integration engine
(``INTEGRATION_ENGINE``), the ESB (``ESB``), Pub/Sub for activity events (``PUBSUB_ACTIVITY``)
and for shipment events (``PUBSUB_EVENTS``, ``PUBSUB_OUTCOMES``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import httpx
from dishka import Provider, Scope, provide

from application.ports.collaborators import (
    ActivityPublisher,
    ConnectionDirectory,
    EventSource,
    NdrActions,
    OutcomeEventSource,
)
from composition.activation import (
    ESB,
    INTEGRATION_ENGINE,
    PUBSUB_ACTIVITY,
    PUBSUB_EVENTS,
    PUBSUB_OUTCOMES,
)
from infrastructure.config import Config
from infrastructure.esb.ndr import HttpNdrActions
from infrastructure.integration_engine.directory import (
    CachedConnectionDirectory,
    HttpConnectionDirectory,
)
from infrastructure.local.activity import LoggingActivityPublisher
from infrastructure.local.collaborators import InMemoryConnectionDirectory, InMemoryNdrActions
from infrastructure.local.events import InMemoryEventSource

if TYPE_CHECKING:  # gcloud-aio and aiohttp load only where Pub/Sub is configured
    from infrastructure.pubsub.source import PubSubEventSource


class CollaboratorsProvider(Provider):
    scope = Scope.APP

    @provide
    def directory(self) -> ConnectionDirectory:
        return InMemoryConnectionDirectory()

    @provide
    def ndr_actions(self) -> NdrActions:
        return InMemoryNdrActions()  # demo: actions are recorded in wa_ndr_actions only

    @provide
    def activity(self) -> ActivityPublisher:
        return LoggingActivityPublisher()

    @provide
    def events(self) -> EventSource:
        return InMemoryEventSource()

    @provide(when=INTEGRATION_ENGINE)
    async def engine_directory(self, config: Config) -> AsyncIterator[ConnectionDirectory]:
        assert config.integration_engine_url
        client = httpx.AsyncClient()
        yield CachedConnectionDirectory(
            HttpConnectionDirectory(client, config.integration_engine_url)
        )
        await client.aclose()

    @provide(when=ESB)
    async def esb_ndr_actions(self, config: Config) -> AsyncIterator[NdrActions]:
        assert config.esb_url
        headers = {"Authorization": f"Bearer {config.esb_token}"} if config.esb_token else None
        client = httpx.AsyncClient(headers=headers)
        yield HttpNdrActions(client, config.esb_url)
        await client.aclose()

    @provide(when=PUBSUB_ACTIVITY)
    async def pubsub_activity(self, config: Config) -> AsyncIterator[ActivityPublisher]:
        assert config.pubsub_project
        assert config.pubsub_activity_topic
        from infrastructure.pubsub.activity import PubSubActivityPublisher
        from infrastructure.pubsub.client import PubSubTarget

        target = PubSubTarget(config.pubsub_project, config.pubsub_emulator_host)
        client = target.publisher()
        yield PubSubActivityPublisher(client, target.topic_path(config.pubsub_activity_topic))
        await client.close()

    @provide(when=PUBSUB_EVENTS)
    async def pubsub_events(self, config: Config) -> AsyncIterator[EventSource]:
        async for source in _pull(config, config.pubsub_fdr_subscription):
            yield source

    @provide(when=PUBSUB_OUTCOMES)
    async def pubsub_outcome_events(self, config: Config) -> AsyncIterator[OutcomeEventSource]:
        """The pull source of ``WA_PUBSUB_OUTCOME_SUBSCRIPTION`` (none without it)."""
        async for source in _pull(config, config.pubsub_outcome_subscription):
            yield source


async def _pull(config: Config, subscription: str | None) -> AsyncIterator[PubSubEventSource]:
    """A pull source of ``subscription``, closed after the container."""
    assert config.pubsub_project
    assert subscription
    from infrastructure.pubsub.client import PubSubTarget
    from infrastructure.pubsub.source import PubSubEventSource

    target = PubSubTarget(config.pubsub_project, config.pubsub_emulator_host)
    client = target.subscriber()
    yield PubSubEventSource(client, target.subscription_path(subscription))
    await client.close()
