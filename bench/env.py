"""The bench's own world: a MariaDB database, a Redis key prefix, a Pub/Sub emulator, and the
service started as real processes (``python -m composition.cli serve|worker``).

Everything is created under a random name and removed afterwards, so a bench run never sees
a test run's data (or another bench's).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
from redis.asyncio import Redis
from sqlalchemy import text

from infrastructure.db import migrations
from infrastructure.db.engine import create_engine

MYSQL_SERVER_URL = os.environ.get("WA_BENCH_MYSQL_URL", "mysql+asyncmy://root@127.0.0.1:3306")
REDIS_URL = os.environ.get("WA_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
ROOT = Path(__file__).resolve().parents[1]


class BenchError(RuntimeError):
    """A service the bench needs is missing or misbehaved."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


# --- MariaDB ---------------------------------------------------------------------------------


async def _admin(statement: str) -> None:
    engine = create_engine(MYSQL_SERVER_URL + "/", pool_size=1)
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


@contextlib.asynccontextmanager
async def bench_database() -> AsyncIterator[str]:
    """``bench_<random>``, migrated to head (with the seed templates), dropped afterwards."""
    if not port_open("127.0.0.1", 3306) and "127.0.0.1:3306" in MYSQL_SERVER_URL:
        raise BenchError("MariaDB is not reachable at 127.0.0.1:3306 (see README, Services)")
    name = f"bench_{secrets.token_hex(4)}"
    await _admin(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    url = f"{MYSQL_SERVER_URL}/{name}?charset=utf8mb4"
    try:
        await migrations.upgrade_async(url)
        yield url
    finally:
        await _admin(f"DROP DATABASE IF EXISTS `{name}`")


@contextlib.asynccontextmanager
async def redis_prefix() -> AsyncIterator[str]:
    """A key prefix of this run's own; its keys are deleted afterwards."""
    prefix = f"bench:{secrets.token_hex(4)}:"
    client = Redis.from_url(REDIS_URL, socket_timeout=2)
    try:
        try:
            await client.ping()
        except Exception as exc:  # any failure to reach it is the same problem
            raise BenchError(f"Redis is not reachable at {REDIS_URL}") from exc
        yield prefix
        keys = [k async for k in client.scan_iter(match=prefix + "*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


# --- Pub/Sub emulator ------------------------------------------------------------------------


@contextlib.contextmanager
def pubsub_emulator() -> Iterator[str]:
    """Google's emulator on a free port; yields ``host:port``; stops it (and its Java)."""
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        raise BenchError("gcloud (with the pubsub-emulator component) is needed")
    port = free_port()
    data_dir = tempfile.mkdtemp(prefix="bench-pubsub-")
    log_path = Path(data_dir) / "emulator.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                gcloud,
                "beta",
                "emulators",
                "pubsub",
                "start",
                f"--host-port=127.0.0.1:{port}",
                "--project=bench",
                f"--data-dir={data_dir}",
                "--quiet",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                raise BenchError(f"the Pub/Sub emulator exited: {log_path.read_text()[-2000:]}")
            started = "Server started" in log_path.read_text(errors="replace")
            if started and port_open("127.0.0.1", port):
                break
            if time.monotonic() > deadline:
                raise BenchError("the Pub/Sub emulator did not start within 90 s")
            time.sleep(0.2)
        yield f"127.0.0.1:{port}"
    finally:
        _stop_group(process, timeout=15)
        shutil.rmtree(data_dir, ignore_errors=True)


def _stop_group(process: subprocess.Popen[bytes], timeout: float) -> None:
    """SIGTERM to the process group we started (its own session), then SIGKILL if it lingers."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)
    except ProcessLookupError:
        pass


# --- the service as real processes -----------------------------------------------------------


@dataclass
class RssSampler:
    """Samples a process's resident set size (psutil) in the background."""

    pid: int
    interval: float = 0.25
    samples: list[tuple[float, int]] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def now(self) -> int:
        return int(psutil.Process(self.pid).memory_info().rss)

    def between(self, start: float, end: float) -> list[int]:
        return [rss for t, rss in self.samples if start <= t <= end]

    async def _run(self) -> None:
        process = psutil.Process(self.pid)
        while True:
            with contextlib.suppress(psutil.Error):
                self.samples.append((time.monotonic(), int(process.memory_info().rss)))
            await asyncio.sleep(self.interval)


@dataclass
class ServiceProcess:
    """One ``fdr-whatsapp`` process the bench started, its log, and its RSS samples."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    started_at: float  # time.monotonic() just before spawning
    rss: RssSampler
    ready_seconds: float | None = None
    #: CPU the process had used when it was ready: what start-up costs, whatever the load.
    ready_cpu_seconds: float | None = None
    cpu_before: float = 0.0

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_problems(self) -> dict[str, int]:
        """Warnings and errors the process logged, counted by event (JSON log lines)."""
        counts: dict[str, int] = {}
        for line in self.log_text().splitlines():
            if not line.startswith("{"):
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("level") in ("warning", "error", "critical", "exception"):
                key = f"{entry['level']}: {entry.get('event', '')}"[:120]
                counts[key] = counts.get(key, 0) + 1
        return counts

    def cpu_seconds(self) -> float:
        times = psutil.Process(self.pid).cpu_times()
        return float(times.user + times.system)

    async def stop(self, grace: float = 20.0) -> int:
        await self.rss.stop()
        if self.process.poll() is None:
            # SIGTERM asks for a clean shutdown (uvicorn, and the worker's own handler, both
            # finish what is in flight); only this process, which the bench started, is sent it.
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(self.process.wait, grace)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.wait()


def service_env(base: dict[str, str], src: Path | None = None) -> dict[str, str]:
    """The process environment: this interpreter's, minus any WA_* of the caller, plus ours.

    ``src``: another copy of the service's ``src`` folder to run instead of this one (the
    "before" of a before/after comparison, e.g. ``git archive <commit> src``); it goes first
    on ``PYTHONPATH``, ahead of the installed package.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("WA_")}
    env.pop("PUBSUB_EMULATOR_HOST", None)
    # The service runs in a scratch directory; ``bench.*`` wrappers are found from the repo.
    paths = (str(src) if src else None, str(ROOT), env.get("PYTHONPATH"))
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    env.update(base)
    return env


def spawn(
    name: str,
    args: list[str],
    env: dict[str, str],
    run_dir: Path,
    *,
    python_args: list[str] | None = None,
    src: Path | None = None,
) -> ServiceProcess:
    """``python [python_args] -m composition.cli <args>`` in ``run_dir`` (no stray ``.env``).
    A ``src`` from before the composition package (a baseline) has its CLI in entrypoints."""
    log_path = run_dir / f"{name}.log"
    cli = "composition.cli" if src is None or (src / "composition").is_dir() else "entrypoints.cli"
    module = python_args or ["-m", cli]
    started = time.monotonic()
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, *module, *args],
            env=service_env(env, src),
            cwd=run_dir,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    rss = RssSampler(process.pid)
    rss.start()
    return ServiceProcess(name, process, log_path, started, rss)


async def wait_http_ready(service: ServiceProcess, url: str, within: float = 60.0) -> float:
    """Seconds from spawning until ``url`` answers 200 (polled every 10 ms)."""
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(timeout=1.0) as client:
        while time.monotonic() < deadline:
            if service.process.poll() is not None:
                raise BenchError(f"{service.name} exited: {service.log_text()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(url)).status_code == 200:
                    service.ready_seconds = time.monotonic() - service.started_at
                    service.ready_cpu_seconds = service.cpu_seconds()
                    return service.ready_seconds
            await asyncio.sleep(0.01)
    raise BenchError(f"{service.name} not ready within {within} s: {service.log_text()[-3000:]}")


async def wait_log_line(service: ServiceProcess, needle: str, within: float = 60.0) -> float:
    """Seconds from spawning until ``needle`` appears in the process's log."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if needle in service.log_text():
            service.ready_seconds = time.monotonic() - service.started_at
            service.ready_cpu_seconds = service.cpu_seconds()
            return service.ready_seconds
        if service.process.poll() is not None:
            raise BenchError(f"{service.name} exited: {service.log_text()[-3000:]}")
        await asyncio.sleep(0.01)
    raise BenchError(f"{service.name}: no {needle!r} within {within} s")


def run_directory() -> Path:
    return Path(tempfile.mkdtemp(prefix="fdr-bench-"))


# --- what else used the CPU ------------------------------------------------------------------


def _busy_seconds() -> float:
    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


def _tree_seconds(names: tuple[str, ...]) -> float:
    """CPU seconds of this process, its children (the service, fakes, emulator) and the shared
    servers the bench drives (MariaDB, Redis)."""
    me = psutil.Process()
    processes = [me, *me.children(recursive=True)]
    processes += [p for p in psutil.process_iter(["name"]) if p.info["name"] in names]
    total = 0.0
    for process in {p.pid: p for p in processes}.values():
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            total += times.user + times.system + times.children_user + times.children_system
    return total


@dataclass
class CpuAccount:
    """How busy the machine was during a section, and how much of that was not the bench.

    Other work on the box (another engineer's test run) shows up as ``foreign_cores``; the
    numbers of a section with a large value are not comparable with a quiet run's.
    """

    started: float = field(default_factory=time.monotonic)
    busy0: float = field(default_factory=_busy_seconds)
    ours0: float = 0.0

    _SERVERS = ("mariadbd", "mysqld", "redis-server")

    def __post_init__(self) -> None:
        self.ours0 = _tree_seconds(self._SERVERS)

    def report(self) -> dict[str, float]:
        wall = max(time.monotonic() - self.started, 1e-9)
        busy = _busy_seconds() - self.busy0
        ours = _tree_seconds(self._SERVERS) - self.ours0
        return {
            "wall_seconds": round(wall, 1),
            "busy_cores": round(busy / wall, 2),
            "bench_cores": round(ours / wall, 2),
            "foreign_cores": round(max(busy - ours, 0.0) / wall, 2),
        }


def machine_idle_cores(seconds: float = 2.0) -> float:
    """Cores' worth of CPU used by others right now (before the bench starts anything)."""
    busy0 = _busy_seconds()
    time.sleep(seconds)
    return round((_busy_seconds() - busy0) / seconds, 2)
