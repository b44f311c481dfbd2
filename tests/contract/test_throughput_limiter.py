"""The sender throughput limiter, in process and on Redis: never more than the rate per second,
but for the burst an idle number may send at once (docs/meta.md#limits)."""

from __future__ import annotations

import asyncio
import bisect
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import httpx
import pytest
import pytest_asyncio
import structlog
from redis.exceptions import ConnectionError as RedisConnectionError

from infrastructure.limits.throughput import MemorySlotBook, PacedThroughputLimiter
from tests.conftest import new_id
from tests.support import services

RATE = 20
# Redis books on its clock, these tests stamp with the monotonic one: a hair of slack.
WINDOW = 1.0 - 0.01


@dataclass
class Backend:
    new: Callable[..., PacedThroughputLimiter]  # another limiter on the same shared state


@pytest_asyncio.fixture(loop_scope="session")
async def opened() -> AsyncIterator[list[PacedThroughputLimiter]]:
    limiters: list[PacedThroughputLimiter] = []
    yield limiters
    for limiter in limiters:
        await limiter.aclose()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def backend(request: pytest.FixtureRequest, opened: list[PacedThroughputLimiter]) -> Backend:
    if request.param == "memory":
        book = MemorySlotBook()  # one process: its limiters share the book

        def new_in_process(rate: int, burst: int | None = None) -> PacedThroughputLimiter:
            return PacedThroughputLimiter(book, rate, burst=burst)

        return Backend(new_in_process)

    prefix: str = request.getfixturevalue("redis_prefix")

    def new_on_redis(rate: int, burst: int | None = None) -> PacedThroughputLimiter:
        # Each limiter opens its own connections, like a separate worker process.
        # A generous timeout: these cases are about sharing the rate, not about a Redis that
        # stalls (a busy box can take over a second to answer; the fallback would then count).
        limiter = PacedThroughputLimiter.redis(
            services.REDIS_URL, rate, key_prefix=prefix, timeout=10.0, burst=burst
        )
        opened.append(limiter)
        return limiter

    return Backend(new_on_redis)


def sender_number() -> str:
    return f"1065{new_id()}"


async def warm(*limiters: PacedThroughputLimiter) -> None:
    """Opens the connections the tests' bursts will use, as a running worker has them.

    On a cold pool the first bookings also open connections (tens of ms for a burst), which
    would show up as measurement error in the tests that stamp when a send is let go.
    """
    for limiter in limiters:
        await asyncio.gather(*(limiter.acquire(f"warm-{new_id()}") for _ in range(3 * RATE)))


async def acquire_all(limiters: list[PacedThroughputLimiter], number: str, n: int) -> list[float]:
    """``n`` concurrent sends from ``number``, spread over ``limiters``; when each was let go."""
    stamps: list[float] = []

    async def send(limiter: PacedThroughputLimiter) -> None:
        await limiter.acquire(number)
        stamps.append(time.monotonic())

    await asyncio.gather(*(send(limiters[i % len(limiters)]) for i in range(n)))
    return sorted(stamps)


def assert_paced(stamps: list[float], started: float, rate: int, burst: int = 1) -> None:
    """No more than ``rate + burst - 1`` acquisitions in the first second of a backlog,
    ``2 * rate + burst - 1`` in the first two... for sends all asked for at ``started`` from an
    idle number (``burst - 1``: the sends its tolerance lets go early).

    A send is let go (stamped here) some time after the limiter granted it: a Redis round trip
    and the event loop's turn, which on a busy machine can be long. Checking each window of the
    stamps would take that lateness for a burst; counting from the moment all were asked for is
    sound whatever it is: lateness only makes a stamp later. A limiter that lets a burst
    through, or lets twice the rate through evenly, still fails.
    """
    extra = burst - 1
    for window in range(1, (len(stamps) - extra - 1) // rate + 1):
        assert stamps[window * rate + extra] - started >= window * WINDOW, (
            f"{window * rate + extra + 1} sends within {window} s"
        )


async def test_one_number_never_gets_more_than_the_rate(backend: Backend) -> None:
    limiter = backend.new(RATE)
    await warm(limiter)
    started = time.monotonic()

    stamps = await acquire_all([limiter], sender_number(), 3 * RATE)

    assert_paced(stamps, started, RATE, limiter.burst)
    # Paced, 3N take three seconds less one slot; waiting much longer than that would waste
    # throughput (the bound is loose: a busy machine lets sends go late; a limiter that held
    # each send twice as long would take six).
    assert stamps[-1] - started < 3 + 2.5


async def test_a_second_number_is_not_slowed_by_the_first(backend: Backend) -> None:
    limiter = backend.new(RATE)
    await warm(limiter)
    busy, quiet = sender_number(), sender_number()
    started = time.monotonic()
    backlog = asyncio.create_task(acquire_all([limiter], busy, 4 * RATE))
    await asyncio.sleep(0)  # the busy number's sends have booked the next four seconds

    quiet_started = time.monotonic()
    await limiter.acquire(quiet)
    # Long before the busy number's backlog is through, four seconds after it started (the
    # bound is loose: a busy machine lets sends go late).
    assert time.monotonic() - quiet_started < 2
    assert not backlog.done()

    await backlog
    assert time.monotonic() - started >= WINDOW


async def test_two_limiters_sharing_state_together_keep_the_rate(backend: Backend) -> None:
    worker_a, worker_b = backend.new(RATE), backend.new(RATE)
    await warm(worker_a, worker_b)
    started = time.monotonic()

    stamps = await acquire_all([worker_a, worker_b], sender_number(), 2 * RATE)

    assert_paced(stamps, started, RATE, worker_a.burst)


async def test_slots_booked_together_keep_the_rate_with_other_senders(backend: Backend) -> None:
    """A batch books its sends' slots in one call (``reserve``); with another worker's sends
    from the same number at the same time, still never more than the rate (and the burst)."""
    batch_worker, other = backend.new(RATE), backend.new(RATE)
    await warm(batch_worker, other)
    number = sender_number()
    stamps: list[float] = []

    async def batch() -> None:
        async def send(slot: float) -> None:
            await batch_worker.wait_for(slot)
            stamps.append(time.monotonic())

        slots = await batch_worker.reserve(number, 2 * RATE)
        assert slots == sorted(slots)
        await asyncio.gather(*(send(slot) for slot in slots))

    started = time.monotonic()
    alone = asyncio.create_task(acquire_all([other], number, RATE))
    await batch()
    stamps += await alone

    assert len(stamps) == 3 * RATE
    assert_paced(sorted(stamps), started, RATE, batch_worker.burst)
    # Paced together, 3N take three seconds less one slot (a loose bound, as above).
    assert max(stamps) - started < 3 + 2.5


@pytest.mark.redis
async def test_without_redis_sending_goes_on_limited_in_process(
    opened: list[PacedThroughputLimiter],
) -> None:
    nobody_listens = f"redis://127.0.0.1:{services.free_port()}/0"
    limiter = PacedThroughputLimiter.redis(nobody_listens, rate=5, key_prefix="test:down:")
    opened.append(limiter)

    with structlog.testing.capture_logs() as logs:
        started = time.monotonic()
        stamps = await acquire_all([limiter], sender_number(), 10)

    assert_paced(stamps, started, 5, limiter.burst)
    assert limiter.degraded
    assert [entry["log_level"] for entry in logs] == ["warning"]


class FlakyBook(MemorySlotBook):
    """Fails its first ``failures`` bookings the way an unreachable Redis does."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    async def book(
        self, number: str, interval: float, tolerance: float = 0.0, count: int = 1
    ) -> list[float]:
        if self.failures:
            self.failures -= 1
            raise RedisConnectionError("Connection refused")
        return await super().book(number, interval, tolerance, count)


async def test_shared_limits_come_back_when_the_storage_answers_again() -> None:
    limiter = PacedThroughputLimiter(FlakyBook(failures=1), 5, retry_shared_after=0)

    with structlog.testing.capture_logs() as logs:
        await limiter.acquire(sender_number())
        assert limiter.degraded is False

    assert [entry["log_level"] for entry in logs] == ["warning", "info"]


def test_a_rate_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="rate"):
        PacedThroughputLimiter.in_process(0)


def test_a_burst_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="burst"):
        PacedThroughputLimiter(MemorySlotBook(), 5, burst=0)


def test_an_idle_number_may_send_a_tenth_of_a_second_at_once() -> None:
    assert [PacedThroughputLimiter.in_process(r).burst for r in (1, 80, 1000)] == [1, 8, 100]


async def test_an_idle_number_may_send_its_burst_at_once_but_not_more(backend: Backend) -> None:
    # One send a second, three at once: the three go together, the fourth a second later.
    limiter = backend.new(1, burst=3)
    await warm(limiter)
    number = sender_number()
    started = time.monotonic()

    stamps = await acquire_all([limiter], number, 4)

    # Paced without a burst, the third would wait two seconds (the bound is loose).
    assert stamps[2] - started < 1.5
    assert stamps[3] - started >= WINDOW
    # Having sent its burst, the number is held to the rate: the next goes a second later.
    await limiter.acquire(number)
    assert time.monotonic() - started >= 2 * WINDOW


@pytest.mark.redis
async def test_more_senders_at_once_than_connections_wait_for_one(
    redis_prefix: str, opened: list[PacedThroughputLimiter]
) -> None:
    # redis-py refuses a command when its pool is out of connections (100 by default); the
    # limiter must not take that for Redis being down and start counting in process.
    limiter = PacedThroughputLimiter.redis(services.REDIS_URL, RATE, key_prefix=redis_prefix)
    opened.append(limiter)

    with structlog.testing.capture_logs() as logs:
        await asyncio.gather(*(limiter.acquire(sender_number()) for _ in range(250)))

    assert limiter.degraded is False
    assert logs == []


class _Meta:
    """A server that notes when each request arrives. A new connection costs ``handshake``
    seconds before its first request is read (TLS with Meta, a busy box): the first sends of
    a burst open connections, later ones reuse them."""

    def __init__(self, handshake: float) -> None:
        self.handshake = handshake
        self.arrivals: list[float] = []

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(self.handshake)
        try:
            while await reader.readline():  # a request line
                self.arrivals.append(time.monotonic())
                length = 0
                while (header := await reader.readline()) not in (b"\r\n", b""):
                    if header.lower().startswith(b"content-length:"):
                        length = int(header.split(b":")[1])
                await reader.readexactly(length)
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
                await writer.drain()
        finally:
            writer.close()


async def test_meta_never_gets_more_than_the_rate_in_a_second_from_a_cold_start(
    backend: Backend,
) -> None:
    """The first sends of a backlog open connections and reach Meta late; the next second's
    must not then reach it together with them (docs/meta.md#limits)."""
    limiter = backend.new(RATE)
    await warm(limiter)
    meta = _Meta(handshake=0.1)
    server = await asyncio.start_server(meta.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    number = sender_number()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:

            async def send() -> None:
                await limiter.acquire(number)
                await limiter.depart(number)
                (await client.post("/messages", json={"to": "x"})).raise_for_status()

            await asyncio.gather(*(send() for _ in range(3 * RATE)))
    finally:
        server.close()
        await server.wait_closed()

    assert len(meta.arrivals) == 3 * RATE
    # One send late by a busy event loop may put one more in a window: generous bounds. The
    # limiter that let a second's sends go at once had a window with nearly twice the rate.
    assert busiest_second(meta.arrivals) <= RATE + RATE // 4


def busiest_second(times: list[float], window: float = 1.0) -> int:
    """The most of ``times`` in any one-second window (a moving window, as Meta counts)."""
    ordered = sorted(times)
    return max(bisect.bisect_left(ordered, t + window) - i for i, t in enumerate(ordered))


async def test_slots_marked_in_flight_together_do_not_leave_together(backend: Backend) -> None:
    """A group commit marks the sends that took their slots meanwhile in flight at once (here:
    two seconds' worth); their requests must still leave at most the rate in a second."""
    limiter = backend.new(RATE)
    await warm(limiter)
    number = sender_number()
    await acquire_all([limiter], number, 2 * RATE)  # the slots; then one write for them all
    left: list[float] = []

    async def leave() -> None:
        await limiter.depart(number)
        left.append(time.monotonic())

    await asyncio.gather(*(leave() for _ in range(2 * RATE)))

    assert busiest_second(left, WINDOW) <= RATE
