"""Everything one bench run shares: database, Redis prefix, emulator, topics, the Meta fake,
and how to start ``serve`` and ``worker`` against them."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import msgspec
from gcloud.aio.pubsub import PublisherClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bench import env
from bench.meta_fake import SendLog
from bench.payloads import ACCESS_TOKEN, APP_SECRET, PHONE_NUMBER_ID, WABA_ID
from infrastructure.db.engine import create_engine
from infrastructure.pubsub.client import PubSubTarget


@dataclass
class BenchStack:
    database_url: str
    redis_prefix: str
    emulator_host: str
    run_dir: Path
    engine: AsyncEngine
    meta: env.ServiceProcess
    meta_port: int
    publisher: PublisherClient
    target: PubSubTarget
    fdr_topic: str
    fdr_subscription: str
    activity_topic: str

    def service_env(self, **extra: str) -> dict[str, str]:
        """The WA_* variables of a production-like deployment pointed at the bench's world."""
        values = {
            "WA_DATABASE_URL": self.database_url,
            "WA_REDIS_URL": env.REDIS_URL,
            "WA_REDIS_KEY_PREFIX": self.redis_prefix,
            "WA_PUBSUB_PROJECT": self.target.project,
            "WA_PUBSUB_FDR_SUBSCRIPTION": self.fdr_subscription,
            "WA_PUBSUB_ACTIVITY_TOPIC": self.activity_topic,
            "PUBSUB_EMULATOR_HOST": self.emulator_host,
            "WA_META_GRAPH_URL": f"http://127.0.0.1:{self.meta_port}",
            "WA_META_SANDBOX": "false",
            "WA_META_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
            "WA_META_WABA_ID": WABA_ID,
            "WA_META_ACCESS_TOKEN": ACCESS_TOKEN,
            "WA_META_APP_SECRET": APP_SECRET,
            "WA_META_VERIFY_TOKEN": "bench-verify",
            "WA_PUBLIC_BASE_URL": "https://wa.example.com",
            # Measured at any hour: events in quiet hours would be held, not sent.
            "WA_QUIET_HOURS": "off",
            "WA_LOG_JSON": "true",
            "WA_LOG_LEVEL": "INFO",
        }
        values.update(extra)
        return values

    async def start_serve(
        self,
        *,
        profile: Path | None = None,
        counts: Path | None = None,
        lags: Path | None = None,
        port: int | None = None,
        src: Path | None = None,
        **extra: str,
    ) -> tuple[env.ServiceProcess, int]:
        """``counts``: the database round trips counted (``bench.counted``) into that file;
        ``lags``: the event loop's lag sampled (``bench.looplag``) into that file."""
        port = port or env.free_port()
        args = ["serve", "--port", str(port)]
        python_args = ["-m", "bench.profiled", str(profile)] if profile else None
        if counts is not None:
            python_args = ["-m", "bench.counted", str(counts)]
        if lags is not None:
            python_args = ["-m", "bench.looplag", str(lags)]
        service = env.spawn(
            f"serve-{port}",
            args,
            self.service_env(**extra),
            self.run_dir,
            python_args=python_args,
            src=src,
        )
        await env.wait_http_ready(service, f"http://127.0.0.1:{port}/health/ready")
        return service, port

    async def start_worker(
        self,
        *,
        throughput: int,
        concurrency: int,
        profile: Path | None = None,
        lags: Path | None = None,
        src: Path | None = None,
        **extra: str,
    ) -> env.ServiceProcess:
        """``lags``: the event loop's lag sampled (``bench.looplag``) into that file."""
        values = {
            "WA_META_THROUGHPUT": str(throughput),
            "WA_WORKER_CONCURRENCY": str(concurrency),
            "WA_WORKER_METRICS_PORT": str(env.free_port()),
            **extra,
        }
        python_args = ["-m", "bench.profiled", str(profile)] if profile else None
        if lags is not None:
            python_args = ["-m", "bench.looplag", str(lags)]
        name = f"worker-{throughput}-{secrets.token_hex(2)}"
        service = env.spawn(
            name,
            ["worker"],
            self.service_env(**values),
            self.run_dir,
            python_args=python_args,
            src=src,
        )
        await env.wait_log_line(service, "worker started")
        return service

    async def start_pump(self, *, src: Path | None = None, **extra: str) -> env.ServiceProcess:
        """``fdr-whatsapp pump`` (the webhook pump in a process of its own)."""
        values = {"WA_PUMP_METRICS_PORT": str(env.free_port()), **extra}
        name = f"pump-{secrets.token_hex(2)}"
        service = env.spawn(name, ["pump"], self.service_env(**values), self.run_dir, src=src)
        await env.wait_log_line(service, "pump started")
        return service

    async def start_reference_receiver(self) -> tuple[env.ServiceProcess, int]:
        """The floor for ingest (``bench/reference.py``): verify, insert, 200."""
        port = env.free_port()
        args = ["receiver", "--port", str(port), "--database-url", self.database_url]
        service = env.spawn(
            f"ref-receiver-{port}",
            [*args, "--secret", APP_SECRET],
            {},
            self.run_dir,
            python_args=["-m", "bench.reference"],
        )
        await env.wait_http_ready(service, f"http://127.0.0.1:{port}/health/ready")
        return service, port

    async def start_reference_sender(self, concurrency: int = 128) -> env.ServiceProcess:
        """The floor for fan-out (``bench/reference.py``): pull, POST to the fake, ack."""
        service = env.spawn(
            f"ref-sender-{secrets.token_hex(2)}",
            [
                "sender",
                "--emulator",
                self.emulator_host,
                "--subscription",
                self.fdr_subscription,
                "--meta",
                f"http://127.0.0.1:{self.meta_port}",
                "--concurrency",
                str(concurrency),
            ],
            {},
            self.run_dir,
            python_args=["-m", "bench.reference"],
        )
        await env.wait_log_line(service, "sender started")
        return service

    async def new_fdr_subscription(self) -> None:
        """A fresh topic and subscription for the next worker.

        The emulator hands messages to a pull whose client has gone (a stopped worker's long
        poll) and only redelivers them after the ack deadline; a new subscription per worker
        keeps one run's stranded pull from stalling the next run.
        """
        subscriber = self.target.subscriber()
        try:
            self.fdr_topic = self.target.topic_path(f"fdr-{secrets.token_hex(3)}")
            self.fdr_subscription = self.target.subscription_path(f"fdr-sub-{secrets.token_hex(3)}")
            await self.publisher.create_topic(self.fdr_topic)
            await subscriber.create_subscription(
                self.fdr_subscription, self.fdr_topic, {"ackDeadlineSeconds": 60}
            )
        finally:
            await subscriber.close()

    async def meta_sends(self) -> SendLog:
        async with httpx.AsyncClient(timeout=30) as client:
            answer = await client.get(f"http://127.0.0.1:{self.meta_port}/_bench/sends")
        return msgspec.json.decode(answer.content, type=SendLog)

    async def meta_reset(self) -> None:
        async with httpx.AsyncClient(timeout=10) as client:
            await client.post(f"http://127.0.0.1:{self.meta_port}/_bench/reset")

    async def scalar(self, sql: str, **params: object) -> int:
        async with self.engine.connect() as conn:
            value = (await conn.execute(text(sql), params)).scalar()
        return int(value or 0)


async def _start_meta_fake(run_dir: Path, delay: float) -> tuple[env.ServiceProcess, int]:
    port = env.free_port()
    fake = env.spawn(
        "meta-fake",
        ["--port", str(port), "--delay", str(delay)],
        {},
        run_dir,
        python_args=["-m", "bench.meta_fake"],
    )
    await env.wait_http_ready(fake, f"http://127.0.0.1:{port}/_bench/sends")
    return fake, port


@contextlib.asynccontextmanager
async def bench_stack(
    meta_delay: float = 0.05, emulator_host: str | None = None
) -> AsyncIterator[BenchStack]:
    """The bench's world; ``emulator_host`` reuses a running emulator (the smoke test's).

    The processes' logs are kept (and their folder printed) only when something failed.
    """
    run_dir = env.run_directory()
    with contextlib.ExitStack() as emulators:
        if emulator_host is None:
            emulator_host = emulators.enter_context(env.pubsub_emulator())
        async with env.bench_database() as database_url, env.redis_prefix() as prefix:
            target = PubSubTarget("bench", emulator_host)
            publisher = target.publisher()
            activity_topic = target.topic_path(f"activity-{secrets.token_hex(3)}")
            await publisher.create_topic(activity_topic)
            meta, meta_port = await _start_meta_fake(run_dir, meta_delay)
            engine = create_engine(database_url, pool_size=2)
            stack = BenchStack(
                database_url=database_url,
                redis_prefix=prefix,
                emulator_host=emulator_host,
                run_dir=run_dir,
                engine=engine,
                meta=meta,
                meta_port=meta_port,
                publisher=publisher,
                target=target,
                fdr_topic="",
                fdr_subscription="",
                activity_topic=activity_topic,
            )
            failed = True
            try:
                await stack.new_fdr_subscription()
                yield stack
                failed = False
            finally:
                await meta.stop()
                await publisher.close()
                await engine.dispose()
                if failed or os.environ.get("WA_BENCH_KEEP_LOGS"):
                    print(f"bench: logs of the processes in {run_dir}", file=sys.stderr)
                else:
                    shutil.rmtree(run_dir, ignore_errors=True)
