"""At most ``rate`` messages per second leave each sender number, across processes
(docs/meta.md#limits).

A moving window per ``phone_number_id`` kept by the ``limits`` library: in Redis when several
workers send from the same number, in process memory otherwise. If Redis stops answering, each
process falls back to its own in-memory window (logged once per outage) and tries Redis again
every ``retry_shared_after`` seconds: sending goes on, but with W workers a number may briefly
see up to W x ``rate``; Meta then answers 130429, which the gateway already retries.

The window holds the times limits stamps hits, taken just before the Redis round trip: a send
goes out that long after its stamp (under a millisecond on a warm pool, tens of ms while a burst
opens new connections), so at a cold start a second can see a few messages more than ``rate``.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable

import structlog
from limits import RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from redis.asyncio import Redis

from infrastructure.cache.client import fail_fast_retry

DEFAULT_RATE = 80  # Meta's default per number; upgraded numbers get 1000
NAMESPACE = "wa-throughput"


def _limits_redis_uri(url: str) -> str:
    """``redis://h:6379/0`` as ``limits`` spells it (``async+redis://...``)."""
    if url.startswith("async+"):
        return url
    if url.startswith("unix://"):
        return "async+redis+unix://" + url.removeprefix("unix://")
    return "async+" + url


class LimitsThroughputLimiter:
    """Waits, without busy-looping, until the sender's window has room for one more message."""

    def __init__(
        self,
        storage: Storage,
        rate: int = DEFAULT_RATE,
        *,
        fallback: Storage | None = None,
        jitter: float = 0.005,
        retry_shared_after: float = 15.0,
        monotonic: Callable[[], float] = time.monotonic,
        max_storage_calls: int = 50,
    ) -> None:
        if rate < 1:
            raise ValueError("rate must be at least 1 message per second")
        self._storage = storage
        self._shared = MovingWindowRateLimiter(storage)
        self._local = MovingWindowRateLimiter(fallback or MemoryStorage())
        self._item = RateLimitItemPerSecond(rate, 1, namespace=NAMESPACE)
        self._jitter = jitter
        self._retry_after = retry_shared_after
        self._now = monotonic
        self._degraded = False
        self._use_local_until = 0.0
        self._lines: dict[str, asyncio.Lock] = {}  # per sender number: who waits for a slot
        # redis-py refuses a command when all its pool's connections (100) are busy; the
        # limiter would take that for Redis being down and count in this process only.
        self._storage_calls = asyncio.Semaphore(max_storage_calls)
        self._log = structlog.get_logger("throughput")

    @classmethod
    def in_process(cls, rate: int = DEFAULT_RATE) -> LimitsThroughputLimiter:
        """For one process (no Redis): the window lives in memory."""
        return cls(MemoryStorage(), rate)

    @classmethod
    def redis(
        cls,
        url: str,
        rate: int = DEFAULT_RATE,
        *,
        key_prefix: str = "fdr-whatsapp:",
        timeout: float = 1.0,
    ) -> LimitsThroughputLimiter:
        """Shared by every process using the same Redis and ``key_prefix``.

        ``timeout`` bounds how long a send waits on an unanswering Redis before falling back.
        """
        storage = RedisStorage(
            _limits_redis_uri(url),
            wrap_exceptions=True,
            implementation="redispy",
            # limits joins prefix and key with ":" itself.
            key_prefix=key_prefix.rstrip(":"),
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
            # redis-py would retry a timed-out hit 10 times with backoff: a send would wait
            # on a frozen Redis for many seconds instead of falling back after ``timeout``.
            retry=fail_fast_retry(),  # type: ignore[arg-type]
        )
        return cls(storage, rate)

    @property
    def rate(self) -> int:
        return self._item.amount

    @property
    def degraded(self) -> bool:
        """True while Redis is unreachable and this process counts on its own."""
        return self._degraded

    async def acquire(self, phone_number_id: str) -> None:
        line = self._lines.setdefault(phone_number_id, asyncio.Lock())
        free_at = 0.0  # (monotonic) when the window may have a slot, as the storage last said
        if not line.locked():
            wait = await self._attempt(phone_number_id)
            if wait is None:
                return
            free_at = self._now() + wait
        # Senders that must wait queue up, and only the first asks the storage when the next
        # slot frees: with every waiter asking, each freed slot cost one or two storage round
        # trips per waiter (hundreds under a backlog), which took the CPU the sends needed.
        async with line:
            while True:
                # What the storage said before the queue is still true: not asked again early.
                await asyncio.sleep(max(free_at - self._now(), 0.0))
                wait = await self._attempt(phone_number_id)
                if wait is None:
                    return
                free_at = self._now() + wait

    async def _attempt(self, phone_number_id: str) -> float | None:
        """Takes a slot (None), or says how long until the window may have one."""
        while True:
            limiter = self._limiter()
            try:
                async with self._storage_calls:
                    if await limiter.hit(self._item, phone_number_id):
                        if limiter is self._shared:
                            self._recovered()
                        return None
                    stats = await limiter.get_window_stats(self._item, phone_number_id)
            except StorageError as exc:
                if limiter is self._local:
                    raise  # pragma: no cover - memory storage does not fail
                self._degrade(exc)
                continue
            return self._wait(stats.reset_time)

    async def aclose(self) -> None:
        """Closes the Redis connections ``limits`` opened (nothing to do in process)."""
        if isinstance(self._storage, RedisStorage):
            # limits keeps its redis-py client on the bridge and offers no close of its own.
            client = getattr(self._storage.bridge, "storage", None)
            if isinstance(client, Redis):
                await client.aclose()

    def _limiter(self) -> MovingWindowRateLimiter:
        if self._degraded and self._now() < self._use_local_until:
            return self._local
        return self._shared

    def _wait(self, reset_time: float) -> float:
        # reset_time is when the oldest hit leaves the window (wall clock, as limits keeps it);
        # the jitter keeps waiting senders from all waking in the same millisecond.
        until_free = min(max(reset_time - time.time(), 0.0), float(self._item.get_expiry()))
        return until_free + 0.001 + random.random() * self._jitter  # noqa: S311 - not a secret

    def _degrade(self, exc: StorageError) -> None:
        self._use_local_until = self._now() + self._retry_after
        if not self._degraded:
            self._degraded = True
            self._log.warning(
                "throughput limiter storage unreachable; limiting in this process only",
                problem=type(exc.storage_error).__name__,
                retry_after_seconds=self._retry_after,
            )

    def _recovered(self) -> None:
        if self._degraded:
            self._degraded = False
            self._log.info("throughput limiter storage reachable again; limits are shared")
