"""Telling a duplicate key apart from every other integrity error, per database."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

_MYSQL_DUPLICATE_ENTRY = 1062


def is_duplicate_key(exc: IntegrityError) -> bool:
    orig = exc.orig
    args = getattr(orig, "args", ())
    if args and args[0] == _MYSQL_DUPLICATE_ENTRY:
        return True
    return "UNIQUE constraint failed" in str(orig)
