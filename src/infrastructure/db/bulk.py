"""Large values sent without escaping them: MariaDB's binary protocol, where it pays.

On the text protocol every value is escaped into the SQL text by asyncmy (a ``str.translate``
over each character: about 25 µs for a status's row, most of it the status's JSON, and about
15 ms for a 1000-status webhook body). With server-side prepared statements the values go in
their binary form instead: asyncmy does so when the connection keeps prepared statements (its
``stmt_cache_size``), and then sends an ``executemany`` as one MariaDB bulk command
(``COM_STMT_BULK_EXECUTE``). ``binary_protocol`` switches the statement cache on for the
statements inside it only: every other statement of the service stays on the text protocol,
where a NULL parameter cannot upset MariaDB's collation rules (BENCHMARKS.md, "Stop 13:
statuses": error 1267 against the ``ascii_bin`` wamid columns).

On anything else (SQLite, MySQL, a driver without bulk support) both do nothing special.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Dialect, Table, insert
from sqlalchemy.ext.asyncio import AsyncConnection

#: Prepared statements a connection keeps for ``binary_protocol``: one per shape (a bulk
#: insert's column set, as columns NULL in every row are left out; a multi-row insert's rows).
_STATEMENTS = 16
#: A bulk command is one packet that must stay under ``max_allowed_packet`` (16 MB by
#: default on MariaDB 10.11): rows are sent in parts of at most this many bytes of text.
PART_BYTES = 4 * 1024 * 1024


async def _driver(conn: AsyncConnection) -> Any | None:
    """asyncmy's connection when it talks to a MariaDB that takes bulk commands."""
    if conn.dialect.name != "mysql":
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
    if await _driver(conn) is None:
        return False
    names = tuple(n for n in rows[0] if any(r[n] is not None for r in rows))
    statement, order = _statement(conn.dialect, table, names, ignore)
    values = [tuple(_bound(r[n]) for n in order) for r in rows]
    async with binary_protocol(conn):
        for part in _parts(values, part_bytes):
            # SQLAlchemy's executemany: its errors, events and invalidation as usual.
            await conn.exec_driver_sql(statement, list(part))
    return True
