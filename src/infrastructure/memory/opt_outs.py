"""The in-memory twin of the opt-out repository (docs/adr/0005-in-memory-twins.md)."""

from __future__ import annotations

import dataclasses

from application.ports.repositories import UnreachableSignal
from domain.opt_out import OptOut, OptOutScope
from infrastructure.memory.store import InMemoryStore


class InMemoryOptOutRepository:
    def __init__(self, store: InMemoryStore) -> None:
        self._store = store

    async def get(self, opt_out_id: int) -> OptOut | None:
        return next((o for o in self._store.tables.opt_outs.values() if o.id == opt_out_id), None)

    async def find(self, account_id: int, phone: str, scope: OptOutScope) -> OptOut | None:
        return self._store.tables.opt_outs.get((account_id, phone, scope.value))

    async def save(self, opt_out: OptOut) -> OptOut:
        tables = self._store.tables
        key = (opt_out.account_id, opt_out.customer_phone, opt_out.scope.value)
        existing = tables.opt_outs.get(key)
        row_id = existing.id if existing is not None else tables.new_id()
        stored = dataclasses.replace(opt_out, id=row_id, detail=opt_out.detail[:255])
        tables.opt_outs[key] = stored
        return stored

    async def is_opted_out(self, account_id: int, phone: str) -> bool:
        found = self._store.tables.opt_outs.get((account_id, phone, OptOutScope.ALL.value))
        return found is not None and found.active

    async def for_account(
        self, account_id: int, *, before_id: int | None, limit: int
    ) -> list[OptOut]:
        rows = [
            o
            for o in self._store.tables.opt_outs.values()
            if o.account_id == account_id
            and o.active
            and (before_id is None or (o.id or 0) < before_id)
        ]
        return sorted(rows, key=lambda o: o.id or 0, reverse=True)[:limit]

    async def add_signal(self, signal: UnreachableSignal) -> bool:
        signals = self._store.tables.unreachable_signals
        if signal.key in signals:
            return False
        signals[signal.key] = signal
        return True
