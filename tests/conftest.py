"""Shared fixtures: real MariaDB, SQLite, Redis and Pub/Sub emulator, plus in-memory twins."""

from __future__ import annotations

import asyncio
import itertools
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import pytest_asyncio
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from application.ports.repositories import UnitOfWork
from infrastructure.db import migrations
from infrastructure.db.engine import create_engine
from infrastructure.db.uow import SqlUnitOfWork
from infrastructure.memory.seed import seed_defaults
from infrastructure.memory.store import InMemoryStore
from infrastructure.memory.uow import InMemoryUnitOfWork
from tests.support import services

DEFAULT_ACCOUNT_ID = 5
#: The project's own fixtures (an FDR event, Meta's payloads and OpenAPI spec): a clone is complete.
FIXTURES = Path(__file__).resolve().parent / "fixtures"

_ids = itertools.count(secrets.randbelow(10**9) * 1000 + 10**6)


def new_id() -> int:
    """An id no other test of this run uses (tests share one database per backend)."""
    return next(_ids)


# --- MariaDB -------------------------------------------------------------------------------


async def _mysql_admin(statement: str) -> None:
    engine = create_engine(services.MYSQL_SERVER_URL + "/", pool_size=1)
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def mysql_url() -> Iterator[str]:
    """A fresh database ``test_<random>`` on MariaDB, migrated to head, dropped at the end."""
    url = make_url(services.MYSQL_SERVER_URL)
    services.require(
        services.port_open(url.host or "127.0.0.1", url.port or 3306),
        f"MariaDB at {url.host}:{url.port}",
    )
    name = services.unique_name("test")
    asyncio.run(_mysql_admin(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
    database_url = f"{services.MYSQL_SERVER_URL}/{name}?charset=utf8mb4"
    try:
        migrations.upgrade(database_url)
        yield database_url
    finally:
        asyncio.run(_mysql_admin(f"DROP DATABASE IF EXISTS `{name}`"))


@pytest.fixture
def empty_mysql_database() -> Iterator[str]:
    """A database of this test's own with no table at all (never migrated)."""
    services.require(services.port_open("127.0.0.1", 3306), "MariaDB")
    name = services.unique_name("test_migrate")
    asyncio.run(_mysql_admin(f"CREATE DATABASE `{name}`"))
    yield f"{services.MYSQL_SERVER_URL}/{name}"
    asyncio.run(_mysql_admin(f"DROP DATABASE IF EXISTS `{name}`"))


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("sqlite") / "test.db"
    database_url = f"sqlite+aiosqlite:///{path}"
    migrations.upgrade(database_url)
    return database_url


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def mysql_engine(mysql_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(mysql_url)
    yield engine
    await engine.dispose()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def sqlite_engine(sqlite_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(sqlite_url)
    yield engine
    await engine.dispose()


def memory_store() -> InMemoryStore:
    store = InMemoryStore()
    seed_defaults(store, DEFAULT_ACCOUNT_ID, datetime(2026, 1, 1, tzinfo=UTC))
    return store


UowFactory = Callable[[], UnitOfWork]


@pytest.fixture(params=["memory", "sqlite", "mysql"])
def uow_factory(request: pytest.FixtureRequest) -> UowFactory:
    """The same test against every implementation of the storage ports."""
    backend: str = request.param
    if backend == "memory":
        store = memory_store()
        return lambda: InMemoryUnitOfWork(store)
    engine: AsyncEngine = request.getfixturevalue(f"{backend}_engine")
    return lambda: SqlUnitOfWork(engine)


# --- Redis ---------------------------------------------------------------------------------


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def redis_client() -> AsyncIterator[Redis]:
    client = Redis.from_url(services.REDIS_URL, socket_timeout=2)
    try:
        await client.ping()
    except Exception:  # any failure to reach it is the same problem
        services.require(False, f"Redis at {services.REDIS_URL}")
    yield client
    await client.aclose()


@pytest_asyncio.fixture(loop_scope="session")
async def redis_prefix(redis_client: Redis) -> AsyncIterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    prefix = f"test:{secrets.token_hex(4)}:"
    yield prefix
    keys = [k async for k in redis_client.scan_iter(match=prefix + "*")]
    if keys:
        await redis_client.delete(*keys)


# --- Pub/Sub emulator ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pubsub_emulator_host() -> Iterator[str]:
    with services.pubsub_emulator() as host:
        yield host
