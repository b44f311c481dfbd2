"""Dates from query strings: RFC 3339 only, naive means UTC, and what the databases cannot hold
is clamped."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
from litestar.exceptions import ValidationException

#: MariaDB's DATETIME range.
EARLIEST = datetime(1000, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 12, 31, tzinfo=UTC)


def moment(text: str | None, name: str) -> datetime | None:
    """``text`` as an aware UTC datetime; 400 for anything but an RFC 3339 date-time."""
    if text is None:
        return None
    try:
        value = msgspec.convert(text, datetime)
    except msgspec.ValidationError:
        raise ValidationException(
            f"`{name}` is not a date-time",
            extra=[
                {"key": name, "message": "must be an ISO 8601 date-time, e.g. 2026-11-20T10:30:00Z"}
            ],
        ) from None
    return utc(value)


def utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        value = value.astimezone(UTC)
    except OverflowError:  # year 1 or 9999 shifted out of range by its offset
        return EARLIEST if value.year < 5000 else LATEST
    return min(max(value, EARLIEST), LATEST)


def check_order(start: datetime | None, end: datetime | None) -> None:
    if start is not None and end is not None and start >= end:
        raise ValidationException(
            "`from` must be earlier than `to`",
            extra=[{"key": "from", "message": "must be earlier than `to`"}],
        )
