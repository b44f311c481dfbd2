"""Settings cached in Redis, shared by every worker and API process.

Each account has its entry and a generation counter. A reader that misses reads the database
and puts what it read only if the generation is still the one it saw with the miss: a writer
that committed and invalidated in between bumped it, so a value read before the change is
never cached after it (the "stale set" race that would hide a change for a whole TTL).

An entry expires ``max_age`` seconds after the miss that led to it, on Redis's clock: a put
delayed in a frozen Redis's socket and run when it resumes, or an invalidation lost while
Redis was down, can hide a change for that long at most (docs/outages.md).
"""

from __future__ import annotations

from redis.asyncio import Redis
from redis.exceptions import RedisError

from application.ports.cache import SETTINGS_MAX_AGE_SECONDS, CacheRead
from domain.errors import UpstreamUnavailable
from domain.settings import ChannelSetting
from infrastructure.cache.codec import decode_setting, encode_setting

#: SET the entry only if the generation is the caller's (a missing counter is "0"), to expire
#: at ARGV[3] (ms on Redis's clock); an expiry already past caches nothing.
_PUT_IF_GENERATION = """
local current = redis.call('GET', KEYS[2]) or '0'
if current ~= ARGV[1] then return 0 end
local now = redis.call('TIME')
local left = tonumber(ARGV[3]) - (tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000))
if left <= 0 then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', left)
return 1
"""
#: Generation counters outlive any read in flight by far; they need not live for ever.
_GENERATION_TTL_SECONDS = 86_400


class RedisSettingsCache:
    """Writers invalidate the key; ``max_age`` bounds staleness if an invalidation is lost."""

    def __init__(
        self,
        client: Redis,
        prefix: str = "fdr-whatsapp:",
        max_age_seconds: float = SETTINGS_MAX_AGE_SECONDS,
    ) -> None:
        self._redis = client
        self._prefix = prefix
        self._max_age_ms = int(max_age_seconds * 1000)
        self._put = client.register_script(_PUT_IF_GENERATION)

    def _keys(self, account_id: int) -> tuple[str, str]:
        key = f"{self._prefix}settings:{account_id}"
        return key, f"{key}:generation"

    async def get(self, account_id: int) -> CacheRead:
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.mget(self._keys(account_id))
                pipe.time()
                (raw, generation), (seconds, micros) = await pipe.execute()
        except RedisError as exc:
            raise UpstreamUnavailable(f"redis: {exc}") from exc
        seen = _text(generation) if generation is not None else "0"
        if raw is None:
            # The token carries when the miss was seen: what the reader puts next is at
            # most as fresh as that.
            return CacheRead(None, f"{seen}@{int(seconds) * 1000 + int(micros) // 1000}")
        return CacheRead(decode_setting(raw if isinstance(raw, bytes) else raw.encode()), seen)

    async def put(self, setting: ChannelSetting, generation: str) -> None:
        seen, _, missed_at = generation.partition("@")
        if not missed_at:
            return  # not a miss's token: nothing to cache
        try:
            await self._put(
                keys=list(self._keys(setting.account_id)),
                args=[seen, encode_setting(setting), int(missed_at) + self._max_age_ms],
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
