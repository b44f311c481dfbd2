"""Redis clients that fail fast: a Redis that stopped answering costs one socket timeout.

redis-py retries a command 10 times with backoff by default (10 s or more against a frozen
Redis, for every settings read and every limiter hit). The service has a fallback for each use
(the database, a per-process window), so a command that times out is given up at once; only a
broken connection (Redis restarted) is retried once, on a fresh one.
"""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

#: Seconds a Redis command (or connect) may take before Redis counts as unavailable.
REDIS_TIMEOUT_SECONDS = 0.5


def fail_fast_retry() -> Retry:
    return Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,))


def redis_client(url: str, timeout: float = REDIS_TIMEOUT_SECONDS) -> Redis:
    return Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=fail_fast_retry(),
        health_check_interval=30,
    )
