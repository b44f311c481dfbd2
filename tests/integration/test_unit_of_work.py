"""The SQL unit of work refuses a second entry while the first still waits for its connection,
instead of taking a connection of its own that nothing would close."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncEngine

from infrastructure.db.uow import SqlUnitOfWork


async def test_a_second_entry_while_the_first_connects_is_refused_and_leaks_nothing(
    mysql_engine: AsyncEngine,
) -> None:
    before = mysql_engine.pool.checkedout()  # type: ignore[attr-defined]
    uow = SqlUnitOfWork(mysql_engine)

    async def enter_and_leave() -> None:
        async with uow:
            await asyncio.sleep(0)

    results = await asyncio.gather(enter_and_leave(), enter_and_leave(), return_exceptions=True)

    refused = [r for r in results if isinstance(r, RuntimeError)]
    assert len(refused) == 1
    assert "entered twice" in str(refused[0])
    assert results.count(None) == 1
    assert mysql_engine.pool.checkedout() == before  # type: ignore[attr-defined]
    async with uow:  # usable again once left
        pass


async def test_an_entry_cancelled_while_it_connects_can_be_made_again(
    mysql_engine: AsyncEngine,
) -> None:
    uow = SqlUnitOfWork(mysql_engine)
    entering = asyncio.ensure_future(uow.__aenter__())
    await asyncio.sleep(0)  # it has begun, and waits for its connection
    entering.cancel()
    try:
        await entering
    except asyncio.CancelledError:
        pass
    else:  # it had its connection already: leave it as a caller would
        await uow.__aexit__(None, None, None)
    async with uow:
        pass
