"""Held sends where people look: the portal API (``/held-sends``, the stats) and the console's
conversations page, on MariaDB."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest_asyncio

from application.services import NotificationOptions
from application.use_cases.held_sends import HeldSends
from application.use_cases.notify_failed_delivery import event_key
from domain.reasons import FdrReason
from domain.settings import ChannelSetting
from infrastructure.events.held_event import MsgspecFailedDeliveryCodec
from infrastructure.local.activity import RecordingActivityPublisher
from tests.conftest import new_id
from tests.support.doubles import FixedClock
from tests.support.portal import PortalEnv, portal_env, token
from tests.unit.test_notify_failed_delivery import seed_fdr

NIGHT = datetime(2026, 11, 20, 17, 30, tzinfo=UTC)  # 23:00 in India


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def env(mysql_url: str) -> AsyncIterator[PortalEnv]:
    async with portal_env(mysql_url) as running:
        yield running


async def _hold(env: PortalEnv, account: int, at: datetime) -> int:
    """A failed delivery that came in at ``at`` and was held, as the worker holds it."""
    fdr = seed_fdr(
        account_id=account,
        shipment_id=new_id(),
        status_log_id=new_id(),
        failed_at=at - timedelta(minutes=5),
    )
    options = NotificationOptions(
        default_account_id=5,
        tracking_base_url="https://wa.example.com",
        support_phone="+91-9876543210",
        support_email="help@example.com",
    )
    held = HeldSends(
        env.uow(),
        FixedClock(at),
        RecordingActivityPublisher(),
        options,
        MsgspecFailedDeliveryCodec(),
    )
    detail = await held.hold(
        fdr, ChannelSetting(account_id=account), FdrReason.OTP_CANCELLATION, event_key(fdr)
    )
    assert detail
    return fdr.shipment_id


async def test_the_portal_lists_held_sends_with_when_they_go(env: PortalEnv) -> None:
    account = new_id()
    shipment = await _hold(env, account, NIGHT)

    response = await env.get(account, "/held-sends")

    assert response.status_code == 200, response.text
    [held] = response.json()
    assert held["shipmentId"] == shipment
    assert held["reason"] == "otp_cancellation"
    assert held["heldUntil"] == "2026-11-21T03:30:00Z"
    assert held["detail"].startswith("held until 09:00 Asia/Kolkata")
    assert (await env.get(new_id(), "/held-sends")).json() == []  # another workspace's: none

    stats = await env.get(
        account, "/stats", **{"from": "2026-11-20T00:00:00Z", "to": "2026-11-22T00:00:00Z"}
    )
    assert stats.status_code == 200, stats.text
    assert stats.json()["total"]["held"] == 1


async def test_the_console_shows_held_until_09_00(env: PortalEnv) -> None:
    account = new_id()
    await _hold(env, account, NIGHT)
    env.client.cookies.clear()
    login = await env.client.get("/console/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', login.text)
    assert csrf is not None
    logged_in = await env.client.post(
        "/console/login", data={"csrf": csrf.group(1), "token": token(account)}
    )
    assert logged_in.status_code in (302, 303), logged_in.text

    page = await env.client.get(f"/console/workspaces/{account}/conversations")

    assert page.status_code == 200
    assert "Held for quiet hours" in page.text
    assert "held until 09:00 Asia/Kolkata" in page.text
