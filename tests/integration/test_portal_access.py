"""Who may call the portal API: every route wants a token naming the workspace, and no route
shows another workspace's things."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import pytest
import pytest_asyncio

from domain.reasons import FdrReason
from infrastructure.config import Config
from tests.conftest import new_id
from tests.support.app import http_client
from tests.support.portal import PortalEnv, api, portal_env, record_thread, token
from tests.support.stack import ACCESS_TOKEN, APP_SECRET, PHONE_NUMBER_ID, WABA_ID

TEMPLATE = {
    "name": "brand_refused",
    "language": "en",
    "body": "Hi {{1}}, your order was refused.",
    "variables": ["first_name"],
    "reason": "refused",
    "buttons": [{"id": "reattempt", "title": "Reattempt delivery"}],
}
SETTINGS: dict[str, object] = {
    "isWhatsappEnabled": False,
    "whatsappSenderConnectionId": None,
    "templates": {},
}

#: Every portal route, with a body where it takes one.
ROUTES: list[tuple[str, str, object]] = [
    ("GET", "/settings", None),
    ("PUT", "/settings", SETTINGS),
    ("GET", "/connections", None),
    ("GET", "/templates", None),
    ("POST", "/templates", TEMPLATE),
    ("GET", "/templates/1", None),
    ("PUT", "/templates/1", TEMPLATE),
    ("DELETE", "/templates/1", None),
    ("POST", "/templates/1/verify", None),
    ("GET", "/conversations", None),
    ("GET", "/conversations/1", None),
    ("GET", "/stats", None),
]
ROUTE_IDS = [f"{method} {path}" for method, path, _ in ROUTES]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def env(mysql_url: str) -> AsyncIterator[PortalEnv]:
    async with portal_env(mysql_url) as running:
        yield running


async def _call(
    env: PortalEnv, method: str, path: str, body: object, headers: dict[str, str]
) -> tuple[int, dict[str, object], str]:
    response = await env.client.request(method, api(379, path), json=body, headers=headers)
    return response.status_code, response.json(), response.headers.get("content-type", "")


@pytest.mark.parametrize(("method", "path", "body"), ROUTES, ids=ROUTE_IDS)
async def test_without_a_token_every_route_is_401(
    env: PortalEnv, method: str, path: str, body: object
) -> None:
    status, problem, content_type = await _call(env, method, path, body, {})
    assert status == 401
    assert content_type == "application/problem+json"
    assert problem["status"] == 401
    assert problem["title"] == "Unauthorized"
    assert str(problem["type"]).endswith("/unauthenticated")


@pytest.mark.parametrize(("method", "path", "body"), ROUTES, ids=ROUTE_IDS)
async def test_a_token_for_other_workspaces_is_403_on_every_route(
    env: PortalEnv, method: str, path: str, body: object
) -> None:
    headers = {"Authorization": f"Bearer {token(380, 381)}"}
    status, problem, content_type = await _call(env, method, path, body, headers)
    assert status == 403
    assert content_type == "application/problem+json"
    assert problem["detail"] == "the token does not allow workspace 379"


@pytest.mark.parametrize(
    "bad",
    [
        lambda: "Bearer " + token(379, expires_in=timedelta(minutes=-2)),
        lambda: "Bearer " + token(379, secret="someone-elses-secret-0123456789abcdef"),
        lambda: "Bearer not.a.jwt",
        lambda: "Basic " + token(379),
        lambda: token(379),
    ],
    ids=["expired", "wrong-secret", "garbage", "wrong-scheme", "no-scheme"],
)
async def test_a_bad_token_is_401_with_a_bearer_challenge(
    env: PortalEnv, bad: Callable[[], str]
) -> None:  # tokens made when the test runs, not when it is collected
    response = await env.client.get(api(379, "/settings"), headers={"Authorization": bad()})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["status"] == 401


async def test_an_operator_token_opens_every_workspace(env: PortalEnv) -> None:
    headers = {"Authorization": f"Bearer {token('*')}"}
    for account in (new_id(), new_id()):
        response = await env.client.get(api(account, "/settings"), headers=headers)
        assert response.status_code == 200


async def test_another_workspaces_template_is_not_found_not_forbidden(env: PortalEnv) -> None:
    owner, intruder = new_id(), new_id()
    created = await env.post(owner, "/templates", TEMPLATE)
    assert created.status_code == 201
    template_id = created.json()["id"]
    for method, path, body in [
        ("GET", f"/templates/{template_id}", None),
        ("PUT", f"/templates/{template_id}", TEMPLATE),
        ("DELETE", f"/templates/{template_id}", None),
        ("POST", f"/templates/{template_id}/verify", None),
    ]:
        response = await env.client.request(
            method,
            api(intruder, path),
            json=body,
            headers={"Authorization": f"Bearer {token(intruder)}"},
        )
        assert response.status_code == 404, (method, path)
        assert response.json()["detail"] == f"template {template_id} not found"
    listed = await env.get(intruder, "/templates")
    assert template_id not in [t["id"] for t in listed.json()]
    assert (await env.get(owner, f"/templates/{template_id}")).status_code == 200


async def test_another_workspaces_conversation_is_not_found(env: PortalEnv) -> None:
    owner, intruder = new_id(), new_id()
    thread = await record_thread(env.uow, owner, reason=FdrReason.REFUSED)
    response = await env.get(intruder, f"/conversations/{thread.conversation_id}")
    assert response.status_code == 404
    listed = await env.get(intruder, "/conversations", shipmentId=thread.shipment_id)
    assert listed.json() == {"items": [], "nextCursor": None}
    stats = await env.get(intruder, "/stats")
    assert stats.json()["total"]["fdrEvents"] == 0
    assert (await env.get(owner, f"/conversations/{thread.conversation_id}")).status_code == 200


async def test_another_workspaces_template_cannot_be_chosen(env: PortalEnv) -> None:
    owner, intruder = new_id(), new_id()
    created = await env.post(owner, "/templates", TEMPLATE)
    template_id = created.json()["id"]
    response = await env.put(
        intruder,
        "/settings",
        {**SETTINGS, "templates": {"refused": template_id}},
    )
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "templates.refused", "message": f"template {template_id} not found"}
    ]


async def test_without_any_authentication_configured_the_portal_is_closed(mysql_url: str) -> None:
    config = Config(
        database_url=mysql_url,
        meta_sandbox=False,
        meta_phone_number_id=PHONE_NUMBER_ID,
        meta_waba_id=WABA_ID,
        meta_access_token=ACCESS_TOKEN,
        meta_app_secret=APP_SECRET,
    )
    async with http_client(config) as client:
        response = await client.get(
            api(379, "/settings"), headers={"Authorization": f"Bearer {token('*')}"}
        )
        health = await client.get("/health/live")
    assert response.status_code == 503
    assert response.json()["detail"] == "portal authentication is not configured"
    assert health.status_code == 200


async def test_options_names_every_method_of_the_path(env: PortalEnv) -> None:
    headers = {"Authorization": f"Bearer {token(379)}"}
    for path, allowed in [
        ("/settings", "GET, OPTIONS, PUT"),
        ("/templates", "GET, OPTIONS, POST"),
        ("/templates/1", "DELETE, GET, OPTIONS, PUT"),
        ("/stats", "GET, OPTIONS"),
    ]:
        response = await env.client.options(api(379, path), headers=headers)
        assert response.status_code == 204
        assert response.headers["allow"] == allowed
