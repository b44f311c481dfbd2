"""The settings cache: workspace settings read on every event, changed rarely."""

from __future__ import annotations

from typing import Protocol

from domain.settings import ChannelSetting


class SettingsCache(Protocol):
    async def get(self, account_id: int) -> ChannelSetting | None:
        """None on a miss; raises ``UpstreamUnavailable`` when the cache cannot be reached."""

    async def put(self, setting: ChannelSetting) -> None: ...

    async def invalidate(self, account_id: int) -> None: ...
