"""FDR fan-out: shipment events published to the emulator, one ``fdr-whatsapp worker`` process,
the Meta fake answering every send after a fixed delay.

Two runs per throughput limit, each with a fresh worker:

- **backlog**: N events published as fast as the emulator takes them; the worker drains
  them. Gives events/s end to end, and the send rate Meta sees (the limiter must hold it at
  or under the limit in every moving 1-second window, and the worker should reach it).
- **paced**: events published at a steady rate well under the worker's capacity; gives the
  event-to-send time a single event sees (publish to the Meta fake receiving the send).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gcloud.aio.pubsub import PubsubMessage

from bench.env import ROOT, BenchError, ServiceProcess
from bench.meta_fake import SendLog
from bench.stack import BenchStack
from bench.stats import max_in_window, mib, ms, per_second, percentile, steady_rate
from domain.settings import ChannelSetting
from entrypoints.sandbox import as_of_now
from infrastructure.db.uow import SqlUnitOfWork

FDR_ACCOUNT_ID = 777
_FIXTURE = "tests/fixtures/fdr-event-otp-cancellation.json"
_shipments = itertools.count(50_000_000)


@dataclass(frozen=True)
class FanoutPlan:
    limit: int
    backlog_events: int
    paced_seconds: float
    paced_rate: float | None = None  # None: half of what the backlog run reached
    concurrency: int = 128


FULL_PLANS = (FanoutPlan(80, 800, 8.0, 60.0), FanoutPlan(1000, 3000, 8.0))
QUICK_PLANS = (FanoutPlan(80, 200, 3.0, 40.0), FanoutPlan(1000, 600, 3.0))


def template_event() -> dict[str, Any]:
    # As if failed just now: the saved event is older than the stale age and would be skipped.
    event: dict[str, Any] = json.loads(as_of_now((ROOT / _FIXTURE).read_bytes()))
    event["response_data"]["account_id"] = FDR_ACCOUNT_ID
    return event


def new_events(template: dict[str, Any], count: int) -> tuple[list[int], list[bytes]]:
    """``count`` failed deliveries of new shipments (the fixture's event, renumbered), each
    to a shopper of its own (as in production: a number parsed, looked up per event)."""
    data = template["response_data"]
    ids: list[int] = []
    bodies: list[bytes] = []
    for _ in range(count):
        shipment = next(_shipments)
        data["id"] = shipment
        data["status_log_id"] = str(shipment)
        data["customerContactNumber"] = f"98{shipment % 100_000_000:08d}"
        ids.append(shipment)
        bodies.append(json.dumps(template, separators=(",", ":")).encode())
    return ids, bodies


async def enable_account(stack: BenchStack) -> None:
    async with SqlUnitOfWork(stack.engine) as uow:
        await uow.settings.save(ChannelSetting(account_id=FDR_ACCOUNT_ID, whatsapp_enabled=True))
        await uow.commit()


async def publish_all(stack: BenchStack, bodies: list[bytes], batch: int = 500) -> list[float]:
    """Publishes in order; returns each event's publish time (wall clock, before the call)."""
    times: list[float] = []
    for start in range(0, len(bodies), batch):
        part = bodies[start : start + batch]
        now = time.time()
        await stack.publisher.publish(stack.fdr_topic, [PubsubMessage(b) for b in part])
        times.extend([now] * len(part))
    return times


async def _publish_paced(stack: BenchStack, bodies: list[bytes], rate: float) -> list[float]:
    """Publishes ``rate`` events/s in ticks of 50 ms; returns each event's publish time."""
    tick = 0.05
    per_tick = max(1, round(rate * tick))
    times: list[float] = []
    started = time.monotonic()
    for n, start in enumerate(range(0, len(bodies), per_tick)):
        delay = started + n * tick - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        part = bodies[start : start + per_tick]
        now = time.time()
        await stack.publisher.publish(stack.fdr_topic, [PubsubMessage(b) for b in part])
        times.extend([now] * len(part))
    return times


async def _sent(stack: BenchStack, ids: set[int], within: float) -> SendLog:
    """Waits until every shipment in ``ids`` reached the Meta fake; returns their sends."""
    deadline = time.monotonic() + within
    while True:
        log = await stack.meta_sends()
        mine = [(t, s) for t, s in zip(log.times, log.shipments, strict=True) if s in ids]
        if len({s for _, s in mine}) >= len(ids) or time.monotonic() > deadline:
            return SendLog(times=[t for t, _ in mine], shipments=[s for _, s in mine])
        await asyncio.sleep(0.25)


async def _recorded(stack: BenchStack, ids: list[int], within: float = 60.0) -> int:
    """How many of the shipments have their outcome recorded as sent (waits for the last)."""
    deadline = time.monotonic() + within
    while True:
        count = await stack.scalar(
            "SELECT COUNT(*) FROM wa_fdr_events WHERE outcome = 'sent' "
            "AND shipment_id BETWEEN :lo AND :hi",
            lo=min(ids),
            hi=max(ids),
        )
        if count >= len(ids) or time.monotonic() > deadline:
            return count
        await asyncio.sleep(0.1)


def _latencies(ids: list[int], published: list[float], sends: SendLog) -> list[float]:
    at = dict(zip(ids, published, strict=True))
    return [t - at[s] for t, s in zip(sends.times, sends.shipments, strict=True) if s in at]


async def _backlog(
    stack: BenchStack, worker: ServiceProcess, plan: FanoutPlan, template: dict[str, Any]
) -> dict[str, Any]:
    ids, bodies = new_events(template, plan.backlog_events)
    cpu0 = worker.cpu_seconds()
    started = time.time()
    published = await publish_all(stack, bodies)
    publish_seconds = time.time() - started
    timeout = 30 + 3 * plan.backlog_events / plan.limit
    sends = await _sent(stack, set(ids), timeout)
    recorded = await _recorded(stack, ids)
    cpu = worker.cpu_seconds() - cpu0
    if not sends.times:
        raise BenchError(f"no sends reached the Meta fake: {worker.log_text()[-3000:]}")
    last = max(sends.times)
    per_shipment = len(sends.shipments) - len(set(sends.shipments))
    latencies = _latencies(ids, published, sends)
    window = max_in_window(sends.times)
    # The limiter stamps a send just before it leaves; arrivals at Meta jitter by the send's
    # latency, most at a cold start (new connections). The window after the first 2 s shows
    # the steady state.
    settled = [t for t in sends.times if t >= min(sends.times) + 2.0]
    return {
        "events": len(ids),
        "publish_seconds": round(publish_seconds, 2),
        "sent": len(set(sends.shipments)),
        "duplicate_sends": per_shipment,
        "outcomes_recorded": recorded,
        "seconds": round(last - started, 2),
        "events_per_s": round(len(set(sends.shipments)) / (last - started), 1),
        "steady_send_rate": round(steady_rate(sends.times), 1),
        "max_sends_in_1s_window": window,
        "limit": plan.limit,
        "limiter_held": window <= plan.limit,
        "max_sends_in_1s_window_after_2s": max_in_window(settled),
        "reached_limit_pct": round(100 * steady_rate(sends.times) / plan.limit, 1),
        "sends_per_second": per_second(sends.times),
        "event_to_send_p50_ms": ms(percentile(latencies, 50)),
        "event_to_send_p99_ms": ms(percentile(latencies, 99)),
        "worker_cpu_ms_per_event": round(cpu / max(len(ids), 1) * 1000, 2),
        "worker_cpu_share": round(cpu / max(last - started, 1e-9), 2),
    }


async def _paced(
    stack: BenchStack, plan: FanoutPlan, rate: float, template: dict[str, Any]
) -> dict[str, Any]:
    count = max(1, int(rate * plan.paced_seconds))
    ids, bodies = new_events(template, count)
    published = await _publish_paced(stack, bodies, rate)
    sends = await _sent(stack, set(ids), 60 + 3 * count / plan.limit)
    latencies = _latencies(ids, published, sends)
    return {
        "rate": round(rate, 1),
        "events": count,
        "sent": len(set(sends.shipments)),
        "duplicate_sends": len(sends.shipments) - len(set(sends.shipments)),
        "event_to_send_p50_ms": ms(percentile(latencies, 50)),
        "event_to_send_p90_ms": ms(percentile(latencies, 90)),
        "event_to_send_p99_ms": ms(percentile(latencies, 99)),
        "max_sends_in_1s_window": max_in_window(sends.times),
    }


async def run_fanout(
    stack: BenchStack, plans: tuple[FanoutPlan, ...], *, profile: Path | None = None
) -> dict[str, Any]:
    await enable_account(stack)
    template = template_event()
    runs: list[dict[str, Any]] = []
    startup: dict[str, Any] = {}
    for n, plan in enumerate(plans):
        await stack.meta_reset()
        await stack.new_fdr_subscription()
        probe_ids: list[int] = []
        if n == 0:
            # One event waiting before the worker starts: time to first useful work.
            probe_ids, probe = new_events(template, 1)
            await publish_all(stack, probe)
        spawned = time.time()
        worker = await stack.start_worker(
            throughput=plan.limit, concurrency=plan.concurrency, profile=profile
        )
        try:
            if probe_ids:
                first = await _sent(stack, set(probe_ids), 60)
                startup = {
                    "started_log_seconds": round(worker.ready_seconds or 0.0, 3),
                    "started_log_cpu_seconds": round(worker.ready_cpu_seconds or 0.0, 3),
                    "first_send_seconds": round(min(first.times) - spawned, 3),
                    "rss_idle_mib": mib(worker.rss.now()),
                }
            await asyncio.sleep(0.5)
            load_started = time.monotonic()
            backlog = await _backlog(stack, worker, plan, template)
            reached = backlog["steady_send_rate"]
            rate = plan.paced_rate or max(10.0, min(plan.limit * 0.5, reached * 0.5))
            paced = await _paced(stack, plan, rate, template)
            load_ended = time.monotonic()
            samples = worker.rss.between(load_started, load_ended)
            memory = {
                "rss_under_load_median_mib": mib(sorted(samples)[len(samples) // 2])
                if samples
                else None,
                "rss_under_load_max_mib": mib(max(samples, default=0)),
            }
        finally:
            code = await worker.stop()
        run = {
            "limit": plan.limit,
            "concurrency": plan.concurrency,
            "backlog": backlog,
            "paced": paced,
            "worker_memory": memory,
            "worker_exit_code": code,
            "worker_log_problems": worker.log_problems(),
        }
        runs.append(run)
        print(
            f"  fanout limit={plan.limit:<5} backlog {backlog['events_per_s']:>7.1f} ev/s "
            f"(steady {backlog['steady_send_rate']:.0f}/s, max 1s window "
            f"{backlog['max_sends_in_1s_window']})  paced {paced['rate']:.0f}/s: "
            f"p50 {paced['event_to_send_p50_ms']:.0f} ms p99 {paced['event_to_send_p99_ms']:.0f} ms"
        )
    return {"runs": runs, "worker_startup": startup}
