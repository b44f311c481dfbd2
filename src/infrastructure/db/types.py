"""Column types that behave the same on MySQL and SQLite."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, overload

from sqlalchemy import BigInteger, DateTime, Dialect, Integer, LargeBinary, String, Text
from sqlalchemy.dialects import mysql
from sqlalchemy.types import TypeDecorator

from domain.errors import UnreadableRecord
from infrastructure.db.engine import MARIADB_DIALECTS

#: BIGINT primary keys; SQLite only auto-increments a column declared INTEGER.
BigId = BigInteger().with_variant(Integer(), "sqlite")

#: TEXT on MySQL holds 64 KB; webhook payloads and message bodies may be larger.
LongText = Text().with_variant(mysql.MEDIUMTEXT(), *MARIADB_DIALECTS)

#: Meta's ids (wamids) and our own references: case matters, so binary collation on MySQL.
WaId = String(255).with_variant(
    mysql.VARCHAR(255, charset="ascii", collation="ascii_bin"), *MARIADB_DIALECTS
)
RefId = String(128).with_variant(
    mysql.VARCHAR(128, charset="ascii", collation="ascii_bin"), *MARIADB_DIALECTS
)

#: Raw webhook bodies (Meta allows 3 MB).
LongBytes = LargeBinary().with_variant(mysql.LONGBLOB(), *MARIADB_DIALECTS)


@overload
def as_naive_utc(value: datetime) -> datetime: ...
@overload
def as_naive_utc(value: None) -> None: ...
def as_naive_utc(value: datetime | None) -> datetime | None:
    """What a UTC column stores: naive UTC (a naive value is taken as UTC already)."""
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


def as_aware_utc(value: datetime | None) -> datetime | None:
    """What a UTC column gives back: aware UTC."""
    if value is None:
        return None
    try:
        return value.replace(tzinfo=UTC)
    except TypeError:  # str.replace: the driver's text for a zero date
        raise UnreadableRecord(f"a date stored as {value!r} (a zero date)") from None


def stored_times(
    table: str, row_id: object, created_at: datetime, updated_at: datetime
) -> tuple[datetime, datetime]:
    """A row's NOT NULL ``created_at`` and ``updated_at`` as the driver returns them (naive
    UTC), aware; ``UnreadableRecord`` naming the row when one is a zero date (text, or NULL
    from a prepared statement)."""
    try:
        return created_at.replace(tzinfo=UTC), updated_at.replace(tzinfo=UTC)
    except (AttributeError, TypeError):
        given = {"created_at": created_at, "updated_at": updated_at}
        bad = [
            f"{name} {value!r}" for name, value in given.items() if not isinstance(value, datetime)
        ]
        raise UnreadableRecord(
            f"{table} row {row_id}: {', '.join(bad)} stored (a zero date)"
        ) from None


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out; stored naive UTC with microseconds."""

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name in MARIADB_DIALECTS:
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return as_naive_utc(value)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return as_aware_utc(value)
