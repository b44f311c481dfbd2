"""A database that is not migrated (or migrated to an older revision): the processes say so.

``serve`` and ``worker`` stop at start with one line naming the fix; a running process whose
database falls behind is not ready (503), where it used to answer 200 and then fail every
request with ``no such table``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from infrastructure.config import Config
from infrastructure.db.migrations import upgrade
from tests.support.app import http_client
from tests.support.services import free_port

PROJECT = Path(__file__).resolve().parents[2]
NO_SCHEMA = "the database has no schema: run fdr-whatsapp migrate"


def _start(command: str, database_url: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "WA_DATABASE_URL": database_url,
        "WA_PUBSUB_PROJECT": "test",
        "WA_PUBSUB_FDR_SUBSCRIPTION": "fdr",
        "PUBSUB_EMULATOR_HOST": f"127.0.0.1:{free_port()}",
        "WA_WORKER_METRICS_PORT": "0",
    }
    args = ["serve", "--port", str(free_port())] if command == "serve" else [command]
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "composition.cli", *args],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,  # a process that does not stop would serve on a database it cannot use
        check=False,
    )


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_serve_and_worker_stop_on_a_fresh_empty_database(
    command: str, empty_mysql_database: str
) -> None:
    started = _start(command, empty_mysql_database)
    assert started.returncode == 2
    assert started.stderr.strip().splitlines() == [NO_SCHEMA]


def test_serve_stops_on_an_older_schema(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0001")
    started = _start("serve", url)
    assert started.returncode == 2
    [line] = started.stderr.strip().splitlines()
    assert line.startswith("the database schema is at 0001, this code needs ")
    assert line.endswith(": run fdr-whatsapp migrate")


async def test_not_ready_while_the_database_is_not_migrated(empty_mysql_database: str) -> None:
    async with http_client(Config(database_url=empty_mysql_database)) as client:
        ready = await client.get("/health/ready")
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"] == "ok"
    assert (
        ready.json()["checks"]["schema"] == "the database has no schema: run fdr-whatsapp migrate"
    )
