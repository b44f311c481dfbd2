"""Settings cached in this process for a short time (no Redis configured)."""

from __future__ import annotations

import time
from collections.abc import Callable

from domain.settings import ChannelSetting


class InProcessSettingsCache:
    """Entries live ``ttl`` seconds: other processes' changes are seen within that time."""

    def __init__(self, ttl: float = 1.0, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._now = monotonic
        self._entries: dict[int, tuple[float, ChannelSetting]] = {}

    async def get(self, account_id: int) -> ChannelSetting | None:
        entry = self._entries.get(account_id)
        if entry is None:
            return None
        expires, setting = entry
        if self._now() >= expires:
            self._entries.pop(account_id, None)
            return None
        return setting

    async def put(self, setting: ChannelSetting) -> None:
        self._entries[setting.account_id] = (self._now() + self._ttl, setting)

    async def invalidate(self, account_id: int) -> None:
        self._entries.pop(account_id, None)
