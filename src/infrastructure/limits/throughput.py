"""At most ``rate`` messages per second leave each sender number, across processes
(docs/meta.md#limits).

Sends are paced: one every ``1 / rate`` seconds per ``phone_number_id``, as GCRA's virtual
scheduling does it. Each send books the number's next slot in one Redis script call and
sleeps until it; the script keeps one time per number (its theoretical arrival time, TAT)
and reads the clock of Redis itself (``TIME``), so every process and host books on the same
clock. A number that was idle may send ``burst`` at once (GCRA's tolerance: a send may go
``burst - 1`` slots before its TAT; by default a tenth of a second's sends), so a pull's
events leave together; across processes any second then holds at most ``rate + burst - 1``
sends, and ``depart`` still holds one process to ``rate``.
Without Redis (or while it does not answer) each process books in its own memory instead
(logged once per outage) and tries Redis again every ``retry_shared_after`` seconds: sending
goes on, but with W workers a number may briefly see up to W x ``rate``; Meta then answers
130429, which the gateway already retries.

A slot is taken while the message is still ``queued`` (docs/sending.md): the in-flight write
comes after it, and a write that marks several messages at once (the batch's group commit)
would send them together. ``depart``, just before each request, holds a request back while
``rate`` of this process's requests from the number left in the last second (a moving window
of when they actually left, in memory).

Why pacing, not a window of ``rate`` sends a second: a window lets a second's ``rate`` sends
leave at the same instant. At the start of a backlog those first requests open connections
and wait on the in-flight write all together, reach Meta late, and bunch with the next
second's, which leave on time (112 in one second at limit 80: BENCHMARKS.md, Stop 13). Paced
sends leave one at a time: a late one can put at most a slot's worth more into a second. The
cost: beyond the burst, a pull's events leave a slot apart instead of together (latency, and
smaller group commits of the in-flight marks at high limits: BENCHMARKS.md, Stop 13).
The ``limits`` library, used before, has windows only (fixed, moving, sliding counter); the
script is a dozen lines, and one call per send replaces the window's hit, window read and retry of
each send that had to wait. A batch's sends from one number book their slots in one call
(``reserve``): the same slots as one call each at that instant, one round trip instead of many.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from infrastructure.cache.client import redis_client

DEFAULT_RATE = 80  # Meta's default per number; upgraded numbers get 1000
NAMESPACE = "wa-throughput"

#: KEYS[1]: the number's theoretical arrival time, TAT (µs of Redis's clock); ARGV[1]: µs
#: between two sends; ARGV[2]: the tolerance, µs a send may go before the TAT; ARGV[3]: how many
#: slots to book. Books each slot ``max(now, TAT - tolerance)`` and moves the TAT on by one
#: interval from ``max(TAT, now)``, as that many calls of one slot each would at the same
#: instant; returns how many µs until each booked slot, in order.
_BOOK_SLOTS = """
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local count = tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
local waits = {}
for i = 1, count do
  if tat < now then tat = now end
  local slot = tat - tolerance
  if slot < now then slot = now end
  waits[i] = slot - now
  tat = tat + interval
end
local keep_ms = math.floor((tat - now) / 1000) + 1000
redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', keep_ms)
return waits
"""


def default_burst(rate: int) -> int:
    """A tenth of a second's sends (at least one) may go at once (docs/meta.md#limits)."""
    return max(1, rate // 10)


class SlotBook(Protocol):
    async def book(
        self, number: str, interval: float, tolerance: float = 0.0, count: int = 1
    ) -> list[float]:
        """Books ``number``'s next ``count`` slots: each its theoretical arrival time (TAT)
        less ``tolerance`` seconds, not before now, the TAT moved on by ``interval`` after
        each (as ``count`` bookings of one at the same instant). Seconds until each slot."""

    async def aclose(self) -> None: ...


class MemorySlotBook:
    """Slots booked in this process: the limiter without Redis, and its fallback."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._now = monotonic
        self._next: dict[str, float] = {}  # per number: its theoretical arrival time

    async def book(
        self, number: str, interval: float, tolerance: float = 0.0, count: int = 1
    ) -> list[float]:
        now = self._now()
        tat = max(self._next.get(number, now), now)
        waits: list[float] = []
        for _ in range(count):
            waits.append(max(tat - tolerance, now) - now)
            tat += interval
        self._next[number] = tat
        if len(self._next) > 10_000:  # numbers long idle book from "now" anyway
            self._next = {n: t for n, t in self._next.items() if t > now}
        return waits

    async def aclose(self) -> None:
        return None


class RedisSlotBook:
    """Slots booked in Redis (``_BOOK_SLOTS``), shared by every process with the same prefix."""

    def __init__(self, client: Redis, key_prefix: str) -> None:
        self._client = client
        self._prefix = f"{key_prefix}{NAMESPACE}:"
        self._script = client.register_script(_BOOK_SLOTS)

    async def book(
        self, number: str, interval: float, tolerance: float = 0.0, count: int = 1
    ) -> list[float]:
        micros = await self._script(
            keys=[self._prefix + number],
            args=[round(interval * 1e6), round(tolerance * 1e6), count],
        )
        return [int(m) / 1e6 for m in micros]

    async def aclose(self) -> None:
        await self._client.aclose()


class PacedThroughputLimiter:
    """Lets each send go at its own slot, ``1 / rate`` seconds after the one before; a number
    that was idle may send ``burst`` at once (``default_burst``)."""

    def __init__(
        self,
        book: SlotBook,
        rate: int = DEFAULT_RATE,
        *,
        burst: int | None = None,
        fallback: SlotBook | None = None,
        retry_shared_after: float = 15.0,
        monotonic: Callable[[], float] = time.monotonic,
        max_storage_calls: int = 50,
    ) -> None:
        if rate < 1:
            raise ValueError("rate must be at least 1 message per second")
        burst = default_burst(rate) if burst is None else burst
        if burst < 1:
            raise ValueError("burst must be at least 1 message")
        self._rate = rate
        self._burst = burst
        self._interval = 1.0 / rate
        self._tolerance = (burst - 1) * self._interval  # GCRA's τ
        self._shared = book
        self._local = fallback or MemorySlotBook(monotonic)
        # Per number: when this process's last ``rate`` requests left (``depart``).
        self._left: dict[str, deque[float]] = {}
        self._retry_after = retry_shared_after
        self._now = monotonic
        self._degraded = False
        self._use_local_until = 0.0
        # redis-py refuses a command when all its pool's connections are busy; the limiter
        # would take that for Redis being down and count in this process only.
        self._storage_calls = asyncio.Semaphore(max_storage_calls)
        self._log = structlog.get_logger("throughput")

    @classmethod
    def in_process(
        cls, rate: int = DEFAULT_RATE, *, burst: int | None = None
    ) -> PacedThroughputLimiter:
        """For one process (no Redis): the slots are booked in memory."""
        return cls(MemorySlotBook(), rate, burst=burst)

    @classmethod
    def redis(
        cls,
        url: str,
        rate: int = DEFAULT_RATE,
        *,
        key_prefix: str = "fdr-whatsapp:",
        timeout: float = 1.0,
        burst: int | None = None,
    ) -> PacedThroughputLimiter:
        """Shared by every process using the same Redis and ``key_prefix``.

        ``timeout`` bounds how long a send waits on an unanswering Redis before falling back.
        """
        return cls(RedisSlotBook(redis_client(url, timeout), key_prefix), rate, burst=burst)

    @property
    def rate(self) -> int:
        return self._rate

    @property
    def burst(self) -> int:
        return self._burst

    @property
    def degraded(self) -> bool:
        """True while Redis is unreachable and this process counts on its own."""
        return self._degraded

    async def acquire(self, phone_number_id: str) -> None:
        await self.wait_for((await self.reserve(phone_number_id, 1))[0])

    async def reserve(self, phone_number_id: str, count: int) -> list[float]:
        """Books ``count`` slots of the number at once, in one call to the book (a batch's
        sends from one number: one round trip to Redis, not one each); when each comes, in
        this limiter's monotonic clock, in order. Each send waits for its own (``wait_for``)."""
        waits = await self._book(phone_number_id, count)
        now = self._now()  # after the answer: a slot is kept late, never early
        return [now + wait for wait in waits]

    async def wait_for(self, slot: float) -> None:
        """Sleeps until ``slot`` (one of ``reserve``'s)."""
        wait = slot - self._now()
        if wait > 0:
            await asyncio.sleep(wait)

    def come(self, slot: float) -> bool:
        return slot <= self._now()

    async def depart(self, phone_number_id: str) -> None:
        """Holds a request back while ``rate`` of this process's requests from the number left
        within the last second: the work between a slot and its request (the in-flight write,
        a busy event loop) may bunch sends whose slots were apart, as a group commit that marks
        several in flight at once does. Counted as they leave, a late one costs nothing more
        than its lateness, and the sends go on at the full rate."""
        left = self._left.get(phone_number_id)
        if left is None:
            if len(self._left) > 10_000:  # numbers idle for a second hold nothing back
                now = self._now()
                self._left = {n: d for n, d in self._left.items() if d and d[-1] > now - 1.0}
            left = self._left[phone_number_id] = deque(maxlen=self._rate)
        while len(left) == self._rate:
            wait = left[0] + 1.0 - self._now()
            if wait <= 0:
                break
            await asyncio.sleep(wait)
        left.append(self._now())

    async def _book(self, phone_number_id: str, count: int) -> list[float]:
        while not (self._degraded and self._now() < self._use_local_until):
            try:
                async with self._storage_calls:
                    waits = await self._shared.book(
                        phone_number_id, self._interval, self._tolerance, count
                    )
            except (RedisError, OSError) as exc:
                self._degrade(exc)  # in this process until retry_shared_after has passed
                continue
            self._recovered()
            return waits
        return await self._local.book(phone_number_id, self._interval, self._tolerance, count)

    async def aclose(self) -> None:
        """Closes the Redis connections (nothing to do in process)."""
        await self._shared.aclose()

    def _degrade(self, exc: Exception) -> None:
        self._use_local_until = self._now() + self._retry_after
        if not self._degraded:
            self._degraded = True
            self._log.warning(
                "throughput limiter storage unreachable; limiting in this process only",
                problem=type(exc).__name__,
                retry_after_seconds=self._retry_after,
            )

    def _recovered(self) -> None:
        if self._degraded:
            self._degraded = False
            self._log.info("throughput limiter storage reachable again; limits are shared")
