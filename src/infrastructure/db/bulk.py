"""Many rows in one round trip, without escaping them: MariaDB's bulk insert.

On the text protocol every value of a multi-row ``INSERT`` is escaped into the SQL text by
asyncmy (a ``str.translate`` over each character: about 25 µs for a status's row, most of it
the status's JSON). MariaDB's ``COM_STMT_BULK_EXECUTE`` binds all rows of a prepared
statement in their binary form instead: asyncmy sends an ``executemany`` that way when the
connection keeps server-side prepared statements (its ``stmt_cache_size``). The statement
cache is switched on for that one call only: every other statement of the service stays on
the text protocol (why: BENCHMARKS.md, "Stop 13: statuses").

Anything else (SQLite, MySQL, a driver without bulk support) is told ``False`` and inserts
the usual way.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Dialect, Table, insert
from sqlalchemy.ext.asyncio import AsyncConnection

#: Prepared statements a connection keeps while a bulk insert runs: one per column set
#: (columns that are NULL in every row are left out, as the bulk command needs a type).
_STATEMENTS = 16
#: A bulk command is one packet that must stay under ``max_allowed_packet`` (16 MB by
#: default on MariaDB 10.11): rows are sent in parts of at most this many bytes of text.
PART_BYTES = 4 * 1024 * 1024


def _driver(conn: AsyncConnection, raw: Any) -> Any | None:
    if conn.dialect.name != "mysql":
        return None
    driver = getattr(raw, "driver_connection", None)
    if not getattr(driver, "_bulk_supported", False) or not hasattr(driver, "_stmt_cache_size"):
        return None
    return driver


def _bound(value: Any) -> Any:
    """What the column types do on the way in: aware datetimes become naive UTC."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def _parts(rows: Sequence[tuple[Any, ...]], limit: int) -> Iterator[Sequence[tuple[Any, ...]]]:
    start, size = 0, 0
    for i, row in enumerate(rows):
        length = sum(len(v) for v in row if isinstance(v, (str, bytes)))
        if i > start and size + length > limit:
            yield rows[start:i]
            start, size = i, 0
        size += length
    if start < len(rows):
        yield rows[start:]


@functools.lru_cache(maxsize=64)
def _statement(
    dialect: Dialect, table: Table, names: tuple[str, ...], ignore: bool
) -> tuple[str, tuple[str, ...]]:
    """The ``INSERT`` of these columns as the driver takes it, and its parameters' order."""
    insert_ = insert(table).prefix_with("IGNORE") if ignore else insert(table)
    compiled = insert_.compile(dialect=dialect, column_keys=list(names))
    assert compiled.positiontup is not None
    return str(compiled), tuple(compiled.positiontup)


async def bulk_insert(
    conn: AsyncConnection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    ignore: bool = False,
    part_bytes: int = PART_BYTES,
) -> bool:
    """Inserts ``rows`` (all with the same keys, the table's column names) as MariaDB bulk
    inserts (``INSERT IGNORE`` with ``ignore``); ``False``, with nothing written, when the
    connection cannot (the caller then inserts them its own way)."""
    if not rows:
        return True
    driver = _driver(conn, await conn.get_raw_connection())
    if driver is None:
        return False
    names = tuple(n for n in rows[0] if any(r[n] is not None for r in rows))
    statement, order = _statement(conn.dialect, table, names, ignore)
    values = [tuple(_bound(r[n]) for n in order) for r in rows]
    cached = driver._stmt_cache_size
    driver._stmt_cache_size = max(cached, _STATEMENTS)
    try:
        for part in _parts(values, part_bytes):
            # SQLAlchemy's executemany: its errors, events and invalidation as usual.
            await conn.exec_driver_sql(statement, list(part))
    finally:
        driver._stmt_cache_size = cached
    return True
