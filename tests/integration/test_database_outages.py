"""A database that stopped answering: requests get 503 within seconds, the worker logs it once.

"Frozen" is a proxy in front of the shared MariaDB that stops forwarding (connections are
accepted and stay open, nothing answers: what a SIGSTOPped or partitioned server looks like);
freezing the shared server itself would stall every other test run.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
import structlog
from sqlalchemy.engine import make_url

from composition.container import build_container
from entrypoints.worker import Worker
from infrastructure.config import Config
from infrastructure.local.events import InMemoryEventSource
from tests.conftest import new_id
from tests.support.app import AppClient, http_client
from tests.support.meta_webhooks import signed, status, statuses_body
from tests.support.portal import SECRET, api, bearer
from tests.support.proxy import FreezableProxy
from tests.support.services import free_port
from tests.support.stack import fdr_event

APP_SECRET = "outage-test-app-secret"
#: Each request below must be answered well within this (the app is told 1 s; before the
#: timeouts, a frozen database held requests for as long as it stayed frozen).
ANSWERED_WITHIN = 15.0


@pytest_asyncio.fixture(loop_scope="session")
async def proxy(mysql_url: str) -> AsyncIterator[FreezableProxy]:
    url = make_url(mysql_url)
    running = FreezableProxy(url.host or "127.0.0.1", url.port or 3306)
    await running.start()
    yield running
    await running.stop()


def _via(mysql_url: str, port: int) -> str:
    return make_url(mysql_url).set(port=port).render_as_string(hide_password=False)


def _config(database_url: str) -> Config:
    return Config(
        database_url=database_url,
        database_timeout_seconds=1.0,
        meta_app_secret=APP_SECRET,
        auth_jwt_secret=SECRET,
    )


async def _webhook(client: AppClient) -> int:
    body = statuses_body([status(f"wamid.O{new_id()}", "delivered", recipient="919800000000")])
    response = await client.post(
        "/webhooks/whatsapp", content=body, headers=signed(body, APP_SECRET)
    )
    return response.status_code


def push_envelope(event: bytes) -> dict[str, Any]:
    return {"message": {"data": base64.b64encode(event).decode(), "messageId": str(new_id())}}


async def _push(client: AppClient) -> int:
    event = json.dumps(fdr_event(account_id=new_id())).encode()
    return (await client.post("/pubsub/push/fdr", json=push_envelope(event))).status_code


async def _portal(client: AppClient) -> int:
    account = new_id()
    return (await client.get(api(account, "/settings"), headers=bearer(account))).status_code


async def _ready(client: AppClient) -> int:
    return (await client.get("/health/ready")).status_code


@pytest.mark.parametrize("outage", ["frozen", "closed port"])
async def test_webhook_push_and_portal_get_503_fast_when_the_database_does_not_answer(
    mysql_url: str, proxy: FreezableProxy, outage: str
) -> None:
    port = proxy.port if outage == "frozen" else free_port()
    codes: dict[str, int] = {}
    async with http_client(_config(_via(mysql_url, port))) as client:
        if outage == "frozen":
            # Pooled connections made while it answered, then it stops: the worst case.
            assert await _portal(client) == 200
            proxy.freeze()
        with structlog.testing.capture_logs() as logs:
            for what, request in (
                ("webhook", _webhook),
                ("push", _push),
                ("portal", _portal),
                ("ready", _ready),
                ("webhook again", _webhook),
            ):
                codes[what] = await asyncio.wait_for(request(client), ANSWERED_WITHIN)
        proxy.thaw()
    assert codes == {
        "webhook": 503,
        "push": 503,
        "portal": 503,
        "ready": 503,
        "webhook again": 503,
    }
    # Each 503 says why, once per kind of failure and minute: the second webhook adds no line.
    said = [line for line in logs if line["event"] == "answered 503: a dependency is unavailable"]
    assert said[0]["path"] == "/webhooks/whatsapp"
    assert all("database" in line["error"] and line["cause"] for line in said), said
    kinds = [line["kind"] for line in said]
    assert len(kinds) == len(set(kinds)), kinds  # no kind of failure said twice in the minute
    assert [line["path"] for line in said].count("/webhooks/whatsapp") == 1, said


class HandedBack(InMemoryEventSource):
    """Counts the events handed back for a retry (and keeps them out of the way)."""

    def __init__(self, expected: int) -> None:
        super().__init__()
        self.nacks = 0
        self._expected = expected
        self.all_handed_back = asyncio.Event()

    async def nack(self, ack_ids: list[str], delay_seconds: int = 0) -> None:
        self.nacks += len(ack_ids)
        if self.nacks >= self._expected:
            self.all_handed_back.set()


async def test_the_worker_logs_a_database_outage_once_not_once_per_event() -> None:
    """976 tracebacks in a minute buried everything else: one line per kind and interval,
    saying how many it stands for."""
    config = Config(database_url=f"mysql+asyncmy://root@127.0.0.1:{free_port()}/down")
    container = build_container(config)
    source = HandedBack(expected=40)
    for _ in range(40):
        source.publish(json.dumps(fdr_event(account_id=new_id())).encode())
    worker = Worker(container, source, concurrency=8)
    stop = asyncio.Event()
    with structlog.testing.capture_logs() as logs:
        run = asyncio.create_task(worker.run(stop))
        try:
            await asyncio.wait_for(source.all_handed_back.wait(), 60)
        finally:
            stop.set()
            await asyncio.wait_for(run, 30)
            await container.close()
    assert source.nacks >= 40  # every event was handed back to be retried
    failures = [line for line in logs if line["event"] == "event not handled, will retry"]
    assert len(failures) == 1
    assert failures[0]["kind"].startswith("UpstreamUnavailable")
    assert "exc_info" not in failures[0]  # an outage is not a bug: no traceback
