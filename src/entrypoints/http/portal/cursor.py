"""Opaque page cursors: the client hands back what it was given, and nothing else works."""

from __future__ import annotations

import base64
import binascii

from litestar.exceptions import ValidationException

from entrypoints.http.portal.docs import MAX_ID

_PREFIX = "before:"


def encode_cursor(before_id: int) -> str:
    return base64.urlsafe_b64encode(f"{_PREFIX}{before_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The id the next page starts before; 400 for a cursor this API did not give out."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    number = text.removeprefix(_PREFIX)
    valid = text.startswith(_PREFIX) and number.isascii() and number.isdigit()
    if not valid or len(number) > 16 or int(number) > MAX_ID:
        raise ValidationException(
            "cursor is not one this API gave out",
            extra=[{"key": "cursor", "message": "use nextCursor of the previous page"}],
        )
    return int(number)
