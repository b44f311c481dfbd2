"""Shared fixtures: real MariaDB, SQLite, Redis and the Pub/Sub emulator.

Use-case tests run on SQLite: one file is migrated per session (the shipped reason rules and
templates come with the migrations) and each test gets a copy of it
(docs/adr/0005-use-case-tests-on-sqlite.md)."""

from __future__ import annotations

import asyncio
import itertools
import secrets
import shutil
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

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
from tests.support import services

if TYPE_CHECKING:  # tests.support.stack imports this module
    from tests.support.app import AppClient
    from tests.support.stack import Stack

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
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite file migrated to head, seed included (the migrations install the shipped
    reason rules and templates for account 5); tests copy it, none writes to it."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    migrations.upgrade(f"sqlite+aiosqlite:///{path}")
    # Everything in the one file: a copy must not need a write-ahead log beside it.
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


def copy_of_template(template: Path, folder: Path) -> str:
    """A fresh migrated database of its own: a copy of the template file, as a URL."""
    path = folder / "store.db"
    shutil.copy(template, path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture(scope="session")
def sqlite_url(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The SQLite database the contract and integration tests share (as they share MariaDB)."""
    return copy_of_template(sqlite_template, tmp_path_factory.mktemp("sqlite"))


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


@pytest_asyncio.fixture(loop_scope="session")
async def sqlite_db(sqlite_template: Path, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """This test's own SQLite database (a copy of the template): nothing another test wrote."""
    engine = create_engine(copy_of_template(sqlite_template, tmp_path))
    yield engine
    await engine.dispose()


UowFactory = Callable[[], UnitOfWork]


@pytest.fixture
def new_uow(sqlite_db: AsyncEngine) -> UowFactory:
    """A unit of work on this test's own SQLite database, each call a new one."""
    return lambda: SqlUnitOfWork(sqlite_db)


@pytest_asyncio.fixture(loop_scope="session")
async def new_database(
    sqlite_template: Path, tmp_path: Path
) -> AsyncIterator[Callable[[], UowFactory]]:
    """For a test that needs more than one database of its own: each call, another copy."""
    engines: list[AsyncEngine] = []

    def make() -> UowFactory:
        folder = tmp_path / f"database-{len(engines)}"
        folder.mkdir()
        engine = create_engine(copy_of_template(sqlite_template, folder))
        engines.append(engine)
        return lambda: SqlUnitOfWork(engine)

    yield make
    for engine in engines:
        await engine.dispose()


@pytest.fixture(params=["sqlite", "mysql"])
def uow_factory(request: pytest.FixtureRequest) -> UowFactory:
    """The same test against both databases the service runs on (shared, like production)."""
    backend: str = request.param
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


# --- The app on a running stack ----------------------------------------------------------------


@pytest_asyncio.fixture(loop_scope="session")
async def client(stack: Stack) -> AsyncIterator[AppClient]:
    """The HTTP app on the test module's ``stack`` (``stack_fixture``), called in-process; its
    webhook pump does not run by itself (a test drains it)."""
    async with stack.http(run_pump=False) as http:
        yield http
