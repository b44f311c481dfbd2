"""What operators see: liveness, readiness, metrics, the OpenAPI docs and problem JSON."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import structlog

from infrastructure.config import Config
from tests.conftest import new_id
from tests.support.app import http_client
from tests.support.meta_webhooks import signed, status, statuses_body
from tests.support.metrics import metric
from tests.support.services import REDIS_URL, free_port

PROJECT = Path(__file__).resolve().parents[2]


async def test_ready_when_database_and_redis_answer(mysql_url: str) -> None:
    async with http_client(Config(database_url=mysql_url, redis_url=REDIS_URL)) as client:
        live = await client.get("/health/live")
        ready = await client.get("/health/ready")
    assert live.status_code == 200
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ok",
        "checks": {"database": "ok", "schema": "ok", "redis": "ok"},
        "degraded": [],
    }


async def test_redis_down_is_degraded_not_unready(mysql_url: str) -> None:
    """An orchestrator must not take every pod out on a Redis blip: the service works on the
    database. It is said in the body, in a metric and in one log line."""
    config = Config(database_url=mysql_url, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    with structlog.testing.capture_logs() as logs:
        async with http_client(config) as client:
            first = await client.get("/health/ready")
            again = await client.get("/health/ready")
            metrics = await client.get("/metrics")
    for ready in (first, again):
        assert ready.status_code == 200
        assert ready.json()["status"] == "degraded"
        assert ready.json()["degraded"] == ["redis"]
        assert ready.json()["checks"]["database"] == "ok"
        assert ready.json()["checks"]["redis"] != "ok"
    assert metric(metrics.text, 'dependency_up{dependency="redis"}') == 0
    assert metric(metrics.text, 'dependency_up{dependency="database"}') == 1
    degraded = [line for line in logs if line["event"].startswith("degraded")]
    assert [line["dependency"] for line in degraded] == ["redis"]


async def test_not_ready_when_the_database_is_down() -> None:
    config = Config(database_url=f"mysql+asyncmy://root@127.0.0.1:{free_port()}/nothing")
    async with http_client(config) as client:
        live = await client.get("/health/live")
        ready = await client.get("/health/ready")
    assert live.status_code == 200
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"] != "ok"


async def test_errors_are_problem_json(sqlite_url: str) -> None:
    async with http_client(Config(database_url=sqlite_url)) as client:
        missing = await client.get("/no/such/route")
        wrong_method = await client.delete("/health/live")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert missing.json()["status"] == 404
    assert missing.json()["title"] == "Not found"
    assert wrong_method.status_code == 405
    assert wrong_method.headers["content-type"].startswith("application/problem+json")


async def test_metrics_and_openapi_are_served(sqlite_url: str) -> None:
    async with http_client(Config(database_url=sqlite_url)) as client:
        await client.get("/health/live")
        metrics = await client.get("/metrics")
        spec = await client.get("/schema/openapi.json")
        docs = await client.get("/schema")
    assert metrics.status_code == 200
    assert "http_requests_total" in metrics.text
    assert spec.status_code == 200
    assert "/health/ready" in spec.json()["paths"]
    assert docs.status_code == 200
    assert "<html" in docs.text.lower()


async def test_the_webhook_pump_counts_what_it_processed(sqlite_url: str) -> None:
    secret = "metrics-test-secret"
    status_sample = 'webhook_updates_total{kind="status"}'
    async with http_client(Config(database_url=sqlite_url, meta_app_secret=secret)) as client:
        before = metric((await client.get("/metrics")).text, status_sample) or 0.0
        body = statuses_body([status(f"wamid.M{new_id()}", "delivered", recipient="919800000000")])
        stored = await client.post("/webhooks/whatsapp", content=body, headers=signed(body, secret))
        assert stored.status_code == 200
        metrics = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # the pump processes the body moments after the 200
            metrics = (await client.get("/metrics")).text
            if (metric(metrics, status_sample) or 0.0) > before:
                break
            await asyncio.sleep(0.05)
    # The counter is the process's: with the suite's tests sharing one event loop per process,
    # another test's pass may count too, so at least this body's status is asked for here.
    assert (metric(metrics, status_sample) or 0.0) >= before + 1


def test_the_demo_command_answers_ready(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "WA_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}",
    }
    process = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "composition.cli", "demo", "--port", str(port)],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(PROJECT / "src")},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        status = None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and status != 200:
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=5).status_code
            except httpx.HTTPError:
                time.sleep(0.2)
        assert status == 200
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=60)
    assert f"http://127.0.0.1:{port}/schema" in output


def _requests(text: str, path: str, status: int) -> float:
    """``http_requests_total`` of ``POST path`` answered ``status`` (0 when absent)."""
    labels = ('method="POST"', f'path="{path}"', f'status_code="{status}"')
    for line in text.splitlines():
        if line.startswith("http_requests_total{") and all(label in line for label in labels):
            return float(line.rpartition(" ")[2])
    return 0.0


async def test_webhook_posts_are_counted_by_route_and_status(sqlite_url: str) -> None:
    """Meta's webhook counts its own requests (entrypoints/http/webhooks.py): under the route's
    path templates, as the Prometheus middleware counts every other request."""
    secret = "metrics-test-secret"
    bare, own = "/webhooks/whatsapp", "/webhooks/whatsapp/{connection_id}"
    body = statuses_body([status(f"wamid.M{new_id()}", "delivered", recipient="919800000000")])
    async with http_client(Config(database_url=sqlite_url, meta_app_secret=secret)) as client:
        before = (await client.get("/metrics")).text
        ok = await client.post(bare, content=body, headers=signed(body, secret))
        refused = await client.post(bare, content=body, headers=signed(body, "other"))
        unknown = await client.post("/webhooks/whatsapp/77", content=body, headers={})
        after = (await client.get("/metrics")).text
    assert (ok.status_code, ok.text) == (200, "ok")
    assert ok.headers["content-type"] == "text/plain; charset=utf-8"
    assert refused.status_code == unknown.status_code == 401
    assert refused.json()["type"].endswith("/signature")
    for path, code, count in ((bare, 200, 1), (bare, 401, 1), (own, 401, 1)):
        assert _requests(after, path, code) - _requests(before, path, code) == count


async def test_a_webhook_body_over_the_limit_is_refused_unread(sqlite_url: str) -> None:
    secret = "metrics-test-secret"
    body = b'{"object":"whatsapp_business_account","entry":[]}' + b" " * 10_000_001
    async with http_client(Config(database_url=sqlite_url, meta_app_secret=secret)) as client:
        response = await client.post(
            "/webhooks/whatsapp", content=body, headers=signed(body, secret)
        )
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["status"] == 413


async def test_the_webhook_route_refuses_other_methods_and_paths(sqlite_url: str) -> None:
    async with http_client(Config(database_url=sqlite_url, meta_app_secret="s")) as client:
        put = await client.put("/webhooks/whatsapp", content=b"{}")
        named = await client.post("/webhooks/whatsapp/abc", content=b"{}")
        deeper = await client.post("/webhooks/whatsapp/12/34", content=b"{}")
    assert put.status_code == 405
    assert put.headers["content-type"].startswith("application/problem+json")
    assert [named.status_code, deeper.status_code] == [404, 404]
