"""The hot paths under cProfile: ``serve`` under webhook load, ``worker`` draining a backlog.

Both run as real processes started through ``bench.profiled`` (cProfile around the CLI);
cProfile roughly doubles the CPU cost of Python code, so these runs give the shape of the
cost (which functions), never the rates. The summaries are written to ``bench/results``.
"""

from __future__ import annotations

import io
import pstats
from pathlib import Path
from typing import Any

from bench.fanout import FanoutPlan, enable_account, run_fanout
from bench.ingest import Level, run_ingest
from bench.stack import BenchStack

RESULTS = Path(__file__).resolve().parent / "results"
NOTE = (
    "Own times are what to read. cProfile charges the waits of coroutines (and of\n"
    "SQLAlchemy's greenlets) to odd frames: a row with a huge own time and a handful of calls\n"
    "(serve: `app.py:37(close)`) is the idle event loop, not work."
)


def _owner(filename: str, function: str) -> str:
    """Which library (or layer of ours) a profiled function belongs to."""
    if "site-packages/" in filename:
        return filename.split("site-packages/", 1)[1].split("/", 1)[0]
    if "/src/" in filename:
        return "fdr-whatsapp " + filename.split("/src/", 1)[1].split("/", 1)[0]
    if filename == "~":  # C functions: the interesting ones are the socket calls and poll
        return "builtin " + function.split(" of ")[0].strip("<>{}")[:40]
    if "/lib/python3" in filename:
        return "stdlib " + filename.rsplit("/lib/python3", 1)[1].split("/", 2)[1]
    return filename


def by_owner(stats: pstats.Stats, top: int = 20) -> str:
    """Own time summed per library: the shape of the cost at a glance. (cProfile charges a
    coroutine's waits to whoever resumes it, so cumulative times of async code are not to be
    trusted; own times are.)"""
    owners: dict[str, float] = {}
    for (filename, _, function), row in stats.stats.items():  # type: ignore[attr-defined]
        owner = _owner(filename, function)
        owners[owner] = owners.get(owner, 0.0) + row[2]
    total = sum(owners.values()) or 1.0
    lines = [f"{'seconds':>8} {'share':>6}  owner"]
    for owner, seconds in sorted(owners.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"{seconds:8.2f} {100 * seconds / total:5.1f}%  {owner}")
    return "\n".join(lines) + "\n\n"


def summarize(profile: Path, title: str, top: int = 35) -> str:
    out = io.StringIO()
    out.write(f"# {title}\n\n{NOTE}\n\n")
    stats = pstats.Stats(str(profile), stream=out)
    out.write("## own time by library\n")
    out.write(by_owner(stats))
    stats.strip_dirs()
    out.write("## by own time (tottime)\n")
    stats.sort_stats(pstats.SortKey.TIME).print_stats(top)
    out.write("## by cumulative time\n")
    stats.sort_stats(pstats.SortKey.CUMULATIVE).print_stats(top)
    return out.getvalue()


async def run_profile(stack: BenchStack, quick: bool = False) -> dict[str, Any]:
    RESULTS.mkdir(exist_ok=True)
    serve_prof = stack.run_dir / "serve.prof"
    worker_prof = stack.run_dir / "worker.prof"
    levels = (
        (Level(1, 16, 1_500), Level(50, 4, 5_000))
        if quick
        else (Level(1, 16, 8_000), Level(50, 4, 20_000))
    )
    await run_ingest(stack, levels, replies=100 if quick else 300, profile=serve_prof)
    await enable_account(stack)
    plan = FanoutPlan(1000, 500 if quick else 2500, 2.0, 50.0)
    await run_fanout(stack, (plan,), profile=worker_prof)
    written = {}
    for prof, name in ((serve_prof, "serve"), (worker_prof, "worker")):
        text = summarize(prof, f"cProfile of `fdr-whatsapp {name}`")
        target = RESULTS / f"profile-{name}.txt"
        target.write_text(text)
        written[name] = str(target.relative_to(RESULTS.parent.parent))
    return {"summaries": written}
