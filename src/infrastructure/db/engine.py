"""Engines for MySQL (asyncmy) and SQLite (aiosqlite), configured the same way for both.

With ``timeout`` (the service's engines), MySQL fails fast instead of hanging on a database
that stopped answering: see docs/outages.md.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.sql.selectable import HasPrefixes

#: The names SQLAlchemy gives the dialect of the URLs the config accepts for MariaDB:
#: ``mysql`` (``mysql+asyncmy://``) and ``mariadb`` (``mariadb+asyncmy://``). What is written
#: for MariaDB (a statement's prefix, the binary protocol) is for both (docs/patterns.md).
MARIADB_DIALECTS = ("mysql", "mariadb")

_Prefixed = TypeVar("_Prefixed", bound=HasPrefixes)


def mariadb_prefix(statement: _Prefixed, prefix: str) -> _Prefixed:
    """``statement`` with ``prefix`` (``IGNORE``, ``STRAIGHT_JOIN``) under either name of
    MariaDB's dialect, and nowhere else."""
    for name in MARIADB_DIALECTS:
        statement = statement.prefix_with(prefix, dialect=name)
    return statement


def create_engine(
    url: str,
    *,
    pool_size: int = 10,
    max_overflow: int | None = None,
    echo: bool = False,
    timeout: float | None = None,
) -> AsyncEngine:
    """Up to ``pool_size`` connections kept open once opened, and ``max_overflow`` more (by
    default as many) opened when busy and closed again when given back.

    ``timeout`` (seconds) bounds, on MySQL, a connect with its handshake, every wait for an
    answer (the pre-ping, each statement) and a wait for a free pooled connection; ``None``
    (migrations, maintenance) keeps the drivers' defaults: a long ALTER must not be cut off."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, echo=echo)
    bounds: dict[str, Any] = {}
    if timeout is not None:
        # A frozen server still accepts TCP (the kernel does), so only a read timeout notices
        # it; asyncmy's applies to the handshake too. A timed-out read drops the connection
        # (error 2013, a disconnect to SQLAlchemy), which the unit of work reports as
        # UpstreamUnavailable: 503 over HTTP, a retry in the worker.
        bounds = {
            "connect_args": {"connect_timeout": timeout, "read_timeout": timeout},
            "pool_timeout": timeout,
        }
    engine = create_async_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=pool_size if max_overflow is None else max_overflow,
        pool_pre_ping=True,
        pool_recycle=1800,
        isolation_level="READ COMMITTED",
        # Our own reset on return (``_reset``) instead of SQLAlchemy's unconditional ROLLBACK.
        pool_reset_on_return=None,
        **bounds,
    )
    event.listen(engine.sync_engine, "reset", _reset)
    event.listen(engine.sync_engine, "checkout", _forget_ended)
    return engine


#: Set on a pooled connection's ``info`` by the unit of work once its transaction ended
#: (committed or rolled back): nothing is left to undo when the connection goes back.
ENDED = "fdr_transaction_ended"


def _forget_ended(_dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """A mark left by a return that failed half-way never spares the next user's rollback."""
    record.info.pop(ENDED, None)


def _reset(dbapi_connection: Any, record: Any, state: Any) -> None:
    """A connection back in the pool is rolled back, as SQLAlchemy does by default, unless
    the unit of work just ended its transaction: a commit is followed by no second round trip
    (docs/outages.md). ``state.asyncio_safe`` False: the pool only discards it."""
    ended = record is not None and record.info.pop(ENDED, False)
    if ended or state.transaction_was_reset or not state.asyncio_safe:
        return
    dbapi_connection.rollback()


def _sqlite_engine(url: str, *, echo: bool) -> AsyncEngine:
    engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30})

    # pysqlite's own transaction handling breaks SAVEPOINT; take it over (SQLAlchemy's recipe).
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
