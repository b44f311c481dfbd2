"""Batched statuses through the webhook pump, before and after in the same minutes
(``python -m bench statuses [--baseline SRC]``).

One ``serve`` at a time (the service of ``--baseline`` as "before" when given, this
checkout's as "after"), in alternating rounds so the machine's other load weighs on both
alike. Each run of a variant:

- **batched**: 1000-status bodies (Meta's largest) at c=2 until the pump has processed them
  all: updates processed per second, ``serve``'s CPU per update, MariaDB's cores;
- **during passes**: single-status POSTs at c=64 while 1000-status bodies arrive at c=2 and
  are processed: the p99 of the single POSTs (a pass must not hold the event loop), and the
  lag of ``serve``'s event loop meanwhile (``bench/looplag.py``);
- **single**: single-status POSTs at c=64 on their own; the reference receiver
  (``bench/reference.py``: verify, insert, 200) takes the same load once per round. With
  them, how long a body waited for the pump (``processed_at - received_at``: the pass that
  took it started then), the delay an answer sees before it is handled.

This checkout runs twice per round: "after" (the pump inline in ``serve``) and "apart"
(``serve`` with ``WA_WEBHOOK_PUMP=off`` beside ``fdr-whatsapp pump``); for "apart", CPU is
both processes'.

The floor of the batched step, once per round: the reference status writer
(``bench/reference.py``, ``apply_statuses``: the same bodies applied with the simplest
correct multi-row SQL on MariaDB's binary protocol, no service code, in the bench's own
process), its statuses per second and CPU per status; ``ratios`` sets each run of ``serve``
against the floor of its round. ``reference_writer_text`` is Stop 13's floor (the same SQL
with every value escaped into its text), kept to compare with earlier runs.

``WA_BENCH_PYSPY=/path/to/py-spy`` records a flame graph (``speedscope`` JSON in the run's
directory) of each variant's batched step.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench.compare import _Messages, _needed, _post
from bench.env import ServiceProcess
from bench.ingest import _cpu, _mariadb, wait_drained
from bench.looplag import lag_stats
from bench.payloads import Seeded, seed_messages, status_webhooks
from bench.reference import apply_statuses
from bench.stack import BenchStack
from bench.stats import ms, percentile

_SINGLES = {True: 1_500, False: 3_000}  # single-status POSTs alone, by ``quick``


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def _spy(process: ServiceProcess, out: Path) -> subprocess.Popen[bytes] | None:
    spy = os.environ.get("WA_BENCH_PYSPY")
    if not spy:
        return None
    return subprocess.Popen(
        [spy, "record", "-p", str(process.pid), "-f", "speedscope", "-o", str(out), "-r", "200"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _cpu_of(processes: Sequence[ServiceProcess]) -> float:
    return sum(p.cpu_seconds() for p in processes)


async def _batched(
    stack: BenchStack,
    processes: Sequence[ServiceProcess],
    port: int,
    messages: Sequence[Seeded],
    tag: str,
) -> dict[str, Any]:
    mariadb = _mariadb()
    cpu0, db0, wall0, load0 = _cpu_of(processes), _cpu(mariadb), time.monotonic(), _load()
    spy = _spy(processes[-1], stack.run_dir / f"pyspy-{tag}.json")
    result = await _post(port, messages, 1000, 2)
    drain = await wait_drained(stack)
    wall = time.monotonic() - wall0
    cpu = _cpu_of(processes) - cpu0
    if spy is not None:
        spy.send_signal(2)
        await asyncio.to_thread(spy.wait, 30)
    updates = len(result.ok()) * 1000
    return {
        "updates": updates,
        "errors": len(result.outcomes) - len(result.ok()) + len(result.errors),
        "acked_updates_per_s": round(updates / result.seconds, 1),
        "processed_updates_per_s": round(updates / wall, 1),
        "serve_cpu_us_per_update": round(cpu / max(updates, 1) * 1e6, 1),
        "serve_cores": round(cpu / wall, 2),
        "mariadb_cores": round((_cpu(mariadb) - db0) / wall, 2),
        "load_average_1m": [load0, _load()],
        "drain_seconds": round(drain, 2),
    }


async def _during(
    stack: BenchStack, port: int, big: Sequence[Seeded], small: Sequence[Seeded]
) -> dict[str, Any]:
    started = time.monotonic()
    big_task = asyncio.create_task(_post(port, big, 1000, 2))
    await asyncio.sleep(0.3)  # the pump is busy with large bodies by then
    window = [time.monotonic()]
    singles = await _post(port, small, 1, 64)
    window.append(time.monotonic())
    bulk = await big_task
    await wait_drained(stack)
    wall = time.monotonic() - started
    latencies = [o.seconds for o in singles.ok()]
    return {
        "single_posts": len(singles.ok()),
        "single_errors": len(singles.outcomes) - len(singles.ok()) + len(singles.errors),
        "single_p50_ms": ms(percentile(latencies, 50)),
        "single_p99_ms": ms(percentile(latencies, 99)),
        "single_max_ms": ms(max(latencies, default=0.0)),
        "bulk_processed_updates_per_s": round(len(bulk.ok()) * 1000 / wall, 1),
        "window": window,
    }


async def _single(
    stack: BenchStack, port: int, messages: Sequence[Seeded], *, drain: bool = True
) -> dict[str, Any]:
    first = await stack.scalar("SELECT COALESCE(MAX(id), 0) FROM wa_webhook_inbox")
    window = [time.monotonic()]
    result = await _post(port, messages, 1, 64)
    window.append(time.monotonic())
    drained = await wait_drained(stack) if drain else 0.0
    latencies = [o.seconds for o in result.ok()]
    row: dict[str, Any] = {
        "posts": len(result.ok()),
        "errors": len(result.outcomes) - len(result.ok()) + len(result.errors),
        "acked_per_s": round(len(result.ok()) / result.seconds, 1),
        "processed_per_s": round(len(result.ok()) / (result.seconds + drained), 1),
        "p99_ms": ms(percentile(latencies, 99)),
        "window": window,
    }
    if drain:
        row["waited_for_pump_p50_p99_ms"] = await _waited(stack, first)
    return row


async def _waited(stack: BenchStack, after_id: int) -> list[float]:
    """p50 and p99 of how long the bodies stored after ``after_id`` waited for their pass."""
    async with stack.engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT TIMESTAMPDIFF(MICROSECOND, received_at, processed_at) "
                "FROM wa_webhook_inbox WHERE id > :id AND processed_at IS NOT NULL"
            ),
            {"id": after_id},
        )
        waits = [max(int(r[0]), 0) / 1e6 for r in rows]
    return [ms(percentile(waits, 50)), ms(percentile(waits, 99))]


async def _reference(stack: BenchStack, pool: _Messages, quick: bool) -> dict[str, Any]:
    """The reference receiver (verify, insert, 200; it stores only) under the same singles."""
    process, port = await stack.start_reference_receiver()
    try:
        await _post(port, pool.take(50), 1, 4)  # warm-up
        row = {
            "single_c64": await _single(
                stack, port, pool.take(_needed(_SINGLES[quick])), drain=False
            )
        }
        row["single_c64"].pop("window")
    finally:
        await process.stop()
    print(f"  statuses reference {row}", flush=True)
    return row


async def _reference_writer(
    stack: BenchStack, messages: Sequence[Seeded], *, binary: bool = True
) -> dict[str, Any]:
    """The floor: the same kind of 1000-status bodies applied by ``apply_statuses``
    (``binary=False``: Stop 13's floor, every value escaped into the SQL text)."""
    bodies = [hook.body for hook in status_webhooks(messages, 1000)]
    mariadb = _mariadb()
    db0, load0 = _cpu(mariadb), _load()
    done = await apply_statuses(stack.database_url, bodies, binary=binary)
    wall = done["wall_seconds"]
    row = {
        "updates": done["statuses"],
        "processed_updates_per_s": round(done["statuses"] / wall, 1),
        "cpu_us_per_update": round(done["cpu_seconds"] / max(done["statuses"], 1) * 1e6, 1),
        "cores": round(done["cpu_seconds"] / wall, 2),
        "mariadb_cores": round((_cpu(mariadb) - db0) / wall, 2),
        "load_average_1m": [load0, _load()],
    }
    print(f"  statuses reference writer{'' if binary else ' (text)'} {row}", flush=True)
    return row


def _ratios(runs: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, float]]]:
    """Each run's batched step against the floor of its round: rate ours / floor, CPU per
    status ours / floor."""
    floors = runs["reference_writer"]
    ratios: dict[str, list[dict[str, float]]] = {}
    for name in ("before", "after", "apart"):
        for run, floor in zip(runs.get(name, []), floors, strict=False):
            batched = run["batched"]
            ratios.setdefault(name, []).append(
                {
                    "rate": round(
                        batched["processed_updates_per_s"] / floor["processed_updates_per_s"], 2
                    ),
                    "cpu": round(
                        batched["serve_cpu_us_per_update"] / floor["cpu_us_per_update"], 2
                    ),
                }
            )
    return ratios


async def _variant(
    stack: BenchStack, variant: str, src: Path | None, pool: _Messages, quick: bool, tag: str
) -> dict[str, Any]:
    apart = variant == "apart"
    lags = stack.run_dir / f"lags-{tag}.json"
    process, port = await stack.start_serve(
        src=src,
        lags=lags,
        WA_META_THROUGHPUT="1000",
        WA_WEBHOOK_PUMP="off" if apart else "inline",  # a checkout before it ignores it
    )
    processes = [process]
    try:
        if apart:
            processes.append(await stack.start_pump(src=src, WA_META_THROUGHPUT="1000"))
        await _post(port, pool.take(50), 1, 4)  # warm-up
        await _post(port, pool.take(_needed(2_000)), 1000, 2)
        await wait_drained(stack)
        row = {
            "batched": await _batched(
                stack, processes, port, pool.take(_needed(9_000 if quick else 30_000)), tag
            ),
            "during_passes": await _during(
                stack,
                port,
                pool.take(_needed(6_000 if quick else 12_000)),
                pool.take(_needed(1_500 if quick else 3_000)),
            ),
            "single_c64": await _single(stack, port, pool.take(_needed(_SINGLES[quick]))),
        }
    finally:
        for each in processes:
            await each.stop()
    # The loop lag of ``serve`` (the process that answers the POSTs) in each step's window.
    samples = json.loads(lags.read_text()) if lags.is_file() else []
    for step in ("during_passes", "single_c64"):
        row[step].update(lag_stats(samples, *row[step].pop("window")))
    row["serve_log_problems"] = process.log_problems()
    if apart:
        row["pump_log_problems"] = processes[1].log_problems()
    print(f"  statuses {variant:<6} {row}", flush=True)
    return row


async def run_statuses(stack: BenchStack, baseline: Path | None, quick: bool) -> dict[str, Any]:
    variants: list[tuple[str, Path | None]] = [("before", baseline)] if baseline else []
    variants += [("after", None), ("apart", None)]
    rounds = 1 if quick else 2
    sizes = (2_000, 9_000, 6_000, 1_500, 1_500) if quick else (2_000, 30_000, 12_000, 3_000, 3_000)
    per_run = 50 + sum(_needed(n) for n in sizes)
    floor = _needed(9_000 if quick else 30_000)  # the reference status writer's messages
    per_round = per_run * len(variants) + 50 + _needed(_SINGLES[quick]) + 2 * floor
    pool = _Messages(await seed_messages(stack.engine, 4_000_000, per_round * rounds + 100))
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in variants}
    runs["reference"] = []
    runs["reference_writer"] = []
    runs["reference_writer_text"] = []
    for round_ in range(rounds):
        runs["reference"].append(await _reference(stack, pool, quick))
        runs["reference_writer"].append(await _reference_writer(stack, pool.take(floor)))
        runs["reference_writer_text"].append(
            await _reference_writer(stack, pool.take(floor), binary=False)
        )
        for name, src in variants:
            runs[name].append(await _variant(stack, name, src, pool, quick, f"{name}-{round_}"))
    duplicates = await stack.scalar("SELECT COUNT(*) FROM wa_dlr_messages") - await stack.scalar(
        "SELECT COUNT(*) FROM (SELECT DISTINCT message_id, status FROM wa_dlr_messages) d"
    )
    return {
        "baseline_src": str(baseline) if baseline else None,
        "runs": runs,
        "ratios_to_reference_writer": _ratios(runs),
        "duplicate_reports": duplicates,
    }
