"""Settings cached in this process for a short time (no Redis configured)."""

from __future__ import annotations

import time
from collections.abc import Callable

from application.ports.cache import CacheRead
from application.ttl_cache import TtlCache
from domain.settings import ChannelSetting


class InProcessSettingsCache:
    """Entries live ``ttl`` seconds: other processes' changes are seen within that time."""

    def __init__(self, ttl: float = 1.0, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._cache: TtlCache[int, ChannelSetting] = TtlCache(ttl, monotonic=monotonic)

    async def get(self, account_id: int) -> CacheRead:
        return CacheRead(self._cache.get(account_id), str(self._cache.generation(account_id)))

    async def put(self, setting: ChannelSetting, generation: str) -> None:
        # Refused when invalidated since that read: the value may predate the change.
        self._cache.put(setting.account_id, setting, int(generation))

    async def invalidate(self, account_id: int) -> None:
        self._cache.invalidate(account_id)
