"""A local cluster: two ``serve`` and two ``worker`` processes on MariaDB, Redis and the Pub/Sub
emulator, with the bench's Meta fake, to watch the per-number limit and exactly-once hold
across processes (``make cluster``; docs/deploy.md, "Local cluster").

Every event is delivered twice, by both routes a deployment has: published to the
subscription the two workers pull, and pushed to one of the two ``serve`` processes'
``POST /pubsub/push/fdr``. Meta must still receive one template per event, and no second of
sends may hold more than the limit of the one sender number they share.

    python -m bench.cluster --events 200 --throughput 40        # runs until Ctrl-C
    python -m bench.cluster --events 500 --until-sent --report report.json
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import signal
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bench import env
from bench.fanout import FDR_ACCOUNT_ID, enable_account, new_events, publish_all, template_event
from bench.stack import BenchStack, bench_stack
from bench.stats import max_in_window

SERVES = 2
WORKERS = 2
#: The last line each process logs after a clean shutdown. uvicorn then raises the SIGTERM it
#: handled again, so a cleanly stopped ``serve`` exits by that signal, not with 0.
_SHUTDOWN_LINES = ("Application shutdown complete", "worker stopped")


@dataclass
class ClusterReport:
    """What the cluster did; the test and the person watching read the same numbers."""

    events: int
    throughput: int
    serve_urls: list[str] = field(default_factory=list)
    #: shipments Meta received a template for (each counted once) and the sends beyond one
    shipments_sent: int = 0
    duplicate_sends: int = 0
    #: the most sends Meta received in any moving second, and first-to-last arrival span
    busiest_second: int = 0
    send_span_seconds: float = 0.0
    #: sends each worker made (its ``fdr_events_total{outcome="sent"}``), and the pushes'
    #: answers from the two ``serve`` (204 handled, 503 "try again": the other copy was first)
    worker_sent: list[int] = field(default_factory=list)
    push_answers: dict[str, int] = field(default_factory=dict)
    recorded_sent: int = 0
    exit_codes: dict[str, int] = field(default_factory=dict)
    #: the processes that finished their own shutdown after SIGTERM (what they log last)
    stopped_cleanly: list[str] = field(default_factory=list)
    log_folder: str = ""

    def line(self) -> str:
        return (
            f"templates at Meta: {self.shipments_sent}/{self.events} shipments, "
            f"{self.duplicate_sends} duplicates; busiest second {self.busiest_second} "
            f"(limit {self.throughput}/s shared); workers sent {self.worker_sent}; "
            f"pushes answered {dict(sorted(self.push_answers.items()))}"
        )


async def _worker_sent(client: httpx.AsyncClient, port: int) -> int:
    with contextlib.suppress(httpx.HTTPError):
        text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "fdr_events_total" and sample.labels == {"outcome": "sent"}:
                    return int(sample.value)
    return 0


async def _observe(
    stack: BenchStack, report: ClusterReport, ids: set[int], metrics_ports: list[int]
) -> None:
    log = await stack.meta_sends()
    mine = [(t, s) for t, s in zip(log.times, log.shipments, strict=True) if s in ids]
    counts = Counter(s for _, s in mine)
    times = sorted(t for t, _ in mine)
    report.shipments_sent = len(counts)
    report.duplicate_sends = sum(n - 1 for n in counts.values())
    report.busiest_second = max_in_window(times) if times else 0
    report.send_span_seconds = round(times[-1] - times[0], 3) if times else 0.0
    async with httpx.AsyncClient(timeout=5) as client:
        report.worker_sent = [await _worker_sent(client, port) for port in metrics_ports]
    report.recorded_sent = await stack.scalar(
        "SELECT COUNT(*) FROM wa_fdr_events WHERE outcome = 'sent' AND account_id = :account",
        account=FDR_ACCOUNT_ID,
    )


async def _push_all(bodies: list[bytes], serve_urls: list[str], answers: Counter[str]) -> None:
    """Each event also pushed, as a push subscription would, to one ``serve`` in turn."""
    gate = asyncio.Semaphore(8)
    async with httpx.AsyncClient(timeout=30) as client:

        async def push(n: int, body: bytes) -> None:
            envelope = {
                "message": {"data": base64.b64encode(body).decode(), "messageId": f"push-{n}"},
                "subscription": "projects/bench/subscriptions/cluster-push",
            }
            url = f"{serve_urls[n % len(serve_urls)]}/pubsub/push/fdr"
            async with gate:
                try:
                    answers[str((await client.post(url, json=envelope)).status_code)] += 1
                except httpx.HTTPError as exc:
                    answers[type(exc).__name__] += 1

        await asyncio.gather(*(push(n, body) for n, body in enumerate(bodies)))


async def run_cluster(
    *,
    events: int,
    throughput: int,
    serve_ports: list[int | None],
    until_sent: float | None,
    emulator_host: str | None = None,
    stop: asyncio.Event | None = None,
) -> ClusterReport:
    """Starts the cluster, delivers ``events`` FDR events, reports every 2 s until ``stop`` is
    set (or, with ``until_sent``, until all are recorded as sent, waiting at most that many
    seconds), then stops every process with SIGTERM and records its exit code."""
    stop = stop or asyncio.Event()
    report = ClusterReport(events=events, throughput=throughput)
    async with bench_stack(meta_delay=0.05, emulator_host=emulator_host) as stack:
        report.log_folder = str(stack.run_dir)
        await enable_account(stack)
        processes: list[env.ServiceProcess] = []
        try:
            for port in serve_ports:
                serve, bound = await stack.start_serve(
                    port=port, WA_META_THROUGHPUT=str(throughput)
                )
                processes.append(serve)
                report.serve_urls.append(f"http://127.0.0.1:{bound}")
            metrics_ports = [env.free_port() for _ in range(WORKERS)]
            for port in metrics_ports:
                # The limit is per sender number, held in Redis: both workers share it.
                processes.append(
                    await stack.start_worker(
                        throughput=throughput,
                        concurrency=32,
                        WA_WORKER_METRICS_PORT=str(port),
                    )
                )
            print(
                f"cluster: serve at {', '.join(report.serve_urls)}; worker metrics on ports "
                f"{metrics_ports}; logs in {stack.run_dir}",
                flush=True,
            )
            ids, bodies = new_events(template_event(), events)
            answers: Counter[str] = Counter()
            await asyncio.gather(
                publish_all(stack, bodies), _push_all(bodies, report.serve_urls, answers)
            )
            deadline = time.monotonic() + (until_sent or 0)
            shown = ""
            while not stop.is_set():
                await _observe(stack, report, set(ids), metrics_ports)
                report.push_answers = dict(answers)
                if report.line() != shown:  # a line when something changed
                    shown = report.line()
                    print(f"cluster: {shown}", flush=True)
                if until_sent is not None and (
                    report.recorded_sent >= events or time.monotonic() > deadline
                ):
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 2.0)
            await _observe(stack, report, set(ids), metrics_ports)
        finally:
            for process in processes:
                report.exit_codes[process.name] = await process.stop()
                if any(line in process.log_text() for line in _SHUTDOWN_LINES):
                    report.stopped_cleanly.append(process.name)
    return report


def _ports(value: str) -> list[int | None]:
    ports: list[int | None] = [int(p) if p != "0" else None for p in value.split(",")]
    if len(ports) != SERVES:
        raise argparse.ArgumentTypeError(f"give {SERVES} ports, e.g. 8001,8002 (0: any free)")
    return ports


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cluster", description=__doc__)
    parser.add_argument("--events", type=int, default=200, help="FDR events to deliver")
    parser.add_argument("--throughput", type=int, default=40, help="WA_META_THROUGHPUT")
    parser.add_argument("--serve-ports", type=_ports, default=[8001, 8002])
    parser.add_argument(
        "--until-sent", type=float, metavar="SECONDS", help="stop once all are sent (or then)"
    )
    parser.add_argument("--emulator-host", help="a running Pub/Sub emulator (host:port)")
    parser.add_argument("--report", type=Path, help="write the final report here (JSON)")
    args = parser.parse_args(argv)

    async def run() -> ClusterReport:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        return await run_cluster(
            events=args.events,
            throughput=args.throughput,
            serve_ports=args.serve_ports,
            until_sent=args.until_sent,
            emulator_host=args.emulator_host,
            stop=stop,
        )

    try:
        report = asyncio.run(run())
    except env.BenchError as exc:
        print(f"cluster: {exc}", file=sys.stderr)
        return 2
    print(f"cluster stopped: {report.line()}, stopped cleanly {report.stopped_cleanly}", flush=True)
    if args.report:
        args.report.write_text(json.dumps(asdict(report), indent=2))
    clean = len(report.stopped_cleanly) == len(report.exit_codes)
    return 0 if clean and report.duplicate_sends == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
