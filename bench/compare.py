"""Before, after and the floor, side by side in one run (``python -m bench compare``).

Everything here runs against one bench world (database, emulator, Meta fake at 50 ms), one
process at a time, in the same minutes, so the machine's other load weighs on each column
alike:

- **reference**: ``bench/reference.py``, the least a receiver (verify, insert, 200) or a
  sender (pull, POST to the fake, ack) can do on this stack;
- **before**: the service from another copy of ``src`` (``--baseline DIR``, e.g. a
  ``git archive <commit> src`` unpacked), when given;
- **after**: the service of this checkout.

Sections: single-status POSTs (c=16, c=64), batched statuses (50 and 1000 per POST), the
p99 of single POSTs while 1000-status passes run, answers (Meta at 50 ms), fan-out at limit
1000, and scale-out (1, 2, 4 workers; 1 and 2 ``serve``) sharing MariaDB and Redis.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.env import ServiceProcess
from bench.fanout import enable_account, new_events, publish_all, template_event
from bench.httpload import LoadResult, run_closed_loop
from bench.ingest import WEBHOOK_PATH, Ledger, _cpu, _hooks_for, _mariadb, _replies, wait_drained
from bench.looplag import lag_stats
from bench.meta_fake import SendLog
from bench.payloads import TICKS, Seeded, http_request, seed_messages
from bench.stack import BenchStack
from bench.stats import ms, percentile, steady_rate

Variant = str  # "reference" | "before" | "after"


def _needed(updates: int) -> int:
    return -(-updates // len(TICKS))


class _Messages:
    """Seeded messages handed out in slices, each used by one load only."""

    def __init__(self, messages: list[Seeded]) -> None:
        self._messages = messages
        self._cursor = 0

    def take(self, count: int) -> list[Seeded]:
        part = self._messages[self._cursor : self._cursor + count]
        self._cursor += count
        if len(part) < count:
            raise RuntimeError("not enough seeded messages")
        return part


def _load_row(result: LoadResult, updates_each: int, drain: float) -> dict[str, Any]:
    ok = result.ok()
    latencies = [o.seconds for o in ok]
    updates = len(ok) * updates_each
    return {
        "posts": len(ok),
        "errors": len(result.outcomes) - len(ok) + len(result.errors),
        "acked_updates_per_s": round(updates / result.seconds, 1),
        "processed_updates_per_s": round(updates / (result.seconds + drain), 1),
        "p50_ms": ms(percentile(latencies, 50)),
        "p99_ms": ms(percentile(latencies, 99)),
    }


async def _post(
    port: int, messages: Sequence[Seeded], per_body: int, concurrency: int
) -> LoadResult:
    hooks, _ = _hooks_for(messages, per_body)
    requests = [http_request(WEBHOOK_PATH, h) for h in hooks]
    return await run_closed_loop("127.0.0.1", port, requests, concurrency=concurrency, duration=90)


async def _start(
    stack: BenchStack, variant: Variant, baseline: Path | None
) -> tuple[ServiceProcess, int]:
    if variant == "reference":
        return await stack.start_reference_receiver()
    src = baseline if variant == "before" else None
    return await stack.start_serve(src=src, WA_META_THROUGHPUT="1000")


async def _ingest(
    stack: BenchStack, variants: list[Variant], baseline: Path | None, pool: _Messages, quick: bool
) -> dict[str, Any]:
    single = 1_500 if quick else 3_000
    batched = 3_000 if quick else 6_000
    rows: dict[str, Any] = {}
    for variant in variants:
        process, port = await _start(stack, variant, baseline)
        mariadb = _mariadb()
        out: dict[str, Any] = {}
        try:
            await _post(port, pool.take(50), 1, 4)  # warm-up
            if variant != "reference":
                await wait_drained(stack)
            levels = [
                (1, 16, single),
                (1, 64, single),
                (50, 16, batched),
                (1000, 2, 2 * batched),
            ]
            for per_body, concurrency, updates in levels:
                cpu0, db0, wall0 = process.cpu_seconds(), _cpu(mariadb), time.monotonic()
                result = await _post(port, pool.take(_needed(updates)), per_body, concurrency)
                drain = 0.0 if variant == "reference" else await wait_drained(stack)
                wall = time.monotonic() - wall0
                row = _load_row(result, per_body, drain)
                row["process_cores"] = round((process.cpu_seconds() - cpu0) / wall, 2)
                row["mariadb_cores"] = round((_cpu(mariadb) - db0) / wall, 2)
                out[f"{per_body}/POST c={concurrency}"] = row
                print(
                    f"  compare {variant:<9} {per_body:>4}/POST c={concurrency:<3} acked "
                    f"{row['acked_updates_per_s']:>8.0f}/s processed "
                    f"{row['processed_updates_per_s']:>8.0f}/s p99 {row['p99_ms']:6.1f} ms"
                )
            if variant != "reference":
                out["single_p99_during_1000_status_passes"] = await _during_passes(
                    stack, port, pool, quick
                )
                during = out["single_p99_during_1000_status_passes"]
                print(f"  compare {variant:<9} during passes: {during}")
                out["answers"] = await _answers(stack, port, pool, quick)
                print(f"  compare {variant:<9} answers: {out['answers']}")
        finally:
            await process.stop()
        rows[variant] = out
    return rows


async def _during_passes(
    stack: BenchStack, port: int, pool: _Messages, quick: bool
) -> dict[str, Any]:
    """Single-status POSTs at c=64 while 1000-status bodies arrive (c=2) and are processed."""
    big = pool.take(_needed(6_000 if quick else 12_000))
    small = pool.take(_needed(1_500 if quick else 3_000))
    big_task = asyncio.create_task(_post(port, big, 1000, 2))
    await asyncio.sleep(0.3)  # the pump is busy with large bodies by then
    singles = await _post(port, small, 1, 64)
    bulk = await big_task
    drain = await wait_drained(stack)
    return {
        "single": _load_row(singles, 1, 0.0),
        "bulk_1000": _load_row(bulk, 1000, drain),
    }


async def _answers(stack: BenchStack, port: int, pool: _Messages, quick: bool) -> dict[str, Any]:
    answered = await _replies(stack, port, pool.take(100 if quick else 200), Ledger(), 32)
    answered.pop("_ack_done", None)
    return answered


async def sends_done(stack: BenchStack, ids: set[int], within: float) -> SendLog:
    deadline = time.monotonic() + within
    while True:
        log = await stack.meta_sends()
        mine = [(t, s) for t, s in zip(log.times, log.shipments, strict=True) if s in ids]
        if len({s for _, s in mine}) >= len(ids) or time.monotonic() > deadline:
            return SendLog(times=[t for t, _ in mine], shipments=[s for _, s in mine])
        await asyncio.sleep(0.25)


async def _drain_events(
    stack: BenchStack, processes: list[ServiceProcess], events: int
) -> dict[str, Any]:
    template = template_event()
    ids, bodies = new_events(template, events)
    cpu0 = sum(p.cpu_seconds() for p in processes)
    started = time.time()
    await publish_all(stack, bodies)
    sends = await sends_done(stack, set(ids), 60 + events / 5)
    cpu = sum(p.cpu_seconds() for p in processes) - cpu0
    last = max(sends.times, default=started + 1)
    sent = len(set(sends.shipments))
    return {
        "events": events,
        "sent": sent,
        "duplicate_sends": len(sends.shipments) - sent,
        "events_per_s": round(sent / (last - started), 1),
        "steady_send_rate": round(steady_rate(sends.times), 1),
        "cpu_ms_per_event": round(cpu / max(sent, 1) * 1000, 2),
        "cores": round(cpu / max(last - started, 1e-9), 2),
    }


async def fanout_side_by_side(
    stack: BenchStack, variants: list[Variant], baseline: Path | None, quick: bool
) -> dict[str, Any]:
    await enable_account(stack)
    events = 300 if quick else 1_000
    rows: dict[str, Any] = {}
    for variant in variants:
        await stack.meta_reset()
        await stack.new_fdr_subscription()
        lags = stack.run_dir / f"lags-fanout-{variant}.json"
        if variant == "reference":
            process = await stack.start_reference_sender(128)
        else:
            src = baseline if variant == "before" else None
            process = await stack.start_worker(throughput=1000, concurrency=128, src=src, lags=lags)
        try:
            await asyncio.sleep(0.5)
            drained = time.monotonic()
            rows[variant] = await _drain_events(stack, [process], events)
            rows[variant]["load_average_1m"] = round(os.getloadavg()[0], 2)
            window = (drained, time.monotonic())
        finally:
            await process.stop()
        if variant != "reference":
            # The worker's loop meanwhile: how late a 5 ms timer woke, and how much of that
            # the loop's own work took (the rest: the process not scheduled).
            rows[variant].update(lag_stats(json.loads(lags.read_text()), *window))
        print(f"  compare fanout {variant:<9} {rows[variant]}")
    return rows


async def _scale_out(stack: BenchStack, pool: _Messages, quick: bool) -> dict[str, Any]:
    """The service of this checkout, several processes sharing MariaDB, Redis and the number."""
    out: dict[str, Any] = {"workers": {}, "serve": {}}
    for count in (1, 2) if quick else (1, 2, 4):
        await stack.meta_reset()
        await stack.new_fdr_subscription()
        workers = [await stack.start_worker(throughput=1000, concurrency=128) for _ in range(count)]
        try:
            await asyncio.sleep(0.5)
            row = await _drain_events(stack, workers, (200 if quick else 400) * count)
        finally:
            for worker in workers:
                await worker.stop()
        out["workers"][str(count)] = row
        print(f"  compare scale-out {count} worker(s): {row}")
    for count in (1, 2):
        serves = [await stack.start_serve(WA_META_THROUGHPUT="1000") for _ in range(count)]
        try:
            per = _needed((1_500 if quick else 3_000) * count) // count
            started = time.monotonic()
            results = await asyncio.gather(
                *(_post(port, pool.take(per), 1, 64 // count) for _, port in serves)
            )
            acked = time.monotonic() - started
            drain = await wait_drained(stack)
        finally:
            for process, _ in serves:
                await process.stop()
        ok = sum(len(r.ok()) for r in results)
        latencies = [o.seconds for r in results for o in r.ok()]
        row = {
            "posts": ok,
            "acked_per_s": round(ok / acked, 1),
            "processed_per_s": round(ok / (acked + drain), 1),
            "p99_ms": ms(percentile(latencies, 99)),
        }
        out["serve"][str(count)] = row
        print(f"  compare scale-out {count} serve: {row}")
    return out


async def run_compare(stack: BenchStack, baseline: Path | None, quick: bool) -> dict[str, Any]:
    variants: list[Variant] = ["reference", *(["before"] if baseline else []), "after"]
    pool = _Messages(await seed_messages(stack.engine, 2_000_000, 25_000 if quick else 50_000))
    results: dict[str, Any] = {"baseline_src": str(baseline) if baseline else None}
    results["ingest"] = await _ingest(stack, variants, baseline, pool, quick)
    results["fanout"] = await fanout_side_by_side(stack, variants, baseline, quick)
    results["scale_out"] = await _scale_out(stack, pool, quick)
    results["no_duplicate_reports"] = await stack.scalar(
        "SELECT COUNT(*) FROM wa_dlr_messages"
    ) == await stack.scalar(
        "SELECT COUNT(*) FROM (SELECT DISTINCT message_id, status FROM wa_dlr_messages) d"
    )
    return results
