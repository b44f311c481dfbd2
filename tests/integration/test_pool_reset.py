"""A pooled MariaDB connection goes back clean though the pool no longer rolls back after a
unit of work's commit (docs/outages.md): what a user left open is never committed by the
next one. One connection in the pool, so every step below reuses the same one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import pytest_asyncio
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.errors import UpstreamUnavailable
from infrastructure.db import uow as uow_module
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


# --- a connection taken ahead (``connect_ahead``: a batch takes the connection of its next
# transaction while it waits on the limiter or on Meta; docs/outages.md) ----------------------


async def _connection_id(engine: AsyncEngine) -> int:
    """The server's id of the pool's one connection."""
    async with engine.connect() as conn:
        return int(await conn.scalar(text("SELECT CONNECTION_ID()")))


async def test_a_connection_taken_ahead_is_the_next_transaction_s_and_given_back_unused(
    one_connection: AsyncEngine, mysql_engine: AsyncEngine
) -> None:
    """With one connection in the pool, a second checkout would wait for it: the transaction
    after ``connect_ahead`` runs on the connection taken ahead, and one never used goes back
    to the pool with ``release_ahead``."""
    phone = f"9197{new_id():08d}"
    uow = SqlUnitOfWork(one_connection)
    await uow.connect_ahead()
    await uow.connect_ahead()  # one is held already: nothing more taken
    async with uow:
        await uow.conversations.remember_language(phone, "hi", NOW)
        await uow.commit()
    await uow.connect_ahead()
    await uow.release_ahead()
    async with SqlUnitOfWork(one_connection) as other:  # the pool's one connection is free
        await other.commit()

    assert await _languages(mysql_engine, phone) == {phone: "hi"}


async def test_a_connection_taken_ahead_and_held_too_long_is_checked_again(
    one_connection: AsyncEngine, mysql_engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection held ahead longer than ``AHEAD_SECONDS`` is given back and taken again,
    with the pool's pre-ping: one the server dropped meanwhile is found before the statement,
    as without ``connect_ahead``."""
    monkeypatch.setattr(uow_module, "AHEAD_SECONDS", 0.0)
    phone = f"9196{new_id():08d}"
    dropped = await _connection_id(one_connection)
    uow = SqlUnitOfWork(one_connection)
    await uow.connect_ahead()
    async with mysql_engine.connect() as admin:
        await admin.execute(text(f"KILL CONNECTION {dropped}"))
    async with uow:
        await uow.conversations.remember_language(phone, "hi", NOW)
        await uow.commit()

    assert await _connection_id(one_connection) != dropped
    assert await _languages(mysql_engine, phone) == {phone: "hi"}


async def test_a_database_that_cannot_be_reached_ahead_is_met_by_the_transaction() -> None:
    """``connect_ahead`` never fails its caller (a batch waiting on its limiter or on Meta):
    the transaction that would have used the connection meets the outage, as without it."""
    engine = create_engine("mysql+asyncmy://root@127.0.0.1:1/nothing", timeout=0.5)
    try:
        uow = SqlUnitOfWork(engine)
        await uow.connect_ahead()
        with pytest.raises(UpstreamUnavailable):
            async with uow:
                pass
        await uow.release_ahead()
    finally:
        await engine.dispose()
