"""Settings while the shared cache is down: from the database, each copy kept at most the bound,
the cache left alone for a while after it failed, and the outage logged once."""

from __future__ import annotations

import structlog

from application.ports.cache import CacheRead
from application.services import SettingsReader
from domain.errors import UpstreamUnavailable
from domain.settings import ChannelSetting
from tests.conftest import UowFactory, new_id


class DownCache:
    """A settings cache that does not answer, counting how often it is asked."""

    def __init__(self) -> None:
        self.asked = 0

    async def get(self, account_id: int) -> CacheRead:
        self.asked += 1
        raise UpstreamUnavailable("redis: Timeout reading from socket")

    async def put(self, setting: ChannelSetting, generation: str) -> None:
        raise AssertionError("nothing is put into a cache that is down")

    async def invalidate(self, account_id: int) -> None:
        raise AssertionError("not called here")


async def test_while_the_cache_is_down_a_change_is_seen_within_the_bound(
    new_uow: UowFactory,
) -> None:
    account, now = new_id(), [1000.0]

    async def save(setting: ChannelSetting) -> None:
        async with new_uow() as uow:
            await uow.settings.save(setting)
            await uow.commit()

    await save(ChannelSetting(account_id=account, whatsapp_enabled=True))
    cache = DownCache()
    reader = SettingsReader(
        cache,
        max_age=30.0,
        retry_cache_after=5.0,
        monotonic=lambda: now[0],
    )

    async def enabled() -> bool:
        async with new_uow() as uow:
            return (await reader.get(uow, account)).whatsapp_enabled

    with structlog.testing.capture_logs() as logs:
        assert await enabled()  # from the database
        await save(ChannelSetting(account_id=account, whatsapp_enabled=False))
        now[0] += 29.9
        assert await enabled()  # this process's copy, read 29.9 s ago
        now[0] += 0.1
        assert not await enabled()  # 30 s: read again
        now[0] += 100
        assert not await enabled()
    # Asked once, then left alone for 5 s at a time; each failure is not a log line.
    assert cache.asked == 3
    assert [line["event"] for line in logs] == ["settings cache unavailable, reading the database"]
    assert reader.cache_down
