"""Shipment events of shipments never messaged (most of the FDR subscription's traffic): what
one worker gets through per second, in process against MariaDB, and that none is written.

- **worker**: batches of 100 (a pull) through ``ShipmentEventTriage``, one after the other, as
  the worker's loop does: one read per batch, the events acknowledged without a handler.
- **per_event**: each event through ``ShipmentEventIntake`` with a request scope of its own,
  ``concurrency`` at once: the push endpoint's path, and the worker's without the triage.

The pull and ack round trips to Pub/Sub (100 per call) are not in the numbers.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from sqlalchemy import text

from application.use_cases.intake import ShipmentEventIntake
from application.use_cases.intake_triage import ShipmentEventTriage
from bench import env
from bench.fanout import template_event
from composition.container import build_container
from infrastructure.config import Config
from infrastructure.db.engine import create_engine

#: Shipment events a worker sees: most are neither failed attempts nor about a shipment
#: we wrote about. The mix of kinds the outcome path decodes.
KINDS = ("delivered", "rto_initiated", "rto_delivered", "cancelled", "intransit")
TABLES = ("wa_shipment_events", "wa_conversation_outcomes", "wa_fdr_events")
_COUNTS = {t: text(f"SELECT COUNT(*) FROM {t}") for t in TABLES}  # noqa: S608 - fixed names
BATCH = 100


def _events(count: int) -> list[bytes]:
    template = template_event()
    data = template["response_data"]
    bodies = []
    for n in range(count):
        kind = KINDS[n % len(KINDS)]
        template["eventSubType"] = kind
        data["status"] = kind
        data["id"] = 90_000_000 + n
        data["status_log_id"] = str(900_000_000 + n)
        bodies.append(json.dumps(template, separators=(",", ":")).encode())
    return bodies


async def run_outcomes(quick: bool, concurrency: int = 32) -> dict[str, Any]:
    count = 5_000 if quick else 50_000
    bodies = _events(count)
    async with env.bench_database() as url:
        # A bench measures throughput, not outage detection: a connect slowed by a busy box
        # must not count as a database that is down (the service's default is 2 s).
        container = build_container(Config(database_url=url, database_timeout_seconds=30.0))
        engine = create_engine(url, pool_size=1)
        try:
            worker = await _worker(container, bodies)
            per_event = await _per_event(container, bodies[: count // 5], concurrency)
            async with engine.connect() as conn:
                rows = {t: int((await conn.execute(q)).scalar() or 0) for t, q in _COUNTS.items()}
        finally:
            await container.close()
            await engine.dispose()
    return {
        "events": count,
        "worker": worker,
        "per_event": per_event,
        "events_per_s": worker["events_per_s"],
        "rows_written": rows,
    }


async def _worker(container: Any, bodies: list[bytes]) -> dict[str, Any]:
    async def triage(batch: list[bytes]) -> int:
        async with container() as request:
            triaged = await request.get(ShipmentEventTriage)
            return sum(await triaged(batch))

    await triage(bodies[:BATCH])  # warm
    acked = 0
    cpu, started = time.process_time(), time.monotonic()
    for first in range(0, len(bodies), BATCH):
        acked += await triage(bodies[first : first + BATCH])
    seconds = time.monotonic() - started
    cpu = time.process_time() - cpu
    return {
        "batch": BATCH,
        "events_per_s": round(len(bodies) / seconds, 1),
        "cpu_us_per_event": round(1e6 * cpu / len(bodies), 1),
        "acknowledged_unhandled": acked,
    }


async def _per_event(container: Any, bodies: list[bytes], concurrency: int) -> dict[str, Any]:
    outcomes: dict[str, int] = {}
    slots = asyncio.Semaphore(concurrency)

    async def handle(n: int, body: bytes) -> None:
        async with slots, container() as request:
            intake = await request.get(ShipmentEventIntake)
            result = await intake(body, f"bench-{n}")
        outcomes[result.outcome] = outcomes.get(result.outcome, 0) + 1

    await asyncio.gather(*(handle(-n - 1, b) for n, b in enumerate(bodies[:100])))  # warm
    outcomes.clear()
    cpu, started = time.process_time(), time.monotonic()
    await asyncio.gather(*(handle(n, b) for n, b in enumerate(bodies)))
    seconds = time.monotonic() - started
    cpu = time.process_time() - cpu
    return {
        "events": len(bodies),
        "concurrency": concurrency,
        "events_per_s": round(len(bodies) / seconds, 1),
        "cpu_us_per_event": round(1e6 * cpu / len(bodies), 1),
        "outcomes": outcomes,
    }
