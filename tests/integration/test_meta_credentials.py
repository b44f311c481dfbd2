"""``serve`` and ``worker`` send to Meta only with all four credentials, say where messages go
in one line at start, and stop with one line on a partial set; the sandbox has no known
webhook secret."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from infrastructure.config import Config
from infrastructure.db.migrations import upgrade
from infrastructure.meta import webhook_builder as build
from infrastructure.meta.webhook import sign
from tests.support.app import http_client
from tests.support.services import free_port
from tests.support.stack import REAL_META_CREDENTIALS

PROJECT = Path(__file__).resolve().parents[2]
FOUR = REAL_META_CREDENTIALS
SANDBOX_LINE = "Meta sandbox: nothing is sent to WhatsApp"
META_LINE = "sending to Meta's Cloud API at https://graph.example.com (v23.0)"


def _env(folder: Path, **changes: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WA_", "PUBSUB_"))}
    env["PYTHONPATH"] = str(PROJECT / "src")
    env["WA_DATABASE_URL"] = f"sqlite+aiosqlite:///{folder / 'db.sqlite'}"
    env["WA_META_GRAPH_URL"] = "https://graph.example.com"
    env.update(changes)
    return env


def _run(folder: Path, command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "composition.cli", command],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@contextmanager
def _started(folder: Path, args: list[str], env: dict[str, str]) -> Iterator[list[str]]:
    """The process's output lines as they come; stopped when the block ends."""
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "composition.cli", *args],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 120
        for line in process.stdout:
            lines.append(line.rstrip())
            if "Meta" in line or time.monotonic() > deadline:
                break
        yield lines
    finally:
        process.terminate()
        process.communicate(timeout=60)


@pytest.mark.parametrize("command", ["serve", "worker"])
@pytest.mark.parametrize(
    "missing",
    [["WA_META_ACCESS_TOKEN"], ["WA_META_APP_SECRET", "WA_META_WABA_ID"]],
    ids=["three of four", "two of four"],
)
def test_a_partial_set_of_credentials_stops_start_up_with_one_line(
    tmp_path: Path, command: str, missing: list[str]
) -> None:
    given = {k: v for k, v in FOUR.items() if k not in missing}

    result = _run(tmp_path, command, _env(tmp_path, **given))

    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"configuration error: {' and '.join(missing)} ")
    assert all(value not in result.stderr + result.stdout for value in FOUR.values())


@pytest.mark.parametrize(
    ("credentials", "says"), [(FOUR, META_LINE), ({}, SANDBOX_LINE)], ids=["all four", "none"]
)
def test_serve_says_where_messages_go_at_start(
    tmp_path: Path, credentials: dict[str, str], says: str
) -> None:
    env = _env(tmp_path, **credentials)
    upgrade(env["WA_DATABASE_URL"])
    with _started(tmp_path, ["serve", "--port", str(free_port())], env) as lines:
        assert any(says in line for line in lines), lines
    assert all(value not in "\n".join(lines) for value in FOUR.values())


def test_the_worker_says_where_messages_go_at_start(tmp_path: Path) -> None:
    env = _env(
        tmp_path,
        WA_PUBSUB_PROJECT="test",
        WA_PUBSUB_FDR_SUBSCRIPTION="fdr",
        PUBSUB_EMULATOR_HOST=f"127.0.0.1:{free_port()}",  # nobody there: it keeps trying
        WA_WORKER_METRICS_PORT="0",
        **FOUR,
    )
    upgrade(env["WA_DATABASE_URL"])
    with _started(tmp_path, ["worker"], env) as lines:
        assert any(META_LINE in line for line in lines), lines


async def test_the_sandbox_refuses_webhooks_when_no_secret_is_configured() -> None:
    body = build.text_message("917891971009", "hello")
    async with http_client(Config(database_url="sqlite+aiosqlite:///:memory:")) as client:
        # Signed with the value the sandbox used to have in its code.
        response = await client.post(
            "/webhooks/whatsapp",
            content=body,
            headers={"X-Hub-Signature-256": sign(body, "sandbox-app-secret")},
        )
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")
