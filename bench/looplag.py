"""``fdr-whatsapp serve`` with its event loop's lag sampled:
``python -m bench.looplag OUT.json serve --port 8000``.

A task sleeps 5 ms over and over and records how late it woke (with the ``time.monotonic()``
it started, comparable with the bench's own clock); the samples are written to ``OUT.json``
when the process returns. A late wake-up is a stretch in which nothing else on the loop could
run either: a POST waiting behind a pump pass, or the process not scheduled at all.
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

PERIOD = 0.005


def lag_stats(samples: Sequence[Sequence[float]], start: float, end: float) -> dict[str, Any]:
    """p50 / p99 / max of the lags sampled between ``start`` and ``end``, in ms."""
    lags = sorted(lag for at, lag in samples if start <= at <= end)
    if not lags:
        return {}

    def at(share: float) -> float:
        return round(lags[min(len(lags) - 1, int(len(lags) * share))] * 1000, 1)

    return {"loop_lag_p50_ms": at(0.5), "loop_lag_p99_ms": at(0.99), "loop_lag_max_ms": at(1.0)}


def main() -> int:
    out, *argv = sys.argv[1:]
    samples: list[tuple[float, float]] = []

    async def sample() -> None:
        while True:
            started = time.monotonic()
            await asyncio.sleep(PERIOD)
            samples.append((started, time.monotonic() - started - PERIOD))

    startup = uvicorn.Server.startup

    async def started(self: uvicorn.Server, *args: Any, **kwargs: Any) -> None:
        self._lag_sampler = asyncio.create_task(sample())  # type: ignore[attr-defined]
        await startup(self, *args, **kwargs)

    uvicorn.Server.startup = started  # type: ignore[method-assign]
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
