"""The one in-process cache: entries expire after ``ttl`` seconds, with a generation guard."""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from cachetools import TTLCache

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class TtlCache(Generic[K, V]):
    """Values kept ``ttl`` seconds, at most ``maxsize`` of them (the least recently used go
    first), on cachetools' ``TTLCache``.

    The generation guard: read ``generation(key)`` before asking the source, and pass it to
    ``put``. If ``invalidate(key)`` or ``clear()`` ran in between, the answer may predate the
    change and is not stored (the next reader asks the source again).
    """

    def __init__(
        self,
        ttl: float,
        *,
        maxsize: int = 10_000,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._entries: TTLCache[K, V] = TTLCache(maxsize=maxsize, ttl=ttl, timer=monotonic)
        # One counter for every change, so a token read before any later change differs.
        self._changes = 0
        self._changed: dict[K, int] = {}
        self._cleared = 0

    def get(self, key: K) -> V | None:
        return self._entries.get(key)

    def generation(self, key: K) -> int:
        return max(self._changed.get(key, 0), self._cleared)

    def put(self, key: K, value: V, generation: int | None = None) -> bool:
        """Stores ``value`` unless the key changed since ``generation`` was read."""
        if generation is not None and generation != self.generation(key):
            return False
        self._entries[key] = value
        return True

    def invalidate(self, key: K) -> None:
        self._changes += 1
        self._changed[key] = self._changes
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._changes += 1
        self._cleared = self._changes
        self._entries.clear()
