"""JSON bodies the app cannot read (nested too deeply, not UTF-8): a 400, never a 500."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.exceptions import SerializationException


class JsonBodyRequest(Request[Any, Any, Any]):
    """msgspec stops at its nesting limit with ``RecursionError`` and at bytes that are not UTF-8
    inside a string with ``UnicodeDecodeError``; Litestar turns only ``SerializationException``
    into a 400, so those two are translated here, where the body is decoded."""

    async def json(self) -> Any:
        try:
            return await super().json()
        except RecursionError:
            raise SerializationException("the JSON body is nested too deeply") from None
        except UnicodeDecodeError:
            raise SerializationException("the JSON body is not valid UTF-8") from None
