"""The settings cache, the per-number limiter and the readiness probes: in-process, or in Redis
when ``WA_REDIS_URL`` is set (``REDIS``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from dishka import Provider, Scope, provide
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from application.ports.cache import SettingsCache
from application.ports.health import DependencyProbe
from application.ports.whatsapp import ThroughputLimiter
from composition.activation import REDIS
from infrastructure.cache.client import redis_client
from infrastructure.cache.memory import InProcessSettingsCache
from infrastructure.cache.redis import RedisSettingsCache
from infrastructure.config import Config
from infrastructure.limits.throughput import PacedThroughputLimiter
from infrastructure.probes import DatabaseProbe, RedisProbe, SchemaProbe


class CacheProvider(Provider):
    scope = Scope.APP

    @provide
    def settings_cache(self) -> SettingsCache:
        return InProcessSettingsCache(ttl=1.0)

    @provide
    def limiter(self, config: Config) -> ThroughputLimiter:
        return PacedThroughputLimiter.in_process(config.meta_throughput)

    @provide
    def probes(self, engine: AsyncEngine) -> list[DependencyProbe]:
        return [DatabaseProbe(engine), SchemaProbe(engine)]

    @provide(when=REDIS)
    async def redis(self, config: Config) -> AsyncIterator[Redis]:
        assert config.redis_url
        client = redis_client(config.redis_url)
        yield client
        await client.aclose()

    @provide(when=REDIS)
    def redis_settings_cache(self, redis: Redis, config: Config) -> SettingsCache:
        return RedisSettingsCache(redis, prefix=config.redis_key_prefix)

    @provide(when=REDIS)
    async def redis_limiter(self, config: Config) -> AsyncIterator[ThroughputLimiter]:
        assert config.redis_url
        limiter = PacedThroughputLimiter.redis(
            config.redis_url, config.meta_throughput, key_prefix=config.redis_key_prefix
        )
        yield limiter
        await limiter.aclose()

    @provide(when=REDIS)
    def redis_probes(self, engine: AsyncEngine, redis: Redis) -> list[DependencyProbe]:
        return [DatabaseProbe(engine), SchemaProbe(engine), RedisProbe(redis)]
