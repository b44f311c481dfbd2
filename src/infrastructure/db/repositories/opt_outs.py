"""Opt-outs per workspace and number, and the record of each unreachable signal."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import insert, select, update
from sqlalchemy.engine import RowMapping

from application.ports.repositories import UnreachableSignal
from domain.opt_out import OptOut, OptOutScope, OptOutSource
from infrastructure.db.repositories._base import SqlRepository
from infrastructure.db.tables import opt_outs as t
from infrastructure.db.tables import unreachable_signals as _s


def _opt_out(row: RowMapping) -> OptOut:
    return OptOut(
        id=row["id"],
        account_id=row["account_id"],
        customer_phone=row["customer_phone"],
        scope=OptOutScope(row["scope"]),
        active=bool(row["active"]),
        source=OptOutSource(row["source"]),
        detail=row["detail"],
        opted_out_at=row["opted_out_at"],
        opted_in_at=row["opted_in_at"],
        updated_at=row["updated_at"],
    )


def _changes(o: OptOut) -> dict[str, object]:
    return {
        "active": o.active,
        "source": o.source.value,
        "detail": o.detail[:255],
        "opted_out_at": o.opted_out_at,
        "opted_in_at": o.opted_in_at,
        "updated_at": o.updated_at,
    }


class SqlOptOutRepository(SqlRepository):
    async def get(self, opt_out_id: int) -> OptOut | None:
        row = (await self._conn.execute(select(t).where(t.c.id == opt_out_id))).mappings().first()
        return None if row is None else _opt_out(row)

    async def find(self, account_id: int, phone: str, scope: OptOutScope) -> OptOut | None:
        stmt = select(t).where(
            t.c.account_id == account_id, t.c.customer_phone == phone, t.c.scope == scope.value
        )
        row = (await self._conn.execute(stmt)).mappings().first()
        return None if row is None else _opt_out(row)

    async def save(self, opt_out: OptOut) -> OptOut:
        new_id = await self._insert_unique(
            insert(t).values(
                account_id=opt_out.account_id,
                customer_phone=opt_out.customer_phone,
                scope=opt_out.scope.value,
                **_changes(opt_out),
            )
        )
        if new_id is None:  # the number has a row: this is its new state
            await self._conn.execute(
                update(t)
                .where(
                    t.c.account_id == opt_out.account_id,
                    t.c.customer_phone == opt_out.customer_phone,
                    t.c.scope == opt_out.scope.value,
                )
                .values(**_changes(opt_out))
            )
        stored = await self.find(opt_out.account_id, opt_out.customer_phone, opt_out.scope)
        assert stored is not None
        return stored

    async def is_opted_out(self, account_id: int, phone: str) -> bool:
        stmt = select(t.c.id).where(
            t.c.account_id == account_id,
            t.c.customer_phone == phone,
            t.c.scope == OptOutScope.ALL.value,
            t.c.active.is_(True),
        )
        return (await self._conn.execute(stmt)).first() is not None

    async def opted_out_among(self, numbers: Collection[tuple[int, str]]) -> set[tuple[int, str]]:
        if not numbers:
            return set()
        # One read by the numbers (indexed), the pairs picked out here.
        stmt = select(t.c.account_id, t.c.customer_phone).where(
            t.c.customer_phone.in_(sorted({phone for _, phone in numbers})),
            t.c.account_id.in_(sorted({account for account, _ in numbers})),
            t.c.scope == OptOutScope.ALL.value,
            t.c.active.is_(True),
        )
        rows = await self._conn.execute(stmt)
        wanted = set(numbers)
        return {(r.account_id, r.customer_phone) for r in rows} & wanted

    async def for_account(
        self, account_id: int, *, before_id: int | None, limit: int
    ) -> list[OptOut]:
        stmt = select(t).where(t.c.account_id == account_id, t.c.active.is_(True))
        if before_id is not None:
            stmt = stmt.where(t.c.id < before_id)
        rows = await self._conn.execute(stmt.order_by(t.c.id.desc()).limit(limit))
        return [_opt_out(r) for r in rows.mappings()]

    async def add_signal(self, signal: UnreachableSignal) -> bool:
        stmt = insert(_s).values(
            signal_key=signal.key[:64],
            account_id=signal.account_id,
            shipment_id=signal.shipment_id,
            conversation_id=signal.conversation_id,
            why=signal.why[:20],
            error_code=signal.error_code,
            created_at=signal.created_at,
        )
        return await self._execute_unique(stmt) is not None
