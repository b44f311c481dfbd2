"""Webhook ingest: signed status webhooks POSTed to ``fdr-whatsapp serve`` at rising concurrency.

Each level sends a fixed number of status updates (1 or 50 per POST) over keep-alive
connections, then waits until the webhook pump has processed every stored body. Reported per
level: updates/s acknowledged (the 200s), updates/s fully processed (acknowledged and turned
into delivery reports), response times, and the service's CPU per update. At the end the
database is counted: every acknowledged update must be stored exactly once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

from bench.env import BenchError, ServiceProcess
from bench.httpload import LoadResult, run_closed_loop
from bench.payloads import (
    TICKS,
    Seeded,
    Webhook,
    http_request,
    reply_webhook,
    seed_messages,
    status_webhooks,
)
from bench.stack import BenchStack
from bench.stats import mib, ms, percentile

WEBHOOK_PATH = "/webhooks/whatsapp"


@dataclass(frozen=True)
class Level:
    per_body: int
    concurrency: int
    updates: int
    max_seconds: float = 60.0


FULL_LEVELS = (
    Level(1, 1, 3_000),
    Level(1, 4, 8_000),
    Level(1, 16, 12_000),
    Level(1, 64, 12_000),
    Level(50, 1, 15_000),
    Level(50, 4, 30_000),
    Level(50, 16, 30_000),
    # Meta's largest batch (1000 statuses, ~330 KB a POST): what one pump pass holds in memory.
    Level(1000, 2, 60_000),
)
QUICK_LEVELS = (Level(1, 4, 600), Level(50, 4, 3_000))


@dataclass
class LevelResult:
    per_body: int
    concurrency: int
    requests: int
    updates: int
    errors: int
    ack_seconds: float
    acked_updates_per_s: float
    requests_per_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    drain_seconds: float
    processed_updates_per_s: float
    serve_cpu_us_per_update: float
    serve_cpu_share: float  # serve's CPU seconds / wall seconds (1.0 = one core)
    mariadb_cpu_share: float | None
    bench_cpu_share: float
    serve_rss_max_mib: float  # while this level was sent and drained


@dataclass
class Ledger:
    """What the server acknowledged, to count against the database afterwards."""

    bodies: int = 0
    updates: int = 0
    ticks: dict[str, int] = field(default_factory=dict)  # wamid -> highest tick index acked
    replies: int = 0


def _mariadb() -> psutil.Process | None:
    for process in psutil.process_iter(["name"]):
        if process.info["name"] in ("mariadbd", "mysqld"):
            return process
    return None


def _cpu(process: psutil.Process | None) -> float:
    if process is None:
        return 0.0
    try:
        times = process.cpu_times()
    except psutil.Error:
        return 0.0
    return float(times.user + times.system)


async def wait_drained(stack: BenchStack, within: float = 300.0) -> float:
    """Seconds until no stored webhook body is waiting for the pump."""
    started = time.monotonic()
    while time.monotonic() - started < within:
        pending = await stack.scalar(
            "SELECT COUNT(*) FROM wa_webhook_inbox WHERE processed_at IS NULL"
        )
        if pending == 0:
            return time.monotonic() - started
        await asyncio.sleep(0.05)
    raise BenchError(f"the webhook pump did not drain within {within} s")


async def _send(
    port: int,
    hooks: Sequence[Webhook],
    concurrency: int,
    max_seconds: float,
    path: str = WEBHOOK_PATH,
) -> LoadResult:
    requests = [http_request(path, h) for h in hooks]
    return await run_closed_loop(
        "127.0.0.1", port, requests, concurrency=concurrency, duration=max_seconds
    )


def _book(ledger: Ledger, result: LoadResult, hooks: Sequence[Webhook], ticks: list[Any]) -> int:
    """Adds what was acknowledged to the ledger; returns the updates acknowledged."""
    updates = 0
    for outcome in result.ok():
        ledger.bodies += 1
        updates += hooks[outcome.index].updates
        for message_id, tick in ticks[outcome.index]:
            ledger.ticks[message_id] = max(ledger.ticks.get(message_id, -1), tick)
    ledger.updates += updates
    return updates


def _hooks_for(messages: Sequence[Seeded], per_body: int) -> tuple[list[Webhook], list[Any]]:
    hooks = list(status_webhooks(messages, per_body))
    # Which (wamid, tick) each body carries, in the order status_webhooks emits them.
    flat = [(m.message_id, i) for m in messages for i in range(len(TICKS))]
    ticks: list[Any] = []
    position = 0
    for hook in hooks:
        ticks.append(flat[position : position + hook.updates])
        position += hook.updates
    return hooks, ticks


async def run_level(
    stack: BenchStack,
    serve: ServiceProcess,
    port: int,
    level: Level,
    messages: Sequence[Seeded],
    ledger: Ledger,
) -> LevelResult:
    hooks, ticks = _hooks_for(messages, level.per_body)
    mariadb = _mariadb()
    me = psutil.Process()
    cpu0 = (serve.cpu_seconds(), _cpu(mariadb), _cpu(me))
    wall0 = time.monotonic()
    result = await _send(port, hooks, level.concurrency, level.max_seconds)
    drain = await wait_drained(stack)
    wall = time.monotonic() - wall0
    cpu1 = (serve.cpu_seconds(), _cpu(mariadb), _cpu(me))
    updates = _book(ledger, result, hooks, ticks)
    latencies = [o.seconds for o in result.ok()]
    seconds = result.seconds
    serve_cpu = cpu1[0] - cpu0[0]
    return LevelResult(
        per_body=level.per_body,
        concurrency=level.concurrency,
        requests=len(result.ok()),
        updates=updates,
        errors=len(result.outcomes) - len(result.ok()) + len(result.errors),
        ack_seconds=round(seconds, 3),
        acked_updates_per_s=round(updates / seconds, 1),
        requests_per_s=round(len(result.ok()) / seconds, 1),
        p50_ms=ms(percentile(latencies, 50)),
        p90_ms=ms(percentile(latencies, 90)),
        p99_ms=ms(percentile(latencies, 99)),
        max_ms=ms(max(latencies, default=0.0)),
        drain_seconds=round(drain, 3),
        processed_updates_per_s=round(updates / (seconds + drain), 1),
        serve_cpu_us_per_update=round(serve_cpu / max(updates, 1) * 1e6, 1),
        serve_cpu_share=round(serve_cpu / wall, 2),
        mariadb_cpu_share=round((cpu1[1] - cpu0[1]) / wall, 2) if mariadb else None,
        bench_cpu_share=round((cpu1[2] - cpu0[2]) / wall, 2),
        serve_rss_max_mib=mib(max(serve.rss.between(wall0, wall0 + wall), default=0)),
    )


async def _replies(
    stack: BenchStack, port: int, messages: Sequence[Seeded], ledger: Ledger, concurrency: int
) -> dict[str, Any]:
    """Quick-reply taps: each one is stored, decided and answered (a date picker to Meta)."""
    await stack.meta_reset()
    hooks = [reply_webhook(m) for m in messages]
    result = await _send(port, hooks, concurrency, 120.0)
    ack_done = time.monotonic()
    drain = await wait_drained(stack)
    ledger.replies += len(result.ok())
    sends = await stack.meta_sends()
    latencies = [o.seconds for o in result.ok()]
    return {
        "replies": len(result.ok()),
        "concurrency": concurrency,
        "errors": len(result.outcomes) - len(result.ok()) + len(result.errors),
        "acked_per_s": round(len(result.ok()) / result.seconds, 1),
        "p50_ms": ms(percentile(latencies, 50)),
        "p99_ms": ms(percentile(latencies, 99)),
        "drain_seconds": round(drain, 3),
        "handled_per_s": round(len(result.ok()) / (result.seconds + drain), 1),
        "follow_ups_sent": len(sends.times),
        "_ack_done": ack_done,
    }


async def _redeliver(port: int, hooks: Sequence[Webhook], stack: BenchStack) -> dict[str, Any]:
    """Meta retries: the same signed bodies again. Nothing new may be stored from them."""
    before = await stack.scalar("SELECT COUNT(*) FROM wa_dlr_messages")
    result = await _send(port, hooks, 8, 60.0)
    await wait_drained(stack)
    after = await stack.scalar("SELECT COUNT(*) FROM wa_dlr_messages")
    return {
        "bodies_redelivered": len(result.ok()),
        "updates_redelivered": sum(hooks[o.index].updates for o in result.ok()),
        "new_reports_from_redelivery": after - before,
    }


async def verify(stack: BenchStack, ledger: Ledger, redelivered_bodies: int) -> dict[str, Any]:
    """The database against the ledger: each acknowledged update stored once, nothing lost."""
    stored = await stack.scalar("SELECT COUNT(*) FROM wa_dlr_messages")
    distinct = await stack.scalar(
        "SELECT COUNT(*) FROM (SELECT DISTINCT message_id, status FROM wa_dlr_messages) d"
    )
    inbox = await stack.scalar("SELECT COUNT(*) FROM wa_webhook_inbox")
    processed = await stack.scalar(
        "SELECT COUNT(*) FROM wa_webhook_inbox WHERE processed_at IS NOT NULL AND error IS NULL"
    )
    read_expected = sum(1 for tick in ledger.ticks.values() if tick == len(TICKS) - 1)
    read_stored = await stack.scalar(
        "SELECT COUNT(*) FROM wa_outgoing_messages WHERE status = 'read'"
    )
    replies = await stack.scalar("SELECT COUNT(*) FROM wa_customer_reply_messages")
    handled = await stack.scalar(
        "SELECT COUNT(*) FROM wa_customer_reply_messages WHERE handled_at IS NOT NULL"
    )
    bodies_expected = ledger.bodies + ledger.replies + redelivered_bodies
    checks = {
        "updates_acknowledged": ledger.updates,
        "delivery_reports_stored": stored,
        "distinct_message_status_pairs": distinct,
        "bodies_acknowledged": bodies_expected,
        "inbox_rows": inbox,
        "inbox_rows_processed_without_error": processed,
        "messages_read_expected": read_expected,
        "messages_read_stored": read_stored,
        "replies_acknowledged": ledger.replies,
        "replies_stored": replies,
        "replies_handled": handled,
    }
    checks["exactly_once"] = (
        stored == distinct == ledger.updates
        and inbox == processed == bodies_expected
        and read_stored == read_expected
        and replies == handled == ledger.replies
    )
    return checks


async def run_ingest(
    stack: BenchStack,
    levels: Sequence[Level],
    *,
    replies: int = 1_000,
    profile: Path | None = None,
) -> dict[str, Any]:
    needed = sum(-(-lv.updates // len(TICKS)) for lv in levels) + 100 + replies
    started = time.monotonic()
    messages = await seed_messages(stack.engine, 1_000_000, needed)
    seed_seconds = time.monotonic() - started
    serve, port = await stack.start_serve(profile=profile, WA_META_THROUGHPUT="1000")
    ledger = Ledger()
    cursor = 0
    try:
        idle_rss = serve.rss.now()
        # Warm-up (counted in the ledger, not in the table): connections, caches, JIT-less
        # first calls of every code path.
        warm = messages[cursor : cursor + 100]
        cursor += len(warm)
        await run_level(stack, serve, port, Level(1, 4, 300), warm, ledger)
        results: list[LevelResult] = []
        load_started = time.monotonic()
        for level in levels:
            count = -(-level.updates // len(TICKS))
            chunk = messages[cursor : cursor + count]
            cursor += count
            result = await run_level(stack, serve, port, level, chunk, ledger)
            results.append(result)
            print(
                f"  ingest {level.per_body:>2}/POST c={level.concurrency:<3} "
                f"acked {result.acked_updates_per_s:>8.0f} upd/s  "
                f"processed {result.processed_updates_per_s:>8.0f} upd/s  "
                f"p50 {result.p50_ms:6.1f} ms  p99 {result.p99_ms:6.1f} ms  "
                f"errors {result.errors}"
            )
        load_ended = time.monotonic()
        reply_messages = messages[cursor : cursor + replies]
        cursor += len(reply_messages)
        reply_result = await _replies(stack, port, reply_messages, ledger, 8) if replies else {}
        reply_result.pop("_ack_done", None)
        if reply_result:
            print(
                f"  replies c=8 acked {reply_result['acked_per_s']:.0f}/s  "
                f"handled {reply_result['handled_per_s']:.0f}/s"
            )
        again = list(status_webhooks(messages[100 : 100 + 200], 1))
        redelivery = await _redeliver(port, again, stack)
        checks = await verify(stack, ledger, redelivery["bodies_redelivered"])
        rss_under_load = serve.rss.between(load_started, load_ended)
        memory = {
            "ready_seconds": round(serve.ready_seconds or 0.0, 3),
            "ready_cpu_seconds": round(serve.ready_cpu_seconds or 0.0, 3),
            "rss_idle_mib": mib(idle_rss),
            "rss_under_load_median_mib": mib(sorted(rss_under_load)[len(rss_under_load) // 2])
            if rss_under_load
            else None,
            "rss_under_load_max_mib": mib(max(rss_under_load, default=0)),
            "rss_after_mib": mib(serve.rss.now()),
        }
    finally:
        code = await serve.stop()
    problems = serve.log_problems()
    return {
        "seeded_messages": len(messages),
        "seed_seconds": round(seed_seconds, 2),
        "levels": [asdict(r) for r in results],
        "replies": reply_result,
        "redelivery": redelivery,
        "checks": checks,
        "serve_memory": memory,
        "serve_exit_code": code,
        "serve_log_problems": problems,
    }
