"""Settings cached in Redis, shared by every worker and API process.

Each account has its entry and a generation counter. A reader that misses reads the database
and puts what it read only if the generation is still the one it saw with the miss: a writer
that committed and invalidated in between bumped it, so a value read before the change is
never cached after it (the "stale set" race that would hide a change for a whole TTL).
"""

from __future__ import annotations

from redis.asyncio import Redis
from redis.exceptions import RedisError

from application.ports.cache import CacheRead
from domain.errors import UpstreamUnavailable
from domain.settings import ChannelSetting
from infrastructure.cache.codec import decode_setting, encode_setting

#: SET the entry only if the generation is the caller's (a missing counter is "0").
_PUT_IF_GENERATION = """
local current = redis.call('GET', KEYS[2]) or '0'
if current ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1
"""
#: Generation counters outlive any read in flight by far; they need not live for ever.
_GENERATION_TTL_SECONDS = 86_400


class RedisSettingsCache:
    """Writers invalidate the key; the TTL bounds staleness if an invalidation is ever lost."""

    def __init__(self, client: Redis, prefix: str = "fdr-whatsapp:", ttl_seconds: int = 60) -> None:
        self._redis = client
        self._prefix = prefix
        self._ttl = ttl_seconds
        self._put = client.register_script(_PUT_IF_GENERATION)

    def _keys(self, account_id: int) -> tuple[str, str]:
        key = f"{self._prefix}settings:{account_id}"
        return key, f"{key}:generation"

    async def get(self, account_id: int) -> CacheRead:
        try:
            raw, generation = await self._redis.mget(self._keys(account_id))
        except RedisError as exc:
            raise UpstreamUnavailable(f"redis: {exc}") from exc
        seen = _text(generation) if generation is not None else "0"
        if raw is None:
            return CacheRead(None, seen)
        return CacheRead(decode_setting(raw if isinstance(raw, bytes) else raw.encode()), seen)

    async def put(self, setting: ChannelSetting, generation: str) -> None:
        try:
            await self._put(
                keys=list(self._keys(setting.account_id)),
                args=[generation, encode_setting(setting), self._ttl],
            )
        except RedisError as exc:
            raise UpstreamUnavailable(f"redis: {exc}") from exc

    async def invalidate(self, account_id: int) -> None:
        key, generation = self._keys(account_id)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.incr(generation)
                pipe.expire(generation, _GENERATION_TTL_SECONDS)
                pipe.delete(key)
                await pipe.execute()
        except RedisError as exc:
            raise UpstreamUnavailable(f"redis: {exc}") from exc


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
