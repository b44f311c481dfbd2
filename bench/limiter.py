"""The throughput limiter alone, in process against Redis: what waiting costs.

- **steady**: sends arrive evenly at 200/s for one number limited to 80/s, each holding its
  slot in the caller for 50 ms (the Meta call), at most ``concurrency`` at once, as the
  worker does under a backlog. Reported: sends/s, Redis scripts per send, CPU per send.
- **burst**: 250 sends for 250 numbers at once (a worker with a large concurrency starting
  on a backlog): the limiter must keep counting in Redis, not fall back to its process.

Redis's ``commandstats`` are server-wide: run this on a Redis nobody else is busy with.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from typing import Any

import structlog
from redis.asyncio import Redis

from bench.env import REDIS_URL
from bench.stats import max_in_window
from infrastructure.limits.throughput import PacedThroughputLimiter


async def _scripts(client: Redis) -> int:
    info: dict[str, Any] = await client.info("commandstats")
    return sum(int(v["calls"]) for k, v in info.items() if k.startswith("cmdstat_eval"))


async def _steady(
    prefix: str, *, rate: int = 80, offered: int = 200, concurrency: int = 32
) -> dict[str, Any]:
    limiter = PacedThroughputLimiter.redis(REDIS_URL, rate, key_prefix=prefix)
    client = Redis.from_url(REDIS_URL)
    number = f"1065{secrets.token_hex(4)}"
    slots = asyncio.Semaphore(concurrency)
    sent: list[float] = []

    async def send() -> None:
        async with slots:
            await limiter.acquire(number)
            await limiter.depart(number)  # as the send step does, just before the request
            sent.append(time.monotonic())
            await asyncio.sleep(0.05)

    tasks: list[asyncio.Task[None]] = []
    scripts0, cpu0, sent0, started, window = 0, 0.0, 0, time.monotonic(), 0
    try:
        with structlog.testing.capture_logs() as logs:
            warm_up, measured = 3 * offered, 5 * offered
            for n in range(warm_up + measured):
                if n == warm_up:
                    scripts0, cpu0, sent0 = await _scripts(client), time.process_time(), len(sent)
                    started = time.monotonic()
                tasks.append(asyncio.create_task(send()))
                await asyncio.sleep(1 / offered)
            seconds = time.monotonic() - started
            scripts = await _scripts(client) - scripts0
            cpu = time.process_time() - cpu0
            count = len(sent) - sent0
            window = max_in_window(sent[sent0:])
    finally:
        for task in tasks:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks, return_exceptions=True)
        await limiter.aclose()
        await client.aclose()
    return {
        "rate": rate,
        "offered_per_s": offered,
        "concurrency": concurrency,
        "sends_per_s": round(count / seconds, 1),
        "max_sends_in_1s_window": window,
        "redis_scripts_per_send": round(scripts / max(count, 1), 1),
        "cpu_ms_per_send": round(cpu / max(count, 1) * 1000, 2),
        "fell_back_to_process": any(e.get("log_level") == "warning" for e in logs),
    }


async def _burst(prefix: str, senders: int = 250) -> dict[str, Any]:
    limiter = PacedThroughputLimiter.redis(REDIS_URL, 80, key_prefix=prefix)
    try:
        with structlog.testing.capture_logs() as logs:
            numbers = [f"1065{secrets.token_hex(4)}" for _ in range(senders)]
            await asyncio.gather(*(limiter.acquire(n) for n in numbers))
    finally:
        await limiter.aclose()
    return {
        "senders_at_once": senders,
        "fell_back_to_process": any(e.get("log_level") == "warning" for e in logs),
        "warnings": sorted({str(e.get("problem", e.get("event"))) for e in logs}),
    }


async def run_limiter(quick: bool = False) -> dict[str, Any]:
    prefix = f"bench:{secrets.token_hex(4)}:"
    client = Redis.from_url(REDIS_URL)
    try:
        steady = [await _steady(prefix, concurrency=c) for c in ((32,) if quick else (32, 90))]
        burst = await _burst(prefix)
        keys = [k async for k in client.scan_iter(match=prefix + "*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()
    for row in steady:
        print(
            f"  limiter c={row['concurrency']:<3} {row['sends_per_s']:5.1f} sends/s "
            f"(max {row['max_sends_in_1s_window']} in 1 s)  "
            f"{row['redis_scripts_per_send']:5.1f} Redis scripts/send  "
            f"{row['cpu_ms_per_send']:.2f} ms CPU/send"
        )
    fell_back = burst["fell_back_to_process"]
    print(f"  limiter burst of {burst['senders_at_once']} numbers: fell back {fell_back}")
    return {"steady": steady, "burst": burst}
