"""Who may see the console: the portal's token rules through a session cookie, a CSRF token on
every form that changes something, and no page of another workspace."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import pytest
import pytest_asyncio

from domain.reasons import FdrReason
from tests.conftest import new_id
from tests.support.factories import T0
from tests.support.portal import PortalEnv, portal_env, record_skip, record_thread, token

LOGIN = "/console/login"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def env(mysql_url: str) -> AsyncIterator[PortalEnv]:
    async with portal_env(mysql_url) as running:
        yield running


@pytest_asyncio.fixture(loop_scope="session")
async def fresh(env: PortalEnv) -> PortalEnv:
    env.client.cookies.clear()  # each test a new browser
    return env


async def _csrf(env: PortalEnv) -> str:
    page = await env.client.get(LOGIN)
    assert page.status_code == 200
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


async def _log_in(env: PortalEnv, jwt: str) -> str:
    csrf = await _csrf(env)
    response = await env.client.post(LOGIN, data={"csrf": csrf, "token": jwt})
    assert response.status_code in (302, 303), response.text
    return csrf


async def test_a_pasted_token_becomes_a_strict_http_only_session_cookie(fresh: PortalEnv) -> None:
    account = new_id()
    csrf = await _csrf(fresh)
    response = await fresh.client.post(LOGIN, data={"csrf": csrf, "token": token(account)})
    assert response.headers["location"] == f"/console/workspaces/{account}/conversations"
    cookie = next(c for c in response.headers.get_list("set-cookie") if "fdr_console=" in c)
    assert "HttpOnly" in cookie
    assert "samesite=strict" in cookie.lower()
    assert "Path=/console" in cookie
    page = await fresh.client.get(response.headers["location"])
    assert page.status_code == 200
    assert f"Conversations of workspace {account}" in page.text


async def test_without_a_session_every_page_leads_to_the_login(fresh: PortalEnv) -> None:
    for path in ("/console/workspaces", "/console/workspaces/5/conversations"):
        response = await fresh.client.get(path)
        assert response.status_code in (302, 303)
        assert response.headers["location"] == LOGIN


@pytest.mark.parametrize(
    "bad",
    [
        lambda: token(1, expires_in=timedelta(seconds=-60)),
        lambda: token(1, secret="x" * 40),
        lambda: "garbage",
        lambda: "",
    ],
    ids=["expired", "wrong-secret", "garbage", "empty"],
)
async def test_a_bad_token_is_refused_on_the_login_page(
    fresh: PortalEnv, bad: Callable[[], str]
) -> None:
    csrf = await _csrf(fresh)
    response = await fresh.client.post(LOGIN, data={"csrf": csrf, "token": bad()})
    assert response.status_code == 401
    assert 'role="alert"' in response.text
    assert "fdr_console=" not in response.headers.get("set-cookie", "")


async def test_an_expired_session_leads_back_to_the_login(fresh: PortalEnv) -> None:
    fresh.client.cookies.set("fdr_console", token(1, expires_in=timedelta(seconds=-60)))
    response = await fresh.client.get("/console/workspaces/1/conversations")
    assert response.headers["location"] == LOGIN


async def test_forms_without_the_csrf_token_are_refused(fresh: PortalEnv) -> None:
    await _csrf(fresh)  # the browser has its CSRF cookie, the forged form not the value
    login = await fresh.client.post(LOGIN, data={"token": token(1)})
    assert login.status_code == 403
    assert "fdr_console=" not in login.headers.get("set-cookie", "")
    csrf = await _log_in(fresh, token(1))
    forged = await fresh.client.post("/console/logout", data={"csrf": "forged"})
    assert forged.status_code == 403
    logout = await fresh.client.post("/console/logout", data={"csrf": csrf})
    assert logout.headers["location"] == LOGIN
    after = await fresh.client.get("/console/workspaces/1/conversations")
    assert after.headers["location"] == LOGIN


async def test_another_workspace_is_forbidden_and_its_conversation_not_found(
    fresh: PortalEnv,
) -> None:
    mine, theirs = new_id(), new_id()
    recorded = await record_thread(fresh.uow, theirs)
    await _log_in(fresh, token(mine))
    other = await fresh.client.get(f"/console/workspaces/{theirs}/conversations")
    assert other.status_code == 403
    assert "text/html" in other.headers["content-type"]
    page = await fresh.client.get(
        f"/console/workspaces/{mine}/conversations/{recorded.conversation_id}"
    )
    assert page.status_code == 404
    assert "Not found" in page.text
    assert "Aman" not in page.text


async def test_unreadable_filters_are_said_on_the_page(fresh: PortalEnv) -> None:
    account = new_id()
    await _log_in(fresh, token(account))
    response = await fresh.client.get(
        f"/console/workspaces/{account}/conversations",
        params={
            "reason": "nope",
            "state": "x",
            "from": "yesterday",
            "shipment": "-1",
            "cursor": "zzz",
        },
    )
    assert response.status_code == 400
    assert response.text.count('role="alert"') == 5


async def test_the_timeline_masks_the_shoppers_numbers(fresh: PortalEnv) -> None:
    account = new_id()
    recorded = await record_thread(fresh.uow, account)
    await _log_in(fresh, token(account))
    page = await fresh.client.get(
        f"/console/workspaces/{account}/conversations/{recorded.conversation_id}"
    )
    assert page.status_code == 200
    assert "917891971009" not in page.text
    assert "9876543210" not in page.text.replace(" ", "")
    assert "ESB-NDR-1" in page.text


async def test_the_funnel_draws_each_reason_and_says_why_events_were_skipped(
    fresh: PortalEnv,
) -> None:
    account = new_id()
    await record_thread(fresh.uow, account, reason=FdrReason.REFUSED)
    await record_skip(fresh.uow, account, why="whatsapp_disabled")
    await _log_in(fresh, token(account))
    day = T0.date().isoformat()
    page = await fresh.client.get(
        f"/console/workspaces/{account}/funnel", params={"from": day, "to": day}
    )
    assert page.status_code == 200
    assert page.text.count("<svg") == 3  # all reasons, refused, and the skip (unknown)
    assert 'aria-label="refused"' in page.text
    assert "Skipped: whatsapp disabled 1" in page.text
    wrong = await fresh.client.get(
        f"/console/workspaces/{account}/funnel", params={"from": day, "to": "2000-01-01"}
    )
    assert wrong.status_code == 400
    assert "from: must not be after to" in wrong.text
