"""Opt-outs and unreachable signals on both databases (SQLite, MariaDB)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from application.ports.repositories import UnreachableSignal
from domain.opt_out import OptOut, OptOutScope, OptOutSource
from tests.conftest import UowFactory, new_id
from tests.support.factories import T0


def _opt_out(account_id: int, phone: str, scope: OptOutScope = OptOutScope.ALL) -> OptOut:
    return OptOut(
        account_id=account_id,
        customer_phone=phone,
        scope=scope,
        active=True,
        source=OptOutSource.TEXT,
        detail="STOP",
        opted_out_at=T0,
        updated_at=T0,
    )


async def test_one_row_per_workspace_number_and_scope(uow_factory: UowFactory) -> None:
    account, other = new_id(), new_id()
    async with uow_factory() as uow:
        first = await uow.opt_outs.save(_opt_out(account, "917891971009"))
        later = T0 + timedelta(hours=1)
        again = await uow.opt_outs.save(
            dataclasses.replace(first, active=False, opted_in_at=later, updated_at=later)
        )
        marketing = await uow.opt_outs.save(
            _opt_out(account, "917891971009", OptOutScope.MARKETING)
        )
        await uow.opt_outs.save(_opt_out(other, "917891971009"))
        await uow.commit()
    async with uow_factory() as uow:
        assert again.id == first.id
        assert not await uow.opt_outs.is_opted_out(account, "917891971009")
        assert await uow.opt_outs.is_opted_out(other, "917891971009")
        listed = await uow.opt_outs.for_account(account, before_id=None, limit=10)
        assert [o.id for o in listed] == [marketing.id]  # active ones only
        stored = await uow.opt_outs.get(first.id or 0)
        assert stored is not None
        assert (stored.active, stored.opted_in_at) == (False, T0 + timedelta(hours=1))


async def test_pages_go_newest_first(uow_factory: UowFactory) -> None:
    account = new_id()
    async with uow_factory() as uow:
        saved = [await uow.opt_outs.save(_opt_out(account, f"9178919710{i:02d}")) for i in range(3)]
        await uow.commit()
    async with uow_factory() as uow:
        first = await uow.opt_outs.for_account(account, before_id=None, limit=2)
        rest = await uow.opt_outs.for_account(account, before_id=first[-1].id, limit=2)
    assert [o.id for o in first + rest] == [o.id for o in reversed(saved)]


async def test_a_signal_is_recorded_once_per_key(uow_factory: UowFactory) -> None:
    key = f"conversation:{new_id()}"
    signal = UnreachableSignal(
        key=key, account_id=1, shipment_id=2, conversation_id=3, why="undeliverable", created_at=T0
    )
    async with uow_factory() as uow:
        assert await uow.opt_outs.add_signal(signal)
        assert not await uow.opt_outs.add_signal(signal)
        await uow.commit()
    async with uow_factory() as uow:
        assert not await uow.opt_outs.add_signal(signal)
