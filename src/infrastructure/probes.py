"""Readiness probes for the database and Redis."""

from __future__ import annotations

from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


class DatabaseProbe:
    name = "database"

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def check(self) -> None:
        async with self._engine.connect() as conn:
            await conn.execute(text("SELECT 1"))


class RedisProbe:
    name = "redis"

    def __init__(self, client: Redis) -> None:
        self._redis = client

    async def check(self) -> None:
        await self._redis.ping()
