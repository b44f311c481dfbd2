"""Settings cached in Redis, shared by every worker and API process."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.exceptions import RedisError

from domain.errors import UpstreamUnavailable
from domain.settings import ChannelSetting
from infrastructure.cache.codec import decode_setting, encode_setting


class RedisSettingsCache:
    """Writers invalidate the key; the TTL bounds staleness if an invalidation is ever lost."""

    def __init__(self, client: Redis, prefix: str = "fdr-whatsapp:", ttl_seconds: int = 60) -> None:
        self._redis = client
        self._prefix = prefix
        self._ttl = ttl_seconds

    def _key(self, account_id: int) -> str:
        return f"{self._prefix}settings:{account_id}"

    async def get(self, account_id: int) -> ChannelSetting | None:
        try:
            raw = await self._redis.get(self._key(account_id))
        except RedisError as exc:
            raise UpstreamUnavailable(f"redis: {exc}") from exc
        if raw is None:
            return None
        return decode_setting(raw if isinstance(raw, bytes) else raw.encode())

    async def put(self, setting: ChannelSetting) -> None:
        try:
            await self._redis.set(
                self._key(setting.account_id), encode_setting(setting), ex=self._ttl
            )
        except RedisError as exc:
            raise UpstreamUnavailable(f"redis: {exc}") from exc

    async def invalidate(self, account_id: int) -> None:
        try:
            await self._redis.delete(self._key(account_id))
        except RedisError as exc:
            raise UpstreamUnavailable(f"redis: {exc}") from exc
