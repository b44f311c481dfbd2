"""The composition root: the one place that chooses an adapter for every port (dishka)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from dishka import AsyncContainer, Provider, Scope, from_context, make_async_container, provide
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from application.ports.cache import SettingsCache
from application.ports.clock import Clock, IdGenerator
from application.ports.collaborators import ActivityPublisher
from application.ports.health import DependencyProbe
from application.ports.repositories import UnitOfWork
from application.use_cases.readiness import CheckReadiness
from infrastructure.cache.memory import InProcessSettingsCache
from infrastructure.cache.redis import RedisSettingsCache
from infrastructure.clock import SystemClock, UuidRefs
from infrastructure.config import Config
from infrastructure.db.engine import create_engine
from infrastructure.db.uow import SqlUnitOfWork
from infrastructure.memory.activity import LoggingActivityPublisher
from infrastructure.probes import DatabaseProbe, RedisProbe
from infrastructure.pubsub.activity import PubSubActivityPublisher
from infrastructure.pubsub.client import PubSubTarget


class CoreProvider(Provider):
    scope = Scope.APP
    config = from_context(provides=Config, scope=Scope.APP)
    clock = provide(SystemClock, provides=Clock)
    refs = provide(UuidRefs, provides=IdGenerator)


class DatabaseProvider(Provider):
    @provide(scope=Scope.APP)
    async def engine(self, config: Config) -> AsyncIterator[AsyncEngine]:
        engine = create_engine(config.database_url)
        yield engine
        await engine.dispose()

    @provide(scope=Scope.REQUEST)
    def unit_of_work(self, engine: AsyncEngine) -> UnitOfWork:
        return SqlUnitOfWork(engine)


class CacheProvider(Provider):
    """Redis when ``WA_REDIS_URL`` is set, else an in-process cache."""

    def __init__(self, redis_url: str | None, key_prefix: str = "fdr-whatsapp:") -> None:
        super().__init__()
        self._redis_url = redis_url
        self._prefix = key_prefix

    @provide(scope=Scope.APP)
    async def redis(self) -> AsyncIterator[Redis | None]:
        if self._redis_url is None:
            yield None
            return
        client = Redis.from_url(
            self._redis_url,
            socket_timeout=0.5,
            socket_connect_timeout=0.5,
            health_check_interval=30,
        )
        yield client
        await client.aclose()

    @provide(scope=Scope.APP)
    def settings_cache(self, redis: Redis | None) -> SettingsCache:
        if redis is None:
            return InProcessSettingsCache(ttl=1.0)
        return RedisSettingsCache(redis, prefix=self._prefix)

    @provide(scope=Scope.APP)
    def probes(self, engine: AsyncEngine, redis: Redis | None) -> list[DependencyProbe]:
        probes: list[DependencyProbe] = [DatabaseProbe(engine)]
        if redis is not None:
            probes.append(RedisProbe(redis))
        return probes


class MessagingProvider(Provider):
    scope = Scope.APP

    @provide
    async def activity(self, config: Config) -> AsyncIterator[ActivityPublisher]:
        if not (config.pubsub_project and config.pubsub_activity_topic):
            yield LoggingActivityPublisher()
            return
        target = PubSubTarget(config.pubsub_project, config.pubsub_emulator_host)
        client = target.publisher()
        yield PubSubActivityPublisher(client, target.topic_path(config.pubsub_activity_topic))
        await client.close()


class UseCaseProvider(Provider):
    scope = Scope.REQUEST

    @provide
    def readiness(self, probes: list[DependencyProbe]) -> CheckReadiness:
        return CheckReadiness(probes)


def build_container(config: Config, *overrides: Provider) -> AsyncContainer:
    """Every provider of the service; ``overrides`` (tests, demo) replace what they provide."""
    return make_async_container(
        CoreProvider(),
        DatabaseProvider(),
        CacheProvider(config.redis_url),
        MessagingProvider(),
        UseCaseProvider(),
        *overrides,
        context={Config: config},
    )
