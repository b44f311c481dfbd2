"""``fdr-whatsapp worker`` as operators run it: a process that pulls, serves its metrics, and
stops cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from gcloud.aio.pubsub import PubsubMessage

from infrastructure.config import DEFAULT_WORKER_METRICS_PORT
from infrastructure.pubsub.client import PubSubTarget
from tests.conftest import new_id
from tests.support.metrics import metric
from tests.support.services import free_port
from tests.support.stack import fdr_event, new_subscription

PROJECT = Path(__file__).resolve().parents[2]


async def test_the_worker_serves_its_metrics_and_stops_on_sigterm(
    mysql_url: str, pubsub_emulator_host: str
) -> None:
    target = PubSubTarget("test", pubsub_emulator_host)
    publisher, subscriber = target.publisher(), target.subscriber()
    topic, subscription = await new_subscription(
        target, publisher, subscriber, "fdr", ack_deadline_seconds=30
    )
    # WhatsApp is off for a new workspace: the event is recorded as skipped, nothing is sent.
    await publisher.publish(
        topic, [PubsubMessage(json.dumps(fdr_event(account_id=new_id())).encode())]
    )
    await publisher.close()
    await subscriber.close()
    port = free_port()
    env = {
        **os.environ,
        "WA_DATABASE_URL": mysql_url,
        "WA_PUBSUB_PROJECT": "test",
        "WA_PUBSUB_FDR_SUBSCRIPTION": subscription,
        "PUBSUB_EMULATOR_HOST": pubsub_emulator_host,
        "WA_WORKER_METRICS_PORT": str(port),
    }
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "composition.cli",
        "worker",
        cwd=PROJECT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output = ""
    try:
        skipped = None
        text = ""
        deadline = time.monotonic() + 120
        async with httpx.AsyncClient() as client:
            while time.monotonic() < deadline:
                try:
                    text = (await client.get(f"http://127.0.0.1:{port}/metrics")).text
                except httpx.TransportError:
                    text = ""
                skipped = metric(text, 'fdr_events_total{outcome="skipped"}')
                if skipped:
                    break
                await asyncio.sleep(0.2)
        assert skipped == 1.0
        assert metric(text, "worker_events_in_flight") == 0.0
        worker.send_signal(signal.SIGTERM)
        out, _ = await asyncio.wait_for(worker.communicate(), 60)
        output = out.decode()
    finally:
        if worker.returncode is None:
            worker.kill()
            await worker.communicate()
    assert worker.returncode == 0, output
    assert "worker stopped" in output


def test_a_metrics_port_in_use_stops_the_worker_with_one_line(mysql_url: str) -> None:
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "composition.cli", "worker"],
            cwd=PROJECT,
            env={
                **os.environ,
                "WA_DATABASE_URL": mysql_url,
                "WA_PUBSUB_PROJECT": "test",
                "WA_PUBSUB_FDR_SUBSCRIPTION": "projects/test/subscriptions/none",
                "WA_WORKER_METRICS_PORT": str(port),
            },
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert result.returncode == 2
    assert result.stderr.strip().startswith(
        f"configuration error: WA_WORKER_METRICS_PORT {port} cannot be served"
    )
    assert len(result.stderr.strip().splitlines()) == 1


async def test_a_second_worker_on_the_host_runs_without_metrics_on_the_default_port(
    mysql_url: str, pubsub_emulator_host: str
) -> None:
    target = PubSubTarget("test", pubsub_emulator_host)
    publisher, subscriber = target.publisher(), target.subscriber()
    _topic, subscription = await new_subscription(
        target, publisher, subscriber, "fdr", ack_deadline_seconds=30
    )
    await publisher.close()
    await subscriber.close()
    env = {key: value for key, value in os.environ.items() if key != "WA_WORKER_METRICS_PORT"}
    env.update(
        {
            "WA_DATABASE_URL": mysql_url,
            "WA_PUBSUB_PROJECT": "test",
            "WA_PUBSUB_FDR_SUBSCRIPTION": subscription,
            "PUBSUB_EMULATOR_HOST": pubsub_emulator_host,
        }
    )
    with socket.socket() as first_worker:  # holds the default port, as a first worker would
        with contextlib.suppress(OSError):  # already taken by something else: the same case
            first_worker.bind(("0.0.0.0", DEFAULT_WORKER_METRICS_PORT))
            first_worker.listen()
        second = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "composition.cli",
            "worker",
            cwd=PROJECT,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            assert second.stdout is not None
            seen: list[str] = []
            while not any("worker started" in line for line in seen):
                line = await asyncio.wait_for(second.stdout.readline(), 120)
                assert line, "".join(seen)
                seen.append(line.decode())
            second.send_signal(signal.SIGTERM)
            rest, _ = await asyncio.wait_for(second.communicate(), 60)
        finally:
            if second.returncode is None:
                second.kill()
                await second.communicate()
    output = "".join(seen) + rest.decode()
    assert second.returncode == 0, output
    assert "worker metrics not served" in output
