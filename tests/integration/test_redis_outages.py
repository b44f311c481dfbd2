"""Redis stopped or frozen: settings changes still reach every process within the bound, the
limiter does not hang, and the service stays ready (degraded) and keeps sending.

Each test runs a redis-server of its own (``PrivateRedis``) to stop and SIGSTOP; the shared
one is never touched. The bound is ``SETTINGS_MAX_AGE_SECONDS`` (30 s) in the service; the
tests give the same code a bound of 3 s so that they need not wait half a minute.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from application.services import SettingsReader
from domain.errors import UpstreamUnavailable
from domain.quiet_hours import NO_QUIET_HOURS
from domain.settings import ChannelSetting
from infrastructure.cache.client import redis_client
from infrastructure.cache.redis import RedisSettingsCache
from infrastructure.config import Config
from infrastructure.db.tables import metadata
from infrastructure.db.uow import SqlUnitOfWork
from infrastructure.limits.throughput import PacedThroughputLimiter
from tests.conftest import new_id
from tests.integration.test_database_outages import push_envelope
from tests.support.app import http_client
from tests.support.portal import SECRET, api, bearer
from tests.support.services import PrivateRedis, private_redis
from tests.support.stack import eventually, fdr_event

BOUND = 3.0
#: No single read, write or send may wait longer than this on a Redis that does not answer.
NEVER_LONGER = 5.0


@pytest.fixture
def redis_server() -> Iterator[PrivateRedis]:
    with private_redis() as server:
        yield server


async def _save(engine: AsyncEngine, setting: ChannelSetting) -> None:
    async with SqlUnitOfWork(engine) as uow:
        await uow.settings.save(setting)
        await uow.commit()


async def _enabled(reader: SettingsReader, engine: AsyncEngine, account: int) -> bool:
    async with SqlUnitOfWork(engine) as uow:
        setting = await asyncio.wait_for(reader.get(uow, account), NEVER_LONGER)
    return setting.whatsapp_enabled


@pytest.mark.parametrize("outage", ["frozen", "stopped"])
async def test_a_workspace_disabled_while_redis_is_down_is_off_everywhere_within_the_bound(
    mysql_engine: AsyncEngine, redis_server: PrivateRedis, outage: str
) -> None:
    account = new_id()
    portal_client, worker_client = redis_client(redis_server.url), redis_client(redis_server.url)
    portal = SettingsReader(RedisSettingsCache(portal_client, max_age_seconds=BOUND))
    worker = SettingsReader(RedisSettingsCache(worker_client, max_age_seconds=BOUND), max_age=BOUND)
    try:
        await _save(mysql_engine, ChannelSetting(account_id=account, whatsapp_enabled=True))
        assert await _enabled(worker, mysql_engine, account)  # cached in Redis now

        if outage == "frozen":
            redis_server.freeze()
        else:
            redis_server.stop()
        await _save(mysql_engine, ChannelSetting(account_id=account, whatsapp_enabled=False))
        changed_at = time.monotonic()
        # The portal cannot tell Redis; it learns so at once, not after retries.
        with pytest.raises(UpstreamUnavailable):
            await asyncio.wait_for(portal.forget(account), NEVER_LONGER)

        seen: list[tuple[float, bool]] = []
        resumed = False
        while time.monotonic() < changed_at + BOUND + 4:
            if not resumed and time.monotonic() > changed_at + 1:
                # Back with the entry cached before the change (frozen) or empty (restarted).
                if outage == "frozen":
                    redis_server.thaw()
                else:
                    redis_server.start()
                resumed = True
            started = time.monotonic()
            enabled = await _enabled(worker, mysql_engine, account)
            assert time.monotonic() - started < NEVER_LONGER
            # When the read began: one begun before the bound may see the old value, however
            # late a busy machine lets it end.
            seen.append((started - changed_at, enabled))
            await asyncio.sleep(0.1)
    finally:
        await portal_client.aclose()
        await worker_client.aclose()
    late = [at for at, enabled in seen if enabled and at > BOUND]
    assert late == []
    assert seen[-1][1] is False


async def test_the_limiter_falls_back_at_once_when_redis_freezes(
    redis_server: PrivateRedis,
) -> None:
    limiter = PacedThroughputLimiter.redis(redis_server.url, 1000, key_prefix="outage-test:")
    try:
        await asyncio.wait_for(limiter.acquire("pn-1"), NEVER_LONGER)
        assert not limiter.degraded
        redis_server.freeze()
        started = time.monotonic()
        for _ in range(20):
            await asyncio.wait_for(limiter.acquire("pn-1"), NEVER_LONGER)
        assert time.monotonic() - started < NEVER_LONGER  # one timeout, then in process
        assert limiter.degraded
    finally:
        redis_server.thaw()
        await limiter.aclose()


async def _outcome(engine: AsyncEngine, event: dict[str, Any]) -> str | None:
    data = event["response_data"]
    table = metadata.tables["wa_fdr_events"]
    key = f"fdr:{data['id']}:{data['status_log_id']}"
    async with engine.connect() as conn:
        found = await conn.execute(select(table.c.outcome).where(table.c.event_key == key))
        return found.scalar_one_or_none()


async def test_with_redis_frozen_the_service_is_ready_degraded_and_follows_the_portal(
    mysql_url: str, mysql_engine: AsyncEngine, redis_server: PrivateRedis
) -> None:
    account = new_id()
    await _save(mysql_engine, ChannelSetting(account_id=account, whatsapp_enabled=True))
    config = Config(  # Meta's sandbox; on the real clock at any hour, so no quiet hours
        database_url=mysql_url,
        redis_url=redis_server.url,
        auth_jwt_secret=SECRET,
        quiet_hours=NO_QUIET_HOURS,
    )
    before, after = fdr_event(account_id=account), fdr_event(account_id=account)
    async with http_client(config) as client:

        async def push(event: dict[str, Any]) -> int:
            envelope = push_envelope(json.dumps(event).encode())
            pushed = await asyncio.wait_for(
                client.post("/pubsub/push/fdr", json=envelope), 3 * NEVER_LONGER
            )
            return pushed.status_code

        readiness: list[tuple[int, dict[str, Any]]] = []

        async def ready_as(status: str) -> bool:
            # A probe has a second (docs/outages.md): on a busy machine a fresh connection may
            # need longer, so the test waits for the answer instead of taking the first one.
            response = await asyncio.wait_for(client.get("/health/ready"), NEVER_LONGER)
            readiness.append((response.status_code, response.json()))
            return bool(response.json()["status"] == status)

        await eventually(lambda: ready_as("ok"), what="the service to be ready")
        redis_server.freeze()
        frozen = len(readiness)
        try:
            await eventually(lambda: ready_as("degraded"), what="the service to be degraded")
            assert await push(before) == 204
            turned_off = await asyncio.wait_for(
                client.put(
                    api(account, "/settings"),
                    json={
                        "isWhatsappEnabled": False,
                        "whatsappSenderConnectionId": None,
                        "templates": {},
                    },
                    headers=bearer(account),
                ),
                3 * NEVER_LONGER,
            )
            assert await push(after) == 204
        finally:
            redis_server.thaw()
    status_code, ready = readiness[-1]
    assert status_code == 200
    # A frozen Redis is never "ok": only a slow database may make a probe answer otherwise.
    assert all(answer["status"] != "ok" for _, answer in readiness[frozen:]), readiness
    assert ready["degraded"] == ["redis"]
    assert turned_off.status_code == 200
    assert await _outcome(mysql_engine, before) == "sent"
    assert await _outcome(mysql_engine, after) == "skipped"
