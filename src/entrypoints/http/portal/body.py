"""Request bodies decoded strictly, as the OpenAPI document describes them.

Litestar converts bodies leniently (``0`` becomes ``false``, ``"3"`` becomes ``3``); a portal
that sends the wrong type should hear about it, not have it guessed. Handlers keep their typed
``data`` parameter for the document and decode the bytes again with a typed decoder built once.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec
from litestar import Request
from litestar.exceptions import ValidationException

T = TypeVar("T")

_AT_PATH = re.compile(r" - at `\$\.?([^`]*)`$")


async def strict_body(request: Request[Any, Any, Any], decoder: msgspec.json.Decoder[T]) -> T:
    try:
        return decoder.decode(await request.body())
    except msgspec.ValidationError as exc:
        text = str(exc)
        found = _AT_PATH.search(text)
        field = found.group(1) if found and found.group(1) else "body"
        message = _AT_PATH.sub("", text)
        raise ValidationException(text, extra=[{"key": field, "message": message}]) from None
    except msgspec.DecodeError as exc:
        raise ValidationException(str(exc), extra=[{"key": "body", "message": str(exc)}]) from None
