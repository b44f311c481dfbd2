"""What every SQL repository shares: a connection inside the unit of work's transaction."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.engine import CursorResult
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Executable
from sqlalchemy.sql.dml import Insert

from infrastructure.db.errors import is_duplicate_key

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

_T = TypeVar("_T")
_R = TypeVar("_R")
_D = TypeVar("_D", bound="DataclassInstance")

#: Rows per multi-row INSERT. Below SQLAlchemy's "insertmanyvalues" page (1,000 rows, and
#: SQLite's 32,766 parameters), so that each such INSERT is one statement: refused whole.
MANY_ROWS = 200


def chunks(items: Sequence[_T], size: int = MANY_ROWS) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def with_id(entity: _D, new_id: int) -> _D:
    """An entity as inserted: the same, with the id the database gave it."""
    return dataclasses.replace(entity, id=new_id)


class SqlRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._conn = connection

    async def _execute_unique(
        self,
        stmt: Executable,
        params: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
    ) -> CursorResult[Any] | None:
        """Runs ``stmt``; None when a unique key refuses it, and the transaction goes on.

        The two supported databases (config refuses others) undo only the refused statement
        (InnoDB's statement rollback, SQLite's ON CONFLICT ABORT): no savepoint is needed.
        """
        try:
            return await self._conn.execute(stmt, params)
        except IntegrityError as exc:
            if is_duplicate_key(exc):
                return None
            raise

    async def _insert_unique(
        self, stmt: Insert, params: Mapping[str, Any] | None = None
    ) -> int | None:
        """The new row's id; None when a unique key says the row exists.

        Hot paths pass a statement built once and the row as ``params``: building the
        statement per call (``.values(row)``) costs more CPU than the round trip itself.
        """
        result = await self._execute_unique(stmt, params)
        if result is None:
            return None
        key = result.inserted_primary_key
        return int(key[0]) if key is not None and key[0] is not None else None

    async def _insert(self, stmt: Insert, params: Mapping[str, Any] | None = None) -> int:
        result = await self._conn.execute(stmt, params)
        key = result.inserted_primary_key
        assert key is not None
        assert key[0] is not None
        return int(key[0])

    async def _insert_many_unique(
        self, stmt: Insert, rows: Sequence[Mapping[str, Any]], key: Sequence[str]
    ) -> list[int] | None:
        """The new rows' ids, in the order of ``rows``: one multi-row ``INSERT ... RETURNING``
        (``stmt`` returns the id, then the columns ``key`` of a unique key; at most
        ``MANY_ROWS`` rows). None when a unique key refuses any row: the statement is undone
        whole (see ``_execute_unique``), nothing of it is written, and the caller inserts the
        rows one by one to learn which one it was.

        MariaDB 10.5+ and SQLite 3.35+ both return the rows; neither promises their order,
        so each id is matched to its row by the unique key's values, not by position.
        """
        assert len(rows) <= MANY_ROWS
        result = await self._execute_unique(stmt, list(rows))
        if result is None:
            return None
        ids: dict[tuple[Any, ...], int] = {tuple(f[1:]): int(f[0]) for f in result.all()}
        assert len(ids) == len(rows)
        return [ids[tuple(row[column] for column in key)] for row in rows]

    async def _add_many(
        self,
        items: Sequence[_T],
        stmt: Insert,
        values: Callable[[_T], Mapping[str, Any]],
        key: Sequence[str],
        one: Callable[[_T], Awaitable[_R]],
        added: Callable[[_T, int], _R],
    ) -> list[_R]:
        """Each chunk of ``items`` in one multi-row insert (``_insert_many_unique``), each
        item's result ``added(item, its new id)``; a chunk a unique key refuses, or a single
        item, goes one by one through ``one`` (the repository's own single insert), so that
        only the refused item gets the single insert's answer."""
        results: list[_R] = []
        for chunk in chunks(items):
            ids = (
                await self._insert_many_unique(stmt, [values(item) for item in chunk], key)
                if len(chunk) > 1
                else None
            )
            if ids is None:
                results += [await one(item) for item in chunk]
            else:
                results += [added(item, i) for item, i in zip(chunk, ids, strict=True)]
        return results
