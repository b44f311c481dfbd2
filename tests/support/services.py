"""The real services the tests use: MariaDB, Redis and the Pub/Sub emulator.

A missing service fails the run with a message saying how to start it; tests never skip.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

MYSQL_SERVER_URL = os.environ.get("WA_TEST_MYSQL_URL", "mysql+asyncmy://root@127.0.0.1:3306")
REDIS_URL = os.environ.get("WA_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
SERVICES_DOC = "see the README, 'Services the tests need'"


def unique_name(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(4)}"


def require(condition: bool, what: str) -> None:
    if not condition:
        pytest.fail(f"{what} is not reachable: {SERVICES_DOC}", pytrace=False)


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def pubsub_emulator() -> Iterator[str]:
    """Starts Google's emulator on a free port; yields ``host:port``; stops it (and Java)."""
    gcloud = shutil.which("gcloud")
    require(gcloud is not None, "gcloud (for the Pub/Sub emulator)")
    assert gcloud is not None
    port = free_port()
    data_dir = tempfile.mkdtemp(prefix="pubsub-emulator-")
    log_path = Path(data_dir) / "emulator.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(  # noqa: S603
            [
                gcloud,
                "beta",
                "emulators",
                "pubsub",
                "start",
                f"--host-port=127.0.0.1:{port}",
                "--project=test",
                f"--data-dir={data_dir}",
                "--quiet",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(
                    f"the Pub/Sub emulator exited: {log_path.read_text()[-2000:]}", pytrace=False
                )
            if "Server started" in log_path.read_text(errors="replace") and port_open(
                "127.0.0.1", port
            ):
                break
            time.sleep(0.2)
        else:
            pytest.fail("the Pub/Sub emulator did not start within 90 s", pytrace=False)
        yield f"127.0.0.1:{port}"
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass  # the emulator's group is gone already
        shutil.rmtree(data_dir, ignore_errors=True)


class PrivateRedis:
    """A redis-server of one test's own, on a free port, that the test may stop, restart and
    freeze (SIGSTOP: connections are accepted by the kernel, nothing answers) without touching
    the shared one."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        server = shutil.which("redis-server")
        require(server is not None, "redis-server (to start a private Redis)")
        assert server is not None
        self._process = subprocess.Popen(  # noqa: S603
            [
                server,
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while not port_open("127.0.0.1", self.port, timeout=0.2):
            if self._process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("the private redis-server did not start", pytrace=False)
            time.sleep(0.05)

    def stop(self) -> None:
        if self._process is not None:
            self._process.send_signal(signal.SIGCONT)  # a frozen one must see the TERM
            self._process.terminate()
            self._process.wait(timeout=15)
            self._process = None

    def freeze(self) -> None:
        assert self._process is not None
        self._process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self._process is not None
        self._process.send_signal(signal.SIGCONT)


@contextmanager
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis()
    server.start()
    try:
        yield server
    finally:
        server.stop()
