"""Large values sent without escaping them: MariaDB's binary protocol, where it pays.

On the text protocol every value is escaped into the SQL text by asyncmy (a ``str.translate``
over each character: about 25 µs for a status's row, most of it the status's JSON, and about
15 ms for a 1000-status webhook body). With server-side prepared statements the values go in
their binary form instead: asyncmy does so when the connection keeps prepared statements (its
``stmt_cache_size``), and then sends an ``executemany`` as one MariaDB bulk command
(``COM_STMT_BULK_EXECUTE``). ``binary_protocol`` switches the statement cache on for the
statements inside it only (the bulk inserts, the webhook bodies, the statuses' compare-and-set):
``select_in`` reads rows by key the same way, the rows as the driver returns them (no
SQLAlchemy result processing: the status pass's reads of its messages and conversations);
every other statement of the service stays on the text protocol, where a NULL parameter cannot
upset MariaDB's collation rules (BENCHMARKS.md, "Stop 13: statuses": error 1267 against the
``ascii_bin`` wamid columns; a statement put inside casts its parameters' side to the column).

On anything else (SQLite, MySQL, a driver without bulk support) both do nothing special.
"""

from __future__ import annotations

import contextlib
import functools
import operator
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Dialect, Table, bindparam, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from infrastructure.db.engine import MARIADB_DIALECTS
from infrastructure.db.types import as_naive_utc

#: Prepared statements a connection keeps for ``binary_protocol``: one per shape (a bulk
#: insert's column set, as columns NULL in every row are left out; a multi-row insert's rows;
#: the compare-and-set's seven sizes, 2 to 128 rows; ``select_in``'s five sizes per read).
_STATEMENTS = 48
#: Keys per statement of ``select_in``; fewer are padded up to a power of two (the last key
#: repeated), at least ``_READ_MIN``: a handful of prepared statements per read.
READ_ROWS = 256
_READ_MIN = 16
#: A bulk command is one packet that must stay under ``max_allowed_packet`` (16 MB by
#: default on MariaDB 10.11): rows are sent in parts of at most this many bytes of text.
PART_BYTES = 4 * 1024 * 1024


async def _driver(conn: AsyncConnection) -> Any | None:
    """asyncmy's connection when it talks to a MariaDB that takes bulk commands."""
    if conn.dialect.name not in MARIADB_DIALECTS:
        return None
    driver = getattr(await conn.get_raw_connection(), "driver_connection", None)
    if not getattr(driver, "_bulk_supported", False) or not hasattr(driver, "_stmt_cache_size"):
        return None
    return driver


@contextlib.asynccontextmanager
async def binary_protocol(conn: AsyncConnection) -> AsyncIterator[bool]:
    """The statements run inside on ``conn`` are prepared on the server and their values
    sent unescaped (MariaDB); yields whether they are."""
    driver = await _driver(conn)
    if driver is None:
        yield False
        return
    cached = driver._stmt_cache_size
    driver._stmt_cache_size = max(cached, _STATEMENTS)
    try:
        yield True
    finally:
        driver._stmt_cache_size = cached


@dataclass(frozen=True, slots=True)
class _Shape:
    """A bulk insert of some columns: its SQL, and how a row's values are laid out."""

    statement: str
    order: tuple[int, ...]  # for each of its parameters, the position of its column in names
    long: tuple[int, ...]  # positions of unbounded columns (TEXT, BLOB), their sizes counted
    bounded: int  # at most this many bytes for the other columns of a row


@functools.lru_cache(maxsize=64)
def _shape(dialect: Dialect, table: Table, names: tuple[str, ...], ignore: bool) -> _Shape:
    insert_ = insert(table).prefix_with("IGNORE") if ignore else insert(table)
    compiled = insert_.compile(dialect=dialect, column_keys=list(names))
    assert compiled.positiontup is not None
    order = tuple(names.index(n) for n in compiled.positiontup)  # the table's order
    types = [table.c[names[i]].type for i in order]
    return _Shape(
        statement=str(compiled),
        order=order,
        long=tuple(i for i, t in enumerate(types) if getattr(t, "length", 0) is None),
        bounded=sum(4 * (getattr(t, "length", None) or 8) for t in types),
    )


def naive_utc(times: dict[datetime, datetime], value: datetime | None) -> datetime | None:
    """What a ``UtcDateTime`` column stores of ``value`` (naive UTC), each instant converted
    once per ``times`` (a batch's rows share most of their times: ``created_at`` is the
    batch's "now")."""
    if value is None or value.tzinfo is None:
        return value
    if value.fold:  # equal (same hash) to the other instant of its repeated local hour
        return as_naive_utc(value)
    converted = times.get(value)
    if converted is None:
        converted = times[value] = as_naive_utc(value)
    return converted


def _parts(
    shape: _Shape, rows: Sequence[tuple[Any, ...]], limit: int
) -> Iterator[Sequence[tuple[Any, ...]]]:
    start, size = 0, 0
    for i, row in enumerate(rows):
        length = shape.bounded
        for j in shape.long:
            length += len(row[j]) if row[j] is not None else 0
        if i > start and size + length > limit:
            yield rows[start:i]
            start, size = i, 0
        size += length
    if start < len(rows):
        yield rows[start:]


async def bulk_insert(
    conn: AsyncConnection,
    table: Table,
    names: tuple[str, ...],
    rows: Sequence[tuple[Any, ...]],
    *,
    ignore: bool = False,
    part_bytes: int = PART_BYTES,
) -> bool:
    """Inserts ``rows``, each the values of the columns ``names`` in that order as the driver
    takes them (times naive UTC: ``naive_utc``), as MariaDB bulk inserts (``INSERT IGNORE``
    with ``ignore``); ``False``, with nothing written, when the connection cannot (the caller
    then inserts them its own way). The columns NULL in every row are left out (the bulk
    command needs a type for each column)."""
    if not rows:
        return True
    async with binary_protocol(conn) as prepared:
        if not prepared:
            return False
        kept = [i for i in range(len(names)) if any(r[i] is not None for r in rows)]
        shape = _shape(conn.dialect, table, tuple(names[i] for i in kept), ignore)
        picked = [kept[i] for i in shape.order]  # each parameter's position in a row
        if picked != list(range(len(names))):
            pick = operator.itemgetter(*picked) if len(picked) > 1 else lambda r: (r[picked[0]],)
            rows = [pick(r) for r in rows]
        for part in _parts(shape, rows, part_bytes):
            # SQLAlchemy's executemany: its errors, events and invalidation as usual.
            await conn.exec_driver_sql(shape.statement, part)
    return True


@functools.lru_cache(maxsize=32)
def _select_in(
    dialect: Dialect, columns: tuple[Column[Any], ...], key: Column[Any], size: int
) -> str:
    keys = [bindparam(f"key_{i}", type_=key.type) for i in range(size)]
    return str(select(*columns).where(key.in_(keys)).compile(dialect=dialect))


async def select_in(
    conn: AsyncConnection, columns: tuple[Column[Any], ...], key: Column[Any], values: Sequence[Any]
) -> list[Sequence[Any]] | None:
    """The rows of ``columns`` whose ``key`` is one of ``values`` (not empty), as the driver
    returns them (times naive, strings as strings: the column types' conversions are the
    caller's), read as prepared statements; ``None``, with nothing read, when the connection
    cannot (the caller then reads them its own way)."""
    rows: list[Sequence[Any]] = []
    async with binary_protocol(conn) as prepared:
        if not prepared:
            return None
        for start in range(0, len(values), READ_ROWS):
            part = values[start : start + READ_ROWS]
            size = max(_READ_MIN, 1 << (len(part) - 1).bit_length())
            sql = _select_in(conn.dialect, columns, key, size)
            # SQLAlchemy's execution still (its errors, events and invalidation as usual).
            result = await conn.exec_driver_sql(sql, (*part, *[part[-1]] * (size - len(part))))
            rows += result.all()
    return rows
