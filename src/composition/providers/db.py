"""The database: one engine per process (SQLite or MariaDB by ``WA_DATABASE_URL``), a unit of
work per request."""

from __future__ import annotations

from collections.abc import AsyncIterator

from dishka import Provider, Scope, provide
from sqlalchemy.ext.asyncio import AsyncEngine

from application.ports.repositories import UnitOfWork
from infrastructure.config import Config
from infrastructure.db.engine import create_engine
from infrastructure.db.uow import SqlUnitOfWork

#: Connections per process, all kept once opened: the most a busy ``serve`` asks for at once
#: (docs/deploy.md, "database connections").
POOL_SIZE = 24


class DatabaseProvider(Provider):
    @provide(scope=Scope.APP)
    async def engine(self, config: Config) -> AsyncIterator[AsyncEngine]:
        # 24 kept open (docs/deploy.md): 16 answers side by side, 4 inbox writes, the pump's
        # two status lanes and the answers begun together (one group at a time) fit without
        # waiting for a connection or opening and closing them all the time.
        engine = create_engine(
            config.database_url,
            pool_size=POOL_SIZE,
            max_overflow=0,
            timeout=config.database_timeout_seconds,
        )
        yield engine
        await engine.dispose()

    @provide(scope=Scope.REQUEST)
    def unit_of_work(self, engine: AsyncEngine) -> UnitOfWork:
        return SqlUnitOfWork(engine)
