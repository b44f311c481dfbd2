"""The settings cache: workspace settings read on every event, changed rarely."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from domain.settings import ChannelSetting

#: A settings change is seen by every process within this many seconds, whatever the cache
#: does (down, frozen, an invalidation lost): no copy of a setting is served longer after it
#: was read from the database (docs/outages.md).
SETTINGS_MAX_AGE_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class CacheRead:
    setting: ChannelSetting | None  # None: a miss
    #: The entry's generation when it was read: a put after a miss presents it, and is refused
    #: when an invalidation came in between (the value read from the database may predate it).
    generation: str


class SettingsCache(Protocol):
    async def get(self, account_id: int) -> CacheRead:
        """Raises ``UpstreamUnavailable`` when the cache cannot be reached."""

    async def put(self, setting: ChannelSetting, generation: str) -> None:
        """Caches ``setting`` unless the account was invalidated since the read that returned
        ``generation``."""

    async def invalidate(self, account_id: int) -> None:
        """After a change is committed: drops the entry and refuses puts of older reads."""
