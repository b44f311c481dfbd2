"""A pooled MariaDB connection goes back clean though the pool no longer rolls back after a
unit of work's commit (docs/outages.md): what a user left open is never committed by the
next one. One connection in the pool, so every step below reuses the same one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest_asyncio
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from infrastructure.db.engine import create_engine
from infrastructure.db.tables import shopper_languages
from infrastructure.db.uow import SqlUnitOfWork
from tests.conftest import new_id

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


@pytest_asyncio.fixture(loop_scope="session")
async def one_connection(mysql_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(mysql_url, pool_size=1, max_overflow=0, timeout=5.0)
    yield engine
    await engine.dispose()


async def _languages(engine: AsyncEngine, *phones: str) -> dict[str, str]:
    t = shopper_languages
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(t.c.customer_phone, t.c.language).where(t.c.customer_phone.in_(phones))
        )
        return {str(phone): str(language) for phone, language in rows}


async def test_what_another_user_left_open_is_never_committed_by_the_next(
    one_connection: AsyncEngine, mysql_engine: AsyncEngine
) -> None:
    committed, left_open, after_commit = (f"9199{new_id():08d}" for _ in range(3))
    async with SqlUnitOfWork(one_connection) as uow:
        await uow.conversations.remember_language(committed, "hi", NOW)
        await uow.commit()
    async with one_connection.connect() as conn:  # written, never committed, given back
        await conn.execute(
            shopper_languages.insert().values(
                customer_phone=left_open, language="hi", updated_at=NOW
            )
        )
    async with SqlUnitOfWork(one_connection) as uow:  # the same connection, committed again
        await uow.conversations.remember_language(after_commit, "en", NOW)
        await uow.commit()

    assert await _languages(mysql_engine, committed, left_open, after_commit) == {
        committed: "hi",
        after_commit: "en",
    }


async def test_a_unit_of_work_left_without_a_commit_writes_nothing(
    one_connection: AsyncEngine, mysql_engine: AsyncEngine
) -> None:
    phone = f"9198{new_id():08d}"
    async with SqlUnitOfWork(one_connection) as uow:
        await uow.conversations.remember_language(phone, "hi", NOW)
    async with SqlUnitOfWork(one_connection) as uow:
        await uow.commit()

    assert await _languages(mysql_engine, phone) == {}
