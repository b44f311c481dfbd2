"""The benchmarks cannot rot: a tiny ingest round against a real ``serve``, and the peer.

``make bench`` is not part of ``make test``; this runs the same code on a few hundred updates
(its own database, Redis prefix and processes, the session's emulator) and checks that
every acknowledged update was stored exactly once.
"""

from __future__ import annotations

import pytest

from bench.ingest import Level, run_ingest
from bench.outcomes import run_outcomes
from bench.peer import run_peer
from bench.scheduler import run_scheduler
from bench.stack import bench_stack

pytestmark = [pytest.mark.mysql, pytest.mark.redis, pytest.mark.pubsub]


async def test_a_small_ingest_round_stores_every_update_once(pubsub_emulator_host: str) -> None:
    async with bench_stack(meta_delay=0.0, emulator_host=pubsub_emulator_host) as stack:
        result = await run_ingest(stack, (Level(1, 4, 300), Level(50, 2, 600)), replies=10)

    assert result["checks"]["exactly_once"], result["checks"]
    assert result["checks"]["updates_acknowledged"] == 300 + 300 + 600
    assert [level["errors"] for level in result["levels"]] == [0, 0]
    assert result["redelivery"]["new_reports_from_redelivery"] == 0
    assert result["replies"]["follow_ups_sent"] == 10
    assert result["serve_memory"]["ready_seconds"] > 0


def test_the_peer_parses_the_same_bodies() -> None:
    result = run_peer(updates=300, repeats=1)

    by_parser = {(r["parser"], r["per_body"]): r for r in result["runs"]}
    assert by_parser[("fdr-whatsapp parse", 50)]["updates_surfaced"] == 300
    assert by_parser[("pywa, every status", 50)]["updates_surfaced"] == 300
    assert by_parser[("pywa (as shipped)", 50)]["updates_surfaced"] == 6  # one per body


async def test_the_outcomes_round_acknowledges_unmessaged_shipments_without_a_write() -> None:
    result = await run_outcomes(quick=True)

    assert result["worker"]["acknowledged_unhandled"] == result["events"]
    assert result["rows_written"] == dict.fromkeys(result["rows_written"], 0)
    assert set(result["per_event"]["outcomes"]) == {"not_fdr", "outcome_not_messaged"}


async def test_the_scheduler_round_does_every_job_once_across_processes() -> None:
    result = await run_scheduler(quick=True, processes=2)

    assert result["ran_twice"] == 0
    assert result["ran"] == result["rows_done"] == result["jobs"]
