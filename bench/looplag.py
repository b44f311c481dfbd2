"""``fdr-whatsapp serve`` (or ``worker``) with its event loop's lag sampled:
``python -m bench.looplag OUT.json serve --port 8000``.

A task sleeps 5 ms over and over and records how late it woke (with the ``time.monotonic()``
it started, comparable with the bench's own clock) and how much CPU the loop's thread used
meanwhile; the samples are written to ``OUT.json`` when the process returns. A late wake-up
is a stretch in which nothing else on the loop could run either: a POST waiting behind other
work on the loop (a pump pass, other POSTs), or the process not scheduled at all. On a shared
machine the second dominates; the CPU used while the sampler waited (``loop_busy``) counts
only the first: what this process itself made its POSTs wait for.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from collections.abc import Sequence
from typing import Any

import uvicorn

from composition.cli import main as cli_main
from entrypoints.worker import Worker

PERIOD = 0.005


def lag_stats(samples: Sequence[Sequence[float]], start: float, end: float) -> dict[str, Any]:
    """p50 / p99 / max of the lags sampled between ``start`` and ``end``, and of the CPU the
    loop used while each sample waited (less the 5 ms asked for), in ms."""
    inside = [s for s in samples if start <= s[0] <= end]
    row: dict[str, Any] = {}
    for name, column in (("loop_lag", 1), ("loop_busy", 2)):
        values = sorted(max(s[column], 0.0) for s in inside)
        for label, share in (("p50", 0.5), ("p99", 0.99), ("max", 1.0)):
            if values:
                value = values[min(len(values) - 1, int(len(values) * share))]
                row[f"{name}_{label}_ms"] = round(value * 1000, 1)
    return row


def main() -> int:
    out, *argv = sys.argv[1:]
    samples: list[tuple[float, float, float]] = []

    async def sample() -> None:
        while True:
            started, cpu = time.monotonic(), time.thread_time()
            await asyncio.sleep(PERIOD)
            lag = time.monotonic() - started - PERIOD
            samples.append((started, lag, time.thread_time() - cpu - PERIOD))

    startup = uvicorn.Server.startup

    async def started(self: uvicorn.Server, *args: Any, **kwargs: Any) -> None:
        self._lag_sampler = asyncio.create_task(sample())  # type: ignore[attr-defined]
        await startup(self, *args, **kwargs)

    uvicorn.Server.startup = started  # type: ignore[method-assign]
    run = Worker.run
    sampling: list[asyncio.Task[None]] = []

    async def worker_run(self: Worker, stop: asyncio.Event) -> None:
        if not sampling:  # one sampler for the process (its workers share the loop)
            sampling.append(asyncio.create_task(sample()))
        await run(self, stop)

    Worker.run = worker_run  # type: ignore[method-assign]
    # As bench.profiled: uvicorn re-raises SIGTERM after its shutdown; keep the process to write.
    signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        code = cli_main(argv)
    finally:
        with open(out, "w") as f:
            json.dump(samples, f)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
