"""One item's step in a batch: its error is that item's (to be delivered again), not the
batch's."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def isolated(step: Awaitable[T]) -> T | Exception:
    """``step``'s result, or the error it raised, returned rather than raised."""
    try:
        return await step
    except Exception as exc:
        return exc
