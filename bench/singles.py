"""Single-status POSTs against one ``serve``, before and after, against the reference receiver
(``python -m bench singles [--baseline SRC] [--quick]``), in a few minutes.

Meta sends most statuses one per POST: this is ``serve``'s busiest everyday load. In each
round, in turn so the machine's other load weighs on each alike: the reference receiver
(``bench/reference.py``: verify, insert, 200), then the service of ``--baseline`` ("before",
when given) and this checkout's ("after"), each once with the pump inline (the default) and
once apart (``serve`` with ``WA_WEBHOOK_PUMP=off`` beside one ``fdr-whatsapp pump``).

Each run: a warm-up, then single-status POSTs at c=64 until the pump has processed them all.
Reported: POSTs acknowledged and processed per second, p50/p99, the CPU per POST of the
service's processes (``serve``, and the pump apart: where the rate goes on a busy box), and
MariaDB's cores; ``ratios`` sets each run's processed rate against the reference receiver's
rate of its round (the receiver only stores: its processed rate is its acknowledged rate).

``WA_BENCH_PYSPY=/path/to/py-spy`` records a flame graph of this checkout's ``serve`` (and
pump) in each run (``speedscope`` JSON in the run's directory, kept with
``WA_BENCH_KEEP_LOGS=1``).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.compare import _Messages, _needed, _post
from bench.env import ServiceProcess
from bench.ingest import _cpu, _mariadb, wait_drained
from bench.payloads import seed_messages
from bench.stack import BenchStack
from bench.stats import ms, percentile
from bench.statuses import _spy

CONCURRENCY = 64


def _load() -> float:
    return round(os.getloadavg()[0], 2)


async def _run(
    stack: BenchStack,
    processes: Sequence[ServiceProcess],
    port: int,
    pool: _Messages,
    posts: int,
    *,
    drain: bool,
    spy_tag: str | None = None,
) -> dict[str, Any]:
    await _post(port, pool.take(_needed(100)), 1, 4)  # warm-up: connections, caches
    if drain:
        await wait_drained(stack)
    mariadb = _mariadb()
    spies = [
        _spy(p, stack.run_dir / f"pyspy-{spy_tag}-{i}.json")
        for i, p in enumerate(processes)
        if spy_tag
    ]
    load0 = _load()
    cpu0 = [p.cpu_seconds() for p in processes]
    db0, wall0 = _cpu(mariadb), time.monotonic()
    result = await _post(port, pool.take(_needed(posts)), 1, CONCURRENCY)
    drained = await wait_drained(stack) if drain else 0.0
    wall = time.monotonic() - wall0
    each = [p.cpu_seconds() - before for p, before in zip(processes, cpu0, strict=True)]
    cpu = sum(each)
    for spy in spies:
        if spy is not None:
            spy.send_signal(2)
            await asyncio.to_thread(spy.wait, 30)
    ok = result.ok()
    latencies = [o.seconds for o in ok]
    return {
        "posts": len(ok),
        "errors": len(result.outcomes) - len(ok) + len(result.errors),
        "acked_per_s": round(len(ok) / result.seconds, 1),
        "processed_per_s": round(len(ok) / (result.seconds + drained), 1),
        "p50_ms": ms(percentile(latencies, 50)),
        "p99_ms": ms(percentile(latencies, 99)),
        "cpu_ms_per_post": round(cpu / max(len(ok), 1) * 1000, 3),
        # ``serve`` alone (apart, the rest is the pump's).
        "serve_cpu_ms_per_post": round(each[0] / max(len(ok), 1) * 1000, 3),
        "cores": round(cpu / wall, 2),
        "mariadb_cores": round((_cpu(mariadb) - db0) / wall, 2),
        "load_average_1m": [load0, _load()],
    }


async def _variant(
    stack: BenchStack, src: Path | None, apart: bool, pool: _Messages, posts: int, tag: str
) -> dict[str, Any]:
    process, port = await stack.start_serve(
        src=src, WA_META_THROUGHPUT="1000", WA_WEBHOOK_PUMP="off" if apart else "inline"
    )
    processes = [process]
    try:
        if apart:
            processes.append(await stack.start_pump(src=src, WA_META_THROUGHPUT="1000"))
        spy_tag = tag if src is None and os.environ.get("WA_BENCH_PYSPY") else None
        row = await _run(stack, processes, port, pool, posts, drain=True, spy_tag=spy_tag)
    finally:
        for each in processes:
            await each.stop()
    problems: dict[str, int] = {}
    for each in processes:
        for key, count in each.log_problems().items():
            if "/pubsub/push/" not in key:  # the bench sets no push token: said at start-up
                problems[key] = problems.get(key, 0) + count
    if problems:
        row["log_problems"] = problems
    return row


async def run_singles(
    stack: BenchStack, baseline: Path | None, quick: bool, *, rounds: int | None = None
) -> dict[str, Any]:
    posts = 1_500 if quick else 3_000
    rounds = rounds or (1 if quick else 2)
    variants: list[tuple[str, Path | None, bool]] = []
    if baseline is not None:
        variants += [("before inline", baseline, False), ("before apart", baseline, True)]
    variants += [("after inline", None, False), ("after apart", None, True)]
    per_round = (len(variants) + 1) * (_needed(posts) + _needed(100)) + 10
    pool = _Messages(await seed_messages(stack.engine, 5_000_000, per_round * rounds + 100))
    runs: dict[str, list[dict[str, Any]]] = {"reference": []}
    ratios: dict[str, list[float]] = {}
    for round_ in range(rounds):
        process, port = await stack.start_reference_receiver()
        try:
            reference = await _run(stack, [process], port, pool, posts, drain=False)
        finally:
            await process.stop()
        runs["reference"].append(reference)
        print(f"  singles reference {reference}", flush=True)
        for name, src, apart in variants:
            tag = f"{name.replace(' ', '-')}-{round_}"
            row = await _variant(stack, src, apart, pool, posts, tag)
            runs.setdefault(name, []).append(row)
            ratios.setdefault(name, []).append(
                round(row["processed_per_s"] / max(reference["acked_per_s"], 1), 2)
            )
            print(f"  singles {name:<13} {row}", flush=True)
    return {
        "baseline_src": str(baseline) if baseline else None,
        "posts_per_run": posts,
        "concurrency": CONCURRENCY,
        "runs": runs,
        "processed_ratio_to_reference": ratios,
    }
