"""``python -m bench [SECTION ...|all] [--quick] [--out FILE] [--baseline SRC]``; sections:
ingest, fanout, limiter, peer, outcomes, scheduler, memory, answers, compare, profile,
statuses (1000-status bodies through the pump, before and after, against the reference status
writer: ``bench/statuses.py``), singles (single-status POSTs against one ``serve``, pump inline
and apart, before and after, against the reference receiver: ``bench/singles.py``).

``answers`` measures answers handled per second (Meta at 50 ms) with 1 and 2 ``serve``
processes, and single-status POSTs against 1 and 2 ``serve`` (``bench/answers.py``); with
``--baseline`` the "before" service too, in the same minutes.

``compare`` runs the reference receiver and sender (``bench/reference.py``), the service of
``--baseline`` (another copy of ``src``, the "before") when given, and this checkout's
service, side by side in the same minutes (``bench/compare.py``).

``all`` (the default, what ``make bench`` runs) is everything but compare (about half an
hour: ``make bench-compare``), profile (the service under cProfile) and statuses (about five
minutes) and singles; they are asked for by name. Results are merged into
``bench/results/latest.json`` (each section with the time it ran).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from bench import env
from bench.answers import run_answers
from bench.compare import fanout_side_by_side, run_compare
from bench.fanout import FULL_PLANS, QUICK_PLANS, run_fanout
from bench.ingest import FULL_LEVELS, QUICK_LEVELS, run_ingest
from bench.limiter import run_limiter
from bench.outcomes import run_outcomes
from bench.peer import run_peer
from bench.profile import run_profile
from bench.scheduler import run_scheduler
from bench.singles import run_singles
from bench.stack import BenchStack, bench_stack
from bench.statuses import run_statuses

RESULTS = Path(__file__).resolve().parent / "results"
SECTIONS = (
    "ingest",
    "fanout",
    "limiter",
    "peer",
    "outcomes",
    "scheduler",
    "memory",
    "answers",
    "compare",
    "profile",
    "statuses",
    "singles",
)
#: Not in ``all``: compare takes about half an hour, profile runs under cProfile.
ON_DEMAND = ("compare", "profile", "statuses", "singles")
#: One worker's FDR events/s when issue 15 was filed (its text; BENCHMARKS.md, "Issue 15
#: closed").
FANOUT_AT_ISSUE_START = 110.0


def _machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": model or platform.processor(),
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(),
        "python": sys.version.split()[0],
    }


def _commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=env.ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "src"],
            cwd=env.ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return "unknown"
    if out.returncode != 0:
        return "unknown"
    return out.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")


async def _versions(stack: BenchStack) -> dict[str, str]:
    async with stack.engine.connect() as conn:
        from sqlalchemy import text

        mariadb = str((await conn.execute(text("SELECT VERSION()"))).scalar())
    return {"mariadb": mariadb}


def _dependencies_compiled() -> bool:
    """Whether the dependencies' bytecode is there: without it (and with
    PYTHONDONTWRITEBYTECODE) each start compiles them, three fifths of `serve`'s start-up."""
    import importlib.util

    import sqlalchemy

    return Path(importlib.util.cache_from_source(sqlalchemy.__file__)).exists()


def _memory(results: dict[str, Any]) -> dict[str, Any]:
    """Start-up time and RSS of both processes, from the ingest and fan-out runs."""
    serve = results.get("ingest", {}).get("serve_memory", {})
    fanout = results.get("fanout", {})
    worker_runs = fanout.get("runs", [])
    worker_max = max(
        (r["worker_memory"]["rss_under_load_max_mib"] for r in worker_runs), default=None
    )
    return {
        "dependencies_compiled": _dependencies_compiled(),
        "serve": serve,
        "worker": {
            **fanout.get("worker_startup", {}),
            "rss_under_load_max_mib": worker_max,
            "per_run": [{"limit": r["limit"], **r["worker_memory"]} for r in worker_runs],
        },
    }


def _targets(results: dict[str, Any]) -> dict[str, Any]:
    targets: dict[str, Any] = {}
    ingest = results.get("ingest")
    if ingest:
        ok_levels = [
            lv
            for lv in ingest["levels"]
            if lv["processed_updates_per_s"] >= 3000 and lv["p99_ms"] < 100 and lv["errors"] == 0
        ]
        best = max(ingest["levels"], key=lambda lv: lv["processed_updates_per_s"])
        targets["ingest_3000_per_s_p99_under_100ms_nothing_lost"] = {
            "met": bool(ok_levels) and ingest["checks"]["exactly_once"],
            "levels_meeting_it": [
                f"{lv['per_body']}/POST c={lv['concurrency']}" for lv in ok_levels
            ],
            "best_processed_updates_per_s": best["processed_updates_per_s"],
            "best_single_update_processed_per_s": max(
                (lv["processed_updates_per_s"] for lv in ingest["levels"] if lv["per_body"] == 1),
                default=None,
            ),
            "exactly_once": ingest["checks"]["exactly_once"],
        }
    fanout = results.get("fanout")
    if fanout:
        top = [r for r in fanout["runs"] if r["limit"] >= 1000]
        rate = max((r["backlog"]["events_per_s"] for r in top), default=0.0)
        reference = fanout.get("side_by_side", {}).get("reference", {}).get("events_per_s")
        targets["fanout_1000_events_per_s_per_worker"] = {
            # The limiter holds one number to its tier (1,000/s at most, Meta's highest), so a
            # backlog that includes its ramp and tail comes in under 1,000/s by construction;
            # issue 15's other way to meet it: 4x the rate when it was filed and within 2x of
            # the reference sender (run with --baseline: the side-by-side rows).
            "met": rate >= 1000,
            "events_per_s": rate,
            "at_least_4x_the_issue_start": rate >= 4 * FANOUT_AT_ISSUE_START,
            "reference_sender_events_per_s": reference,
            "within_2x_of_the_reference_sender": (
                None if reference is None else rate * 2 >= reference
            ),
            "share_of_limit_reached": {
                str(r["limit"]): round(r["backlog"]["steady_send_rate"] / r["limit"], 3)
                for r in fanout["runs"]
            },
            # Arrivals at the Meta fake: a send leaves a moment after its slot was taken, so
            # these may exceed the limit by the jitter of that moment (see BENCHMARKS.md).
            "max_arrivals_in_a_calendar_second": {
                str(r["limit"]): max(r["backlog"]["sends_per_second"], default=0)
                for r in fanout["runs"]
            },
            "max_arrivals_in_a_moving_1s_window": {
                str(r["limit"]): r["backlog"]["max_sends_in_1s_window"] for r in fanout["runs"]
            },
        }
    limiter = results.get("limiter")
    if limiter:
        targets["limiter"] = {
            "max_slots_in_1s_window_at_80": max(
                row["max_sends_in_1s_window"] for row in limiter["steady"]
            ),
            "redis_scripts_per_send": [row["redis_scripts_per_send"] for row in limiter["steady"]],
            "fell_back_to_process_under_a_burst": limiter["burst"]["fell_back_to_process"],
        }
    outcomes = results.get("outcomes")
    if outcomes:
        targets["unmessaged_shipment_events_5000_per_s_per_worker_no_write"] = {
            "met": outcomes["events_per_s"] >= 5000 and not any(outcomes["rows_written"].values()),
            "events_per_s": outcomes["events_per_s"],
            "rows_written": outcomes["rows_written"],
        }
    answers = results.get("answers")
    if answers:
        rows = answers["answers"]
        one = rows.get("after, 1 serve", {})
        targets["answers_300_per_s_per_serve_meta_at_50_ms"] = {
            "met": one.get("handled_per_s", 0) >= 300,
            "handled_per_s": {name: row["handled_per_s"] for name, row in rows.items()},
            "each_answered_once": all(
                row["follow_ups_sent"] == row["posts"] == row["handled_in_db"]
                for row in rows.values()
            ),
        }
    scheduler = results.get("scheduler")
    if scheduler:
        targets["scheduler_1000_rows_per_s_4_processes_none_twice"] = {
            "met": scheduler["rows_per_s"] >= 1000
            and scheduler["ran_twice"] == 0
            and scheduler["rows_done"] == scheduler["jobs"],
            "rows_per_s": scheduler["rows_per_s"],
            "ran_twice": scheduler["ran_twice"],
        }
    memory = results.get("memory")
    if memory:
        serve_max = memory["serve"].get("rss_under_load_max_mib")
        worker_max = memory["worker"].get("rss_under_load_max_mib")
        targets["rss_under_200_mib_each"] = {
            "met": serve_max is not None
            and worker_max is not None
            and serve_max < 200
            and worker_max < 200,
            "serve_max_mib": serve_max,
            "worker_max_mib": worker_max,
        }
    return targets


async def _run(sections: list[str], quick: bool, baseline: Path | None) -> dict[str, Any]:
    results: dict[str, Any] = {}
    needs_stack = any(
        s in sections
        for s in (
            "ingest",
            "fanout",
            "memory",
            "answers",
            "profile",
            "compare",
            "statuses",
            "singles",
        )
    )
    if "peer" in sections:
        print("peer: pywa and ours, in process", file=sys.stderr)
        results["peer"] = run_peer(5_000 if quick else 20_000, 1 if quick else 3)
    if "limiter" in sections:
        print("limiter: waiting for slots, in process against Redis", file=sys.stderr)
        results["limiter"] = await run_limiter(quick)
    if "outcomes" in sections:
        print("outcomes: events of shipments never messaged, in process", file=sys.stderr)
        results["outcomes"] = await run_outcomes(quick)
    if "scheduler" in sections:
        print("scheduler: 4 processes claiming due jobs on MariaDB", file=sys.stderr)
        results["scheduler"] = await run_scheduler(quick)
    if not needs_stack:
        return results
    async with bench_stack() as stack:
        await _run_on_stack(stack, sections, quick, baseline, results)
    return results


async def _section(
    results: dict[str, Any], name: str, title: str, run: Coroutine[Any, Any, dict[str, Any]]
) -> None:
    """One section of the run, with the CPU the rest of the machine used meanwhile."""
    print(title, file=sys.stderr)
    cpu = env.CpuAccount()
    results[name] = await run
    results[name]["machine_cpu"] = cpu.report()


async def _run_on_stack(
    stack: BenchStack,
    sections: list[str],
    quick: bool,
    baseline: Path | None,
    results: dict[str, Any],
) -> None:
    results["versions"] = await _versions(stack)
    if "ingest" in sections or "memory" in sections:
        print("ingest: signed status webhooks against `serve`", file=sys.stderr)
        levels = QUICK_LEVELS if quick else FULL_LEVELS
        cpu = env.CpuAccount()
        results["ingest"] = await run_ingest(stack, levels, replies=100 if quick else 300)
        results["ingest"]["machine_cpu"] = cpu.report()
    if "fanout" in sections or "memory" in sections:
        results["fanout"] = await _fanout(stack, "fanout" in sections, quick, baseline)
    if "memory" in sections:
        results["memory"] = _memory(results)
    if "answers" in sections:
        await _section(
            results,
            "answers",
            "answers: taps handled with Meta at 50 ms, 1 and 2 `serve`",
            run_answers(stack, baseline, quick),
        )
    if "compare" in sections:
        await _section(
            results,
            "compare",
            "compare: the reference, before and after, side by side",
            run_compare(stack, baseline, quick),
        )
    if "statuses" in sections:
        await _section(
            results,
            "statuses",
            "statuses: 1000-status bodies through the pump, before and after",
            run_statuses(stack, baseline, quick),
        )
    if "singles" in sections:
        await _section(
            results,
            "singles",
            "singles: single-status POSTs, pump inline and apart, before and after",
            run_singles(stack, baseline, quick),
        )
    if "profile" in sections:
        print("profile: serve and worker under cProfile", file=sys.stderr)
        results["profile"] = await run_profile(stack, quick)


async def _fanout(
    stack: BenchStack, side_by_side: bool, quick: bool, baseline: Path | None
) -> dict[str, Any]:
    print("fanout: events through the emulator to one `worker`", file=sys.stderr)
    cpu = env.CpuAccount()
    side: dict[str, Any] | None = None
    if baseline is not None and side_by_side:
        # The reference sender, the worker of ``--baseline`` and this one, in turn.
        print("fanout: reference, before and after, side by side", file=sys.stderr)
        side = await fanout_side_by_side(stack, ["reference", "before", "after"], baseline, quick)
    result = await run_fanout(stack, QUICK_PLANS if quick else FULL_PLANS)
    if side is not None:
        result["side_by_side"] = side
    result["machine_cpu"] = cpu.report()
    return result


def _merge(path: Path, results: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    if path.exists():
        try:
            merged = json.loads(path.read_text())
        except ValueError:
            merged = {}
    for key, value in results.items():
        merged[key] = {"ran_at": meta["ran_at"], "commit": meta["commit"], **value}
    merged["last_run"] = meta
    merged["targets"] = _targets(merged)
    return merged


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    # No ``choices``: with nargs="*" argparse (3.11) refuses an empty list against them.
    parser.add_argument(
        "what", nargs="*", help=f"sections to run: {', '.join(SECTIONS)} or all (the default)"
    )
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--out", type=Path, default=RESULTS / "latest.json")
    parser.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="another copy of src to run as the 'before' of the compare and answers sections "
        "(and of the fanout section: the reference sender, before and after, side by side) "
        "(e.g. `git archive <commit> src | tar -x -C /tmp/base`, then /tmp/base/src)",
    )
    args = parser.parse_args()
    wanted = args.what or ["all"]
    unknown = sorted(set(wanted) - {*SECTIONS, "all"})
    if unknown:
        parser.error(f"unknown section {', '.join(unknown)}")
    sections = [s for s in SECTIONS if s not in ON_DEMAND] if "all" in wanted else wanted
    started = time.monotonic()
    others = env.machine_idle_cores()
    if others > 0.25:
        print(
            f"bench: the machine is busy before the start ({others} cores in use by others); "
            "the numbers will be lower than on a quiet machine",
            file=sys.stderr,
        )
    meta = {
        "ran_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": _commit(),
        "sections": sections,
        "quick": args.quick,
        "machine": _machine(),
        "cores_busy_before_start": others,
    }
    try:
        results = asyncio.run(_run(list(sections), args.quick, args.baseline))
    except env.BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    meta["seconds"] = round(time.monotonic() - started, 1)
    merged = _merge(args.out, results, meta)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(merged, indent=2) + "\n")
    print(json.dumps(merged["targets"], indent=2))
    print(f"bench: {meta['seconds']} s; results in {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
