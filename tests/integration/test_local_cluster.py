"""``make cluster`` as a person runs it: two ``serve`` and two ``worker`` processes share one
sender number's limit, and every FDR event becomes one template although each is delivered
twice (pulled by a worker and pushed to a ``serve``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support.services import MYSQL_SERVER_URL, REDIS_URL

PROJECT = Path(__file__).resolve().parents[2]
EVENTS = 500
LIMIT = 40


def test_two_serve_and_two_workers_send_each_event_once_within_the_shared_limit(
    tmp_path: Path, pubsub_emulator_host: str
) -> None:
    report_path = tmp_path / "cluster.json"
    result = subprocess.run(  # noqa: S603 (our own interpreter and module)
        [
            sys.executable,
            "-m",
            "bench.cluster",
            f"--events={EVENTS}",
            f"--throughput={LIMIT}",
            "--serve-ports=0,0",
            "--until-sent=300",
            f"--emulator-host={pubsub_emulator_host}",
            f"--report={report_path}",
        ],
        cwd=PROJECT,
        env={**os.environ, "WA_BENCH_MYSQL_URL": MYSQL_SERVER_URL, "WA_BENCH_REDIS_URL": REDIS_URL},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = result.stdout + result.stderr
    assert report_path.exists(), output
    report = json.loads(report_path.read_text())
    assert result.returncode == 0, output
    # Exactly once across four processes: one template per shipment, one recorded outcome.
    assert report["shipments_sent"] == EVENTS, output
    assert report["duplicate_sends"] == 0, output
    assert report["recorded_sent"] == EVENTS, output
    assert all(sent > 0 for sent in report["worker_sent"]), output
    # One limit for all: sends k and k + LIMIT take slots at least a second apart, whichever
    # process made them, so 500 sends span at least 12 s (a limit per process would halve
    # it). Two seconds are allowed for the time between taking a slot and reaching Meta.
    assert report["send_span_seconds"] >= (EVENTS - 1) // LIMIT - 2, output
    assert sorted(report["stopped_cleanly"]) == sorted(report["exit_codes"]), output
    assert len(report["exit_codes"]) == 4, output
