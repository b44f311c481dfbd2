"""Conversations and funnel stats through the portal API, on MariaDB."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio

from domain.conversation import ConversationState
from domain.ndr import NdrActionState
from domain.reasons import FdrReason
from domain.status import MessageStatus
from tests.conftest import new_id
from tests.support.factories import T0
from tests.support.portal import PortalEnv, portal_env, record_skip, record_thread


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def env(mysql_url: str) -> AsyncIterator[PortalEnv]:
    async with portal_env(mysql_url) as running:
        yield running


def _iso(moment: Any) -> str:
    return str(moment.isoformat().replace("+00:00", "Z"))


async def test_the_thread_is_told_in_time_order(env: PortalEnv) -> None:
    account = new_id()
    recorded = await record_thread(env.uow, account, reason=FdrReason.CUSTOMER_UNREACHABLE)

    response = await env.get(account, f"/conversations/{recorded.conversation_id}")

    assert response.status_code == 200
    body = response.json()
    summary = body["conversation"]
    assert summary["id"] == recorded.conversation_id
    assert summary["reason"] == "customer_unreachable"
    assert summary["status"] == "resolved"
    assert summary["customerPhone"] == "********1009"
    assert summary["templateStatus"] == "read"
    thread = body["thread"]
    assert [
        (e["type"], e.get("status") or e.get("answerType") or e.get("action")) for e in thread
    ] == [
        ("message", "read"),
        ("status", "sent"),
        ("status", "delivered"),
        ("status", "read"),
        ("answer", "button"),
        ("message", "delivered"),
        ("answer", "text"),
        ("action", "update_phone"),
        ("click", None),
    ]
    times = [e["at"] for e in thread]
    assert times == sorted(times)
    assert times[0] == _iso(T0)
    template, tap, typed, action = thread[0], thread[4], thread[6], thread[7]
    assert template["kind"] == "template"
    assert template["messageId"] == recorded.template_wamid
    assert tap["buttonId"] == "alt_number"
    assert tap["inReplyTo"] == recorded.template_wamid
    assert typed["value"] == "call me on ***** *3210 please"
    assert action["state"] == "done"
    assert action["result"] == "ESB-NDR-1"
    assert action["phone"] == "********3210"
    assert "917891971009" not in response.text
    assert "9876543210" not in response.text


async def test_a_failed_template_shows_its_error_without_the_number(env: PortalEnv) -> None:
    account = new_id()
    recorded = await record_thread(
        env.uow,
        account,
        template_status=MessageStatus.FAILED,
        accepted=False,
        error_code=131026,
        answered=False,
        action=None,
        clicked=False,
        state=ConversationState.FAILED,
    )
    body = (await env.get(account, f"/conversations/{recorded.conversation_id}")).json()
    assert body["conversation"]["templateStatus"] == "failed"
    assert body["conversation"]["errorCode"] == 131026
    [message] = body["thread"]
    assert message["errorCode"] == 131026
    assert message["errorTitle"] == "(131026) failed for ********1009"


async def test_conversations_are_listed_newest_first_and_paged(env: PortalEnv) -> None:
    account = new_id()
    recorded = [
        await record_thread(env.uow, account, created_at=T0 + timedelta(minutes=i))
        for i in range(5)
    ]
    newest_first = [r.conversation_id for r in reversed(recorded)]

    first = await env.get(account, "/conversations", limit=2)
    assert first.status_code == 200
    page = first.json()
    assert [c["id"] for c in page["items"]] == newest_first[:2]
    assert page["items"][0]["customerPhone"] == "********1009"
    assert page["items"][0]["templateStatus"] == "read"
    seen = [c["id"] for c in page["items"]]
    while page["nextCursor"] is not None:
        page = (await env.get(account, "/conversations", limit=2, cursor=page["nextCursor"])).json()
        seen += [c["id"] for c in page["items"]]
    assert seen == newest_first
    everything = (await env.get(account, "/conversations")).json()
    assert [c["id"] for c in everything["items"]] == newest_first
    assert everything["nextCursor"] is None


async def test_conversations_are_filtered(env: PortalEnv) -> None:
    account = new_id()
    refused = await record_thread(env.uow, account, reason=FdrReason.REFUSED, created_at=T0)
    open_oda = await record_thread(
        env.uow,
        account,
        reason=FdrReason.ODA,
        state=ConversationState.OPEN,
        created_at=T0 + timedelta(hours=2),
    )
    later = await record_thread(env.uow, account, created_at=T0 + timedelta(days=2))

    async def ids(**params: Any) -> list[int]:
        response = await env.get(account, "/conversations", **params)
        assert response.status_code == 200, response.text
        return [c["id"] for c in response.json()["items"]]

    assert await ids(reason="refused") == [refused.conversation_id]
    assert await ids(status="open") == [open_oda.conversation_id]
    assert await ids(shipmentId=later.shipment_id) == [later.conversation_id]
    assert await ids(**{"from": _iso(T0 + timedelta(hours=1))}) == [
        later.conversation_id,
        open_oda.conversation_id,
    ]
    assert await ids(**{"from": "2026-11-20T10:00:00", "to": "2026-11-21T00:00:00+05:30"}) == [
        open_oda.conversation_id,
        refused.conversation_id,
    ]


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 201},
        {"reason": "teleport"},
        {"status": "sleeping"},
        {"from": "yesterday"},
        {"from": "2026-11-21T00:00:00Z", "to": "2026-11-20T00:00:00Z"},
        {"cursor": "not-ours"},
        {"cursor": "YmVmb3JlOi0x"},  # "before:-1"
        {"shipmentId": 0},
        {"shipment_id": 17148471},  # a misspelt filter must not list everything
    ],
)
async def test_a_bad_query_is_400(env: PortalEnv, params: dict[str, Any]) -> None:
    response = await env.get(new_id(), "/conversations", **params)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"


async def test_an_unknown_conversation_is_404(env: PortalEnv) -> None:
    response = await env.get(new_id(), f"/conversations/{10**15}")
    assert response.status_code == 404
    assert response.json()["detail"] == f"conversation {10**15} not found"


async def test_stats_count_the_funnel_per_reason(env: PortalEnv) -> None:
    account = new_id()
    day = T0 + timedelta(days=1)
    for _ in range(3):
        await record_thread(env.uow, account, reason=FdrReason.OTP_CANCELLATION, created_at=day)
    await record_thread(
        env.uow,
        account,
        reason=FdrReason.OTP_CANCELLATION,
        created_at=day,
        template_status=MessageStatus.DELIVERED,
        answered=False,
        action=None,
        clicked=False,
        state=ConversationState.OPEN,
    )
    await record_thread(
        env.uow,
        account,
        reason=FdrReason.OTP_CANCELLATION,
        created_at=day,
        template_status=MessageStatus.FAILED,
        accepted=False,
        error_code=131026,
        answered=False,
        action=None,
        clicked=False,
        state=ConversationState.FAILED,
    )
    await record_thread(
        env.uow,
        account,
        reason=FdrReason.REFUSED,
        created_at=day,
        action=NdrActionState.FAILED,
        state=ConversationState.AWAITING_PHONE,
    )
    for why in ("whatsapp_disabled", "whatsapp_disabled", "unknown_reason"):
        await record_skip(env.uow, account, why=why, at=day)
    await record_skip(env.uow, account, why="bad_phone", reason="otp_cancellation", at=day)
    await record_thread(env.uow, account, created_at=T0 - timedelta(days=5))  # before

    response = await env.get(
        account, "/stats", **{"from": _iso(T0), "to": _iso(T0 + timedelta(days=2))}
    )

    assert response.status_code == 200
    body = response.json()
    assert body["from"] == _iso(T0)
    assert body["to"] == _iso(T0 + timedelta(days=2))
    by_reason = {r["reason"]: r for r in body["reasons"]}
    assert list(by_reason) == [*(r.value for r in FdrReason.known()), "unknown"]
    assert by_reason["otp_cancellation"] == {
        "reason": "otp_cancellation",
        "fdrEvents": 6,
        "skipped": 1,
        "skippedBy": [{"why": "bad_phone", "count": 1}],
        "held": 0,
        "sent": 4,
        "delivered": 4,
        "read": 3,
        "answered": 3,
        "actionTaken": 3,
        "resolved": 3,
        "reminded": 0,
        "automaticActions": 0,
        "failed": 1,
        "failedBy": [{"errorCode": 131026, "count": 1}],
    }
    refused = by_reason["refused"]
    assert (refused["sent"], refused["answered"], refused["actionTaken"], refused["resolved"]) == (
        1,
        1,
        0,
        0,
    )
    assert by_reason["unknown"]["skippedBy"] == [
        {"why": "unknown_reason", "count": 1},
        {"why": "whatsapp_disabled", "count": 2},
    ]
    total = body["total"]
    assert total["reason"] == "all"
    assert (total["fdrEvents"], total["skipped"], total["sent"], total["failed"]) == (10, 4, 5, 1)


async def test_stats_default_to_the_last_30_days(env: PortalEnv) -> None:
    body = (await env.get(new_id(), "/stats")).json()
    assert body["total"]["fdrEvents"] == 0
    period = datetime.fromisoformat(body["to"]) - datetime.fromisoformat(body["from"])
    assert abs(period - timedelta(days=30)) < timedelta(seconds=1)
    assert body["reasons"][0]["reason"] == "customer_unreachable"


@pytest.mark.parametrize(
    "params",
    [
        {"from": "2026-11-21T00:00:00Z", "to": "2026-11-20T00:00:00Z"},
        {"to": "soon"},
    ],
)
async def test_stats_with_a_bad_period_are_400(env: PortalEnv, params: dict[str, Any]) -> None:
    response = await env.get(new_id(), "/stats", **params)
    assert response.status_code == 400


async def test_extreme_dates_are_clamped_not_errors(env: PortalEnv) -> None:
    for params, stats_status in (
        ({"from": "0001-01-01T00:00:00+05:00"}, 200),
        # Clamped to the year 1000: before the default start (30 days ago), so from > to.
        ({"to": "0001-01-05T00:00:00Z"}, 400),
        ({"from": "2026-01-01T00:00:00Z", "to": "9999-12-31T23:59:59-05:00"}, 200),
    ):
        stats = await env.get(new_id(), "/stats", **params)
        listed = await env.get(new_id(), "/conversations", **params)
        assert stats.status_code == stats_status, (params, stats.text)
        assert listed.status_code == 200, (params, listed.text)
