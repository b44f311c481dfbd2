"""``WA_WEBHOOK_PUMP=off`` and ``fdr-whatsapp pump`` as operators run them: ``serve`` only
stores and answers Meta's POSTs; a pump of its own process processes the bodies, serves its
metrics, and stops cleanly on SIGTERM (docs/webhooks.md, "The pump in a process of its own")."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from sqlalchemy import text

from infrastructure.db.engine import create_engine
from tests.conftest import new_id
from tests.support.meta_webhooks import signed, status, statuses_body
from tests.support.metrics import metric
from tests.support.services import free_port

PROJECT = Path(__file__).resolve().parents[2]
SECRET = "pump-test-app-secret"


def _env(database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WA_")}
    env.update(
        {
            "WA_DATABASE_URL": database_url,
            "WA_META_SANDBOX": "false",
            "WA_META_APP_SECRET": SECRET,
            "WA_META_PHONE_NUMBER_ID": "106540352242922",
            "WA_META_WABA_ID": "102290129340398",
            "WA_META_ACCESS_TOKEN": "test-token",
            "WA_META_GRAPH_URL": f"http://127.0.0.1:{free_port()}",  # statuses call no one
            "WA_LOG_LEVEL": "DEBUG",
            **extra,
        }
    )
    return env


@asynccontextmanager
async def _process(command: str, env: dict[str, str]) -> AsyncIterator[list[str]]:
    """``fdr-whatsapp <command>`` until the block ends, then SIGTERM; yields its output lines
    (complete once the block has ended), and asserts a clean exit: 0, or for ``serve`` the
    SIGTERM uvicorn raises again once it has shut down (docs/deploy.md, "Stopping")."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "composition.cli",
        command,
        *(["--port", env["TEST_PORT"]] if command == "serve" else []),
        cwd=PROJECT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    lines: list[str] = []

    async def read() -> None:
        assert process.stdout is not None
        async for line in process.stdout:
            lines.append(line.decode())

    reader = asyncio.create_task(read())
    try:
        yield lines
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 60)
        await reader
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        reader.cancel()
    clean = (0, -signal.SIGTERM) if command == "serve" else (0,)
    assert process.returncode in clean, "".join(lines)


async def _until(check: object, what: str, lines: list[str], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}: {''.join(lines)[-3000:]}")


async def test_serve_without_its_pump_stores_and_a_pump_process_processes(
    mysql_url: str,
) -> None:
    engine = create_engine(mysql_url, pool_size=1)
    port, metrics_port = free_port(), free_port()
    prefix = f"wamid.apart{new_id()}."
    wamids = [f"{prefix}{i}" for i in range(3)]

    async def reports() -> int:
        async with engine.connect() as conn:
            found = await conn.execute(
                text("SELECT COUNT(*) FROM wa_dlr_messages WHERE message_id LIKE :p"),
                {"p": f"{prefix}%"},
            )
            return int(found.scalar() or 0)

    try:
        serve_env = _env(mysql_url, WA_WEBHOOK_PUMP="off", TEST_PORT=str(port))
        async with _process("serve", serve_env) as serve_log:
            base = f"http://127.0.0.1:{port}"
            async with httpx.AsyncClient(base_url=base, timeout=10) as client:

                async def ready() -> bool:
                    try:
                        return (await client.get("/health/ready")).status_code == 200
                    except httpx.TransportError:
                        return False

                await _until(ready, "serve to be ready", serve_log)
                for wamid in wamids:
                    body = statuses_body([status(wamid, "delivered")])
                    answer = await client.post(
                        "/webhooks/whatsapp", content=body, headers=signed(body, SECRET)
                    )
                    assert answer.status_code == 200
                pump_env = _env(mysql_url, WA_PUMP_METRICS_PORT=str(metrics_port))
                async with _process("pump", pump_env) as pump_log:

                    async def processed() -> bool:
                        return await reports() == len(wamids)

                    await _until(processed, "the pump to process the bodies", pump_log)
                    async with httpx.AsyncClient() as scraper:
                        exposed = (
                            await scraper.get(f"http://127.0.0.1:{metrics_port}/metrics")
                        ).text
                    assert metric(exposed, 'webhook_updates_total{kind="status"}') == len(wamids)
    finally:
        await engine.dispose()
    # Every body was taken by the pump process; serve took none of them.
    assert any("webhooks processed" in line for line in pump_log)
    assert not any("webhooks processed" in line for line in serve_log), "".join(serve_log)
    assert any("pump stopped" in line for line in pump_log)
