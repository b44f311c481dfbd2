"""Answers and ``serve`` scale-out (``python -m bench answers``), in a few minutes.

Shoppers tap a quick-reply button of their template, one tap per POST (each of another
shopper); each tap is stored, decided and answered with a date picker (a Meta call, 50 ms at
the bench's fake). Reported: taps acknowledged per second, answers *handled* per second (the
taps over the time until the pump has closed every body), follow-ups the fake received (one
per answer: more is a duplicate), and the CPU of the ``serve`` processes and MariaDB.

Rows, in the same minutes so the machine's other load weighs on each alike:

- **before** (``--baseline DIR``, another copy of ``src``) and **after** (this checkout), with
  1 ``serve``, then with 2 ``serve`` processes sharing MariaDB and Redis (the taps dealt to
  them in turn);
- **before** and **after** with 1 ``serve``, each tap a ``reattempt`` (an NDR action: the ESB
  is asked, the bench's in-process one, then the shopper is told);
- single-status POSTs (c=64) against 1 and 2 ``serve``: statuses acknowledged and processed
  per second (the ``serve`` scale-out of status ingest).

The machine's load average is written beside each row: the box may be shared.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import counted
from bench.env import ServiceProcess
from bench.httpload import LoadResult, run_closed_loop
from bench.ingest import WEBHOOK_PATH, _cpu, _hooks_for, _mariadb, wait_drained
from bench.payloads import TICKS, Seeded, http_request, reply_webhook, seed_messages
from bench.stack import BenchStack
from bench.stats import ms, percentile

#: The buttons tapped: a date asked for (the picker sent back), or an NDR action.
DATE, REATTEMPT = "choose_date", "reattempt"

#: Taps in flight at the load generator (Meta retries nothing here: every POST is answered).
CONCURRENCY = 32


def _load() -> float:
    return round(os.getloadavg()[0], 2)


async def _serves(
    stack: BenchStack, count: int, src: Path | None = None
) -> list[tuple[ServiceProcess, int]]:
    """Each ``serve`` counts its database round trips (``bench.counted``, ``_round_trips``)."""
    started = []
    for _ in range(count):
        path = stack.run_dir / f"counts-{len(_COUNTS)}.json"
        process, port = await stack.start_serve(src=src, counts=path, WA_META_THROUGHPUT="1000")
        _COUNTS[process.pid] = path
        started.append((process, port))
    return started


#: Where each ``serve`` (by pid) writes its counts.
_COUNTS: dict[int, Path] = {}


async def _round_trips(processes: list[tuple[ServiceProcess, int]]) -> dict[str, int]:
    """The counts of every process so far, summed (each asked with ``SIGUSR1``)."""
    total: dict[str, int] = {}
    for process, _ in processes:
        path = _COUNTS[process.pid]
        before = counted.load(path).get("dumps", 0)
        process.process.send_signal(signal.SIGUSR1)
        now: dict[str, int] = {}
        for _ in range(500):
            now = counted.load(path)
            if now.get("dumps", 0) > before:
                break
            await asyncio.sleep(0.01)
        for key, value in now.items():
            total[key] = total.get(key, 0) + value
    return total


def _per_item(after: dict[str, int], before: dict[str, int], items: int) -> dict[str, float]:
    """Round trips per item in the measured window: statements, transactions, connections."""

    def per(key: str) -> float:
        return round((after.get(key, 0) - before.get(key, 0)) / max(items, 1), 1)

    return {
        "statements": per("statements"),
        "selects": per("statement select"),
        "transactions": round(per("commit") + per("rollback"), 1),
        "commits": per("commit"),
        "checkouts": per("checkouts"),
        "new_connections": per("connects"),
        # Every request to MariaDB: statements, COMMIT and ROLLBACK, the pool's pings.
        "round_trips": round(
            per("statements")
            + per("round trip commit")
            + per("round trip rollback")
            + per("round trip ping"),
            1,
        ),
    }


async def _split(
    ports: Sequence[int], requests: list[bytes], concurrency: int
) -> tuple[list[LoadResult], float]:
    """The requests dealt round-robin to the processes, ``concurrency`` in flight in all."""
    parts = [requests[i :: len(ports)] for i in range(len(ports))]
    started = time.monotonic()
    results = await asyncio.gather(
        *(
            run_closed_loop(
                "127.0.0.1", port, part, concurrency=max(1, concurrency // len(ports)), duration=180
            )
            for port, part in zip(ports, parts, strict=True)
        )
    )
    return list(results), time.monotonic() - started


async def _measure(
    stack: BenchStack,
    processes: list[tuple[ServiceProcess, int]],
    requests: list[bytes],
    concurrency: int,
    updates_each: int,
) -> dict[str, Any]:
    mariadb = _mariadb()
    load = _load()
    trips0 = await _round_trips(processes)
    cpu0 = sum(p.cpu_seconds() for p, _ in processes)
    db0, wall0 = _cpu(mariadb), time.monotonic()
    results, acked = await _split([port for _, port in processes], requests, concurrency)
    drain = await wait_drained(stack)
    wall = time.monotonic() - wall0
    trips = await _round_trips(processes)
    ok = sum(len(r.ok()) for r in results)
    latencies = [o.seconds for r in results for o in r.ok()]
    cpu = sum(p.cpu_seconds() for p, _ in processes) - cpu0
    return {
        "posts": ok,
        "errors": sum(len(r.outcomes) - len(r.ok()) + len(r.errors) for r in results),
        "acked_per_s": round(ok * updates_each / acked, 1),
        "handled_per_s": round(ok * updates_each / (acked + drain), 1),
        "p99_ms": ms(percentile(latencies, 99)),
        "serve_cores": round(cpu / wall, 2),
        # What sets the rate on a busy box: the CPU each POST's work costs, in all processes.
        "serve_cpu_ms_per_post": round(cpu / max(ok, 1) * 1000, 1),
        "mariadb_cores": round((_cpu(mariadb) - db0) / wall, 2),
        # Database round trips per POST, in all processes (``bench.counted``).
        "per_post": _per_item(trips, trips0, ok),
        "load_before": load,
        "load_after": _load(),
    }


async def _answers(
    stack: BenchStack, count: int, taps: Sequence[Seeded], src: Path | None, button: str
) -> dict[str, Any]:
    handled = "SELECT COUNT(*) FROM wa_customer_reply_messages WHERE handled_at IS NOT NULL"
    acted = "SELECT COUNT(*) FROM wa_ndr_actions WHERE state = 'done'"
    before, acted_before = await stack.scalar(handled), await stack.scalar(acted)
    processes = await _serves(stack, count, src)
    try:
        await stack.meta_reset()
        requests = [http_request(WEBHOOK_PATH, reply_webhook(m, button)) for m in taps]
        row = await _measure(stack, processes, requests, CONCURRENCY, 1)
    finally:
        for process, _ in processes:
            await process.stop()
    sends = await stack.meta_sends()
    row["follow_ups_sent"] = len(sends.times)
    row["handled_in_db"] = await stack.scalar(handled) - before
    row["esb_actions_done"] = await stack.scalar(acted) - acted_before  # one per reattempt
    return row


async def _statuses(stack: BenchStack, count: int, messages: Sequence[Seeded]) -> dict[str, Any]:
    processes = await _serves(stack, count)
    try:
        hooks, _ = _hooks_for(messages, 1)
        requests = [http_request(WEBHOOK_PATH, h) for h in hooks]
        return await _measure(stack, processes, requests, 64, 1)
    finally:
        for process, _ in processes:
            await process.stop()


async def run_answers(
    stack: BenchStack,
    baseline: Path | None,
    quick: bool,
    *,
    taps: int | None = None,
    statuses: int | None = None,
) -> dict[str, Any]:
    """``statuses=0`` leaves out the status rows (the smoke test's short run)."""
    taps = taps or (100 if quick else 300)
    statuses = (1_000 if quick else 3_000) if statuses is None else statuses
    per_status_run = -(-statuses // len(TICKS))
    # (row, serve processes, src, the button tapped): a date asked for (nothing for the ESB),
    # or a reattempt (an NDR action).
    variants: list[tuple[str, int, Path | None, str]] = [
        *([("before", 1, baseline, DATE)] if baseline else []),
        ("after", 1, None, DATE),
        *([("before", 2, baseline, DATE)] if baseline else []),
        ("after", 2, None, DATE),
        *([("before", 1, baseline, REATTEMPT)] if baseline else []),
        ("after", 1, None, REATTEMPT),
    ]
    pool = await seed_messages(
        stack.engine, 3_000_000, taps * len(variants) + 2 * per_status_run + 50
    )
    cursor = 0
    out: dict[str, Any] = {"baseline_src": str(baseline) if baseline else None, "answers": {}}
    if not quick:
        warm = await _serves(stack, 1, baseline)  # first start: imports and caches warm
        for process, _ in warm:
            await process.stop()
    for variant, count, src, button in variants:
        part = pool[cursor : cursor + taps]
        cursor += taps
        row = await _answers(stack, count, part, src, button)
        name = f"{variant}, {count} serve" + ("" if button == DATE else f", {button}")
        out["answers"][name] = row
        print(f"  answers {name}: {row}")
    out["statuses_single_c64"] = {}
    for count in (1, 2) if statuses else ():
        part = pool[cursor : cursor + per_status_run]
        cursor += per_status_run
        row = await _statuses(stack, count, part)
        out["statuses_single_c64"][f"{count} serve"] = row
        print(f"  statuses c=64 {count} serve: {row}")
    return out
