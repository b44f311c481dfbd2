"""Readiness probes: the database and its schema (required), Redis (optional)."""

from __future__ import annotations

from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from application.ports.health import DependencyNotReady
from infrastructure.db.migrations import current_revision, schema_problem


class DatabaseProbe:
    name = "database"
    required = True

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def check(self) -> None:
        async with self._engine.connect() as conn:
            await conn.execute(text("SELECT 1"))


class SchemaProbe:
    """The database is migrated to what this code needs (``fdr-whatsapp migrate``)."""

    name = "schema"
    required = True

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def check(self) -> None:
        async with self._engine.connect() as conn:
            problem = schema_problem(await current_revision(conn))
        if problem is not None:
            raise DependencyNotReady(problem)


class RedisProbe:
    """Optional: without Redis settings are read from the database and the limiter counts in
    each process (docs/outages.md)."""

    name = "redis"
    required = False

    def __init__(self, client: Redis) -> None:
        self._redis = client

    async def check(self) -> None:
        await self._redis.ping()
