"""The settings cache contract, in process and on Redis."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from application.ports.cache import SettingsCache
from domain.errors import UpstreamUnavailable
from domain.reasons import FdrReason
from domain.settings import ChannelSetting
from infrastructure.cache.memory import InProcessSettingsCache
from infrastructure.cache.redis import RedisSettingsCache
from tests.conftest import new_id


@pytest.fixture(params=["memory", "redis"])
def cache(request: pytest.FixtureRequest) -> SettingsCache:
    if request.param == "memory":
        return InProcessSettingsCache(ttl=60)
    client: Redis = request.getfixturevalue("redis_client")
    prefix: str = request.getfixturevalue("redis_prefix")
    return RedisSettingsCache(client, prefix=prefix)


async def test_a_put_setting_is_read_back_until_invalidated(cache: SettingsCache) -> None:
    setting = ChannelSetting(
        account_id=new_id(),
        whatsapp_enabled=True,
        sender_connection_id=482,
        templates={FdrReason.PAYMENT_ISSUE: 9},
    )
    miss = await cache.get(setting.account_id)
    assert miss.setting is None
    await cache.put(setting, miss.generation)
    assert (await cache.get(setting.account_id)).setting == setting
    await cache.invalidate(setting.account_id)
    assert (await cache.get(setting.account_id)).setting is None


async def test_a_value_read_before_a_change_is_not_cached_after_it(cache: SettingsCache) -> None:
    account = new_id()
    before = ChannelSetting(account_id=account)
    after = ChannelSetting(account_id=account, whatsapp_enabled=True)
    # A reader misses and reads the database (the workspace still off)...
    miss = await cache.get(account)
    # ...meanwhile the portal commits "on" and invalidates...
    await cache.invalidate(account)
    # ...then the reader caches what it read: refused, or "off" would be served for a TTL.
    await cache.put(before, miss.generation)
    assert (await cache.get(account)).setting is None
    # The next reader reads "on" and caches it.
    fresh = await cache.get(account)
    await cache.put(after, fresh.generation)
    assert (await cache.get(account)).setting == after


async def test_a_redis_entry_lives_at_most_the_bound_after_the_miss_it_answers(
    redis_client: Redis, redis_prefix: str
) -> None:
    """A put delayed past the bound (held in a frozen Redis's socket, say) caches nothing:
    what it carries was read from the database before the bound began."""
    cache = RedisSettingsCache(redis_client, prefix=redis_prefix, max_age_seconds=0.5)
    late, timely = ChannelSetting(account_id=new_id()), ChannelSetting(account_id=new_id())
    late_miss = await cache.get(late.account_id)
    timely_miss = await cache.get(timely.account_id)
    await cache.put(timely, timely_miss.generation)
    await asyncio.sleep(0.6)
    await cache.put(late, late_miss.generation)
    assert (await cache.get(late.account_id)).setting is None
    assert (await cache.get(timely.account_id)).setting is None  # expired with its bound


async def test_in_process_entries_expire() -> None:
    now = [100.0]
    cache = InProcessSettingsCache(ttl=1.0, monotonic=lambda: now[0])
    await cache.put(ChannelSetting(account_id=1), (await cache.get(1)).generation)
    now[0] += 0.99
    assert (await cache.get(1)).setting is not None
    now[0] += 0.02
    assert (await cache.get(1)).setting is None


async def test_redis_down_is_reported_not_hidden() -> None:
    client = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    try:
        with pytest.raises(UpstreamUnavailable):
            await RedisSettingsCache(client).get(1)
    finally:
        await client.aclose()
