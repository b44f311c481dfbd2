"""Settings cached in this process for a short time (no Redis configured)."""

from __future__ import annotations

import time
from collections.abc import Callable

from application.ports.cache import CacheRead
from domain.settings import ChannelSetting


class InProcessSettingsCache:
    """Entries live ``ttl`` seconds: other processes' changes are seen within that time."""

    def __init__(self, ttl: float = 1.0, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._now = monotonic
        self._entries: dict[int, tuple[float, ChannelSetting]] = {}
        self._generations: dict[int, int] = {}

    async def get(self, account_id: int) -> CacheRead:
        generation = str(self._generations.get(account_id, 0))
        entry = self._entries.get(account_id)
        if entry is None:
            return CacheRead(None, generation)
        expires, setting = entry
        if self._now() >= expires:
            self._entries.pop(account_id, None)
            return CacheRead(None, generation)
        return CacheRead(setting, generation)

    async def put(self, setting: ChannelSetting, generation: str) -> None:
        if str(self._generations.get(setting.account_id, 0)) != generation:
            return  # invalidated since that read: the value may predate the change
        self._entries[setting.account_id] = (self._now() + self._ttl, setting)

    async def invalidate(self, account_id: int) -> None:
        self._generations[account_id] = self._generations.get(account_id, 0) + 1
        self._entries.pop(account_id, None)
