"""What every SQL repository shares: a connection inside the unit of work's transaction."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import Insert

from infrastructure.db.errors import is_duplicate_key

#: Databases where a statement that fails (a duplicate key) is undone alone and the
#: transaction goes on: InnoDB's statement rollback, SQLite's ON CONFLICT ABORT.
_STATEMENT_ATOMIC = frozenset({"mysql", "mariadb", "sqlite"})


class SqlRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection
        # Elsewhere (PostgreSQL: an error aborts the whole transaction) a savepoint around
        # the insert keeps the transaction usable; here it would cost two round trips.
        self._needs_savepoint = connection.dialect.name not in _STATEMENT_ATOMIC

    async def _insert_unique(
        self, stmt: Insert, params: Mapping[str, Any] | None = None
    ) -> int | None:
        """Runs the insert; None when a unique key says the row exists (the transaction goes on).

        Hot paths pass a statement built once and the row as ``params``: building the
        statement per call (``.values(row)``) costs more CPU than the round trip itself.
        """
        try:
            if self._needs_savepoint:
                async with self._conn.begin_nested():
                    result = await self._conn.execute(stmt, params)
            else:
                result = await self._conn.execute(stmt, params)
        except IntegrityError as exc:
            if is_duplicate_key(exc):
                return None
            raise
        key = result.inserted_primary_key
        return int(key[0]) if key is not None and key[0] is not None else None

    async def _insert(self, stmt: Insert, params: Mapping[str, Any] | None = None) -> int:
        result = await self._conn.execute(stmt, params)
        key = result.inserted_primary_key
        assert key is not None
        assert key[0] is not None
        return int(key[0])
